"""A sync session's writer, in process on a fake socket: bursts of frames go out corked
(to leave together) and nothing is ever left held back."""

from __future__ import annotations

import asyncio
import json
import socket as sockets
from typing import AsyncIterator

import uvicorn
import uvloop
from websockets.asyncio.client import connect

from prefmem.backend import Backend
from prefmem.server import UVICORN_OPTIONS, Server, _AsgiTransport

from ..helpers.rawws import add_queries, connect_message
from .conftest import CORE


class _Socket:
    """What a session writes, and its cork switched on and off, in order."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.events: list[tuple[str, object]] = []
        self.changed = asyncio.Event()

    async def accept(self) -> bool:
        return True

    async def frames(self) -> AsyncIterator[str]:
        while (frame := await self.incoming.get()) is not None:
            yield frame

    async def send_bytes(self, data: bytes) -> None:
        self.events.append(("frame", json.loads(data)["type"]))
        self.changed.set()
        await asyncio.sleep(0)  # as a real socket's send may: more frames queue meanwhile

    def cork(self, on: bool) -> None:
        self.events.append(("cork", on))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.events.append(("close", code))

    async def wait_for(self, kind: str, count: int) -> None:
        while sum(1 for event in self.events if event == ("frame", kind)) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 10)


def _corked_stretches(events: list[tuple[str, object]]) -> list[list[str]]:
    """The frames sent between each cork and its uncork; fails on a cork left on."""
    stretches, current = [], None
    for kind, value in events:
        if kind == "cork":
            assert (current is None) == value, f"cork({value}) out of turn in {events}"
            if value:
                current = []
            else:
                stretches.append(current)
                current = None
        elif kind == "frame" and current is not None:
            current.append(value)
    assert current is None, f"frames left held back: {events}"
    return stretches


async def test_a_burst_of_replies_goes_out_corked_and_a_lone_frame_does_not(tmp_path):
    backend = Backend(functions=CORE / "functions", schema=CORE / "schema.py", db=str(tmp_path / "db.sqlite3"))
    server = Server(backend)
    await server.start()
    socket = _Socket()
    serving = asyncio.create_task(server.websocket(socket))  # type: ignore[arg-type]
    try:
        socket.incoming.put_nowait(json.dumps(connect_message()))
        socket.incoming.put_nowait(json.dumps(add_queries(0, [(0, "users:all", {"table": "users"})])))
        await socket.wait_for("Transition", 1)
        lone = list(socket.events)
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
        burst = list(socket.events)
    finally:
        socket.incoming.put_nowait(None)
        await serving
        await server.stop()
    assert lone == [("frame", "Transition")]  # the query's first result alone: nothing to gather
    stretches = _corked_stretches(burst)  # idle: nothing held back
    assert any(stretch.count("MutationResponse") >= 2 for stretch in stretches), burst
    _corked_stretches(socket.events)


def test_uvicorn_as_prefmem_runs_it_hands_a_sync_socket_its_tcp_socket_to_cork():
    """On uvloop, as uvicorn serves (its sockets are uvloop's, which fail in their own way)."""
    seen: dict[str, int] = {}  # filled by the app as it goes

    async def app(scope, receive, send):
        assert scope["type"] == "websocket"
        transport = _AsgiTransport(receive, send, scope["extensions"].get("prefmem.socket"))
        await transport.accept()
        sock = scope["extensions"]["prefmem.socket"]
        transport.cork(True)
        seen["on"] = sock.getsockopt(sockets.IPPROTO_TCP, sockets.TCP_CORK)
        transport.cork(False)
        seen["off"] = sock.getsockopt(sockets.IPPROTO_TCP, sockets.TCP_CORK)
        await transport.send_bytes(b'"done"')
        while (await receive())["type"] != "websocket.disconnect":
            pass
        for _ in range(1000):  # until uvicorn has let the connection go
            if sock.fileno() == -1:
                break
            await asyncio.sleep(0.001)
        seen["closed"] = sock.fileno()
        transport.cork(True)  # a writer still busy when its client left: no error
        seen["corked after the close"] = 1

    async def serve_one_client() -> None:
        listener = sockets.socket()
        listener.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, **{**UVICORN_OPTIONS, "lifespan": "off"}, log_level="warning"))
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        try:
            while not server.started:
                await asyncio.sleep(0.01)
            async with connect(f"ws://127.0.0.1:{listener.getsockname()[1]}/api/sync") as ws:
                assert await ws.recv() == '"done"'
        finally:
            server.should_exit = True
            await serving

    uvloop.run(serve_one_client())
    assert seen == {"on": 1, "off": 0, "closed": -1, "corked after the close": 1}
