"""A sync session's writer: a burst of frames leaves in one send (in process, on a fake
socket), and uvicorn, run as prefmem runs it, writes such a send in one write."""

from __future__ import annotations

import asyncio
import json
import socket as sockets
from typing import Any, AsyncIterator

import uvicorn
import uvloop
from websockets.asyncio.client import connect

from prefmem.backend import Backend
from prefmem.server import UVICORN_OPTIONS, Server, _AsgiTransport

from ..helpers.rawws import add_queries, connect_message
from .conftest import CORE


class _Socket:
    """Each send a session makes, as the list of its frames' types, in order."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.sends: list[list[str]] = []
        self.closed: int | None = None
        self.changed = asyncio.Event()

    async def accept(self) -> bool:
        return True

    async def frames(self) -> AsyncIterator[str]:
        while (frame := await self.incoming.get()) is not None:
            yield frame

    async def send(self, frames: list[bytes]) -> None:
        self.sends.append([json.loads(data)["type"] for data in frames])
        self.changed.set()
        await asyncio.sleep(0)  # as a real socket's send may: more frames queue meanwhile

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = code

    async def wait_for(self, kind: str, count: int) -> None:
        while sum(send.count(kind) for send in self.sends) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 10)


async def test_a_burst_of_replies_leaves_in_one_send_and_nothing_stays_queued(tmp_path):
    backend = Backend(functions=CORE / "functions", schema=CORE / "schema.py", db=str(tmp_path / "db.sqlite3"))
    server = Server(backend)
    await server.start()
    socket = _Socket()
    serving = asyncio.create_task(server.websocket(socket))  # type: ignore[arg-type]
    try:
        socket.incoming.put_nowait(json.dumps(connect_message()))
        socket.incoming.put_nowait(json.dumps(add_queries(0, [(0, "users:all", {"table": "users"})])))
        await socket.wait_for("Transition", 1)
        lone = list(socket.sends)
        for request_id in range(8):  # frames read in one go: one batch, one burst of replies
            socket.incoming.put_nowait(json.dumps({"type": "Mutation", "requestId": request_id,
                                                   "udfPath": "users:add", "args": [{"name": f"u{request_id}"}]}))
        await socket.wait_for("MutationResponse", 8)
        await socket.wait_for("Transition", 2)
        (session,) = server.sessions
        for _ in range(1000):  # until the writer has sent everything and waits for more
            if not session._outbox and not session._outbox_ready.is_set():
                break
            await asyncio.sleep(0)
        assert not session._outbox and session._queued_bytes == 0
        burst = socket.sends[len(lone):]
    finally:
        socket.incoming.put_nowait(None)
        await serving
        await server.stop()
    assert lone == [["Transition"]]  # the query's first result alone: nothing to gather
    assert any(send.count("MutationResponse") >= 2 for send in burst), burst
    responses = [kind for send in burst for kind in send if kind == "MutationResponse"]
    assert len(responses) == 8 and len(burst) < 8, burst
    assert socket.closed == 1000


class _CountingTransport:
    """uvloop's transport, with its writes counted (uvloop's own is a C type)."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def test_uvicorn_as_prefmem_runs_it_sends_a_burst_in_one_write_and_waits_while_paused():
    """On uvloop, as uvicorn serves: frames arrive whole and in order, a paused transport
    holds a send back until it resumes, and a send after the client left is no error."""
    seen: dict[str, Any] = {}  # filled by the app as it goes

    async def app(scope, receive, send):
        assert scope["type"] == "websocket"
        send_texts = scope["extensions"]["prefmem.send_texts"]
        transport = _AsgiTransport(receive, send, send_texts)
        await transport.accept()
        protocol = send_texts.__self__
        counting = protocol.transport = _CountingTransport(protocol.transport)
        await transport.send([json.dumps({"n": n, "text": "é" * n}).encode() for n in range(5)])
        seen["writes"] = counting.writes
        protocol.pause_writing()  # as uvloop does when the socket's buffer is full
        held = asyncio.create_task(transport.send([b'"after the pause"']))
        for _ in range(20):
            await asyncio.sleep(0)
        seen["sent while paused"] = held.done() or counting.writes != 1
        protocol.resume_writing()
        await held
        while (await receive())["type"] != "websocket.disconnect":
            pass
        writes = counting.writes
        await transport.send([b'"too late"'])  # a writer still busy when its client left: no error
        seen["written after the close"] = counting.writes - writes

    async def serve_one_client() -> list[Any]:
        listener = sockets.socket()
        listener.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, **{**UVICORN_OPTIONS, "lifespan": "off"}, log_level="warning"))
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        try:
            while not server.started:
                await asyncio.sleep(0.01)
            async with connect(f"ws://127.0.0.1:{listener.getsockname()[1]}/api/sync") as ws:
                return [json.loads(await ws.recv()) for _ in range(6)]
        finally:
            server.should_exit = True
            await serving

    received = uvloop.run(serve_one_client())
    assert received == [{"n": n, "text": "é" * n} for n in range(5)] + ["after the pause"]
    assert seen == {"writes": 1, "sent while paused": False, "written after the close": 0}


async def test_without_the_extension_frames_go_one_by_one_as_asgi_text_messages():
    """Another ASGI server: the same frames, each its own ``websocket.send`` (text, which the
    official clients read)."""
    messages: list[dict] = []

    async def send(message: dict) -> None:
        messages.append(message)

    transport = _AsgiTransport(None, send)
    await transport.send([b'{"a":1}', '{"b":"é"}'.encode()])
    assert messages == [{"type": "websocket.send", "text": '{"a":1}'},
                        {"type": "websocket.send", "text": '{"b":"é"}'}]
