"""The W5 ceilings on prefmem's server stack: ``python -m bench.sidebyside.echo_server --port N``.

A raw ASGI websocket endpoint in a Starlette app served by uvicorn with prefmem's own settings
(``prefmem.server.UVICORN_OPTIONS``). Plain, every text frame is sent straight back: no server
can answer a websocket message faster on this stack, so it is the ceiling for W5.

With ``--persist DB`` it is also the floor of any server that stores what it is sent: each
frame is inserted as one row into SQLite (WAL, ``--durability normal`` or ``full``), the frames
that arrived together are committed together (group commit), and each is answered once its
commit is done. No parsing, validation or function model: what the stack and SQLite alone
cost, which prefmem's W5 figures can be read against.

With ``--workers N`` it runs N processes on the port the way ``prefmem dev --workers N``
does (``prefmem.workers``): the ceiling of a server that uses N cores. Persisting processes then take turns at
SQLite's write lock through an ``flock`` on ``DB.commit-lock``, as prefmem's workers do
(SQLite's own busy handler would sleep between their commits).
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import sqlite3
from typing import Any

REPLY = '{"type":"MutationResponse","success":true}'
CONFIG_ENV = "ECHO_SERVER_CONFIG"  # how the parent configures its worker processes


class _GroupCommit:
    """Inserts the frames of all connections in batches, one COMMIT each, then answers them."""

    def __init__(self, db_path: str, durability: str, shared: bool) -> None:
        self.db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        self.db.execute("CREATE TABLE IF NOT EXISTS frames (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        self.lock = os.open(f"{db_path}.commit-lock", os.O_CREAT | os.O_RDWR, 0o600) if shared else None
        self.queue: list[tuple[str, Any]] = []
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.commits = 0
        self.stored = 0

    def add(self, text: str, send: Any) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())
        self.queue.append((text, send))
        self.wake.set()

    async def _run(self) -> None:
        while True:
            if not self.queue:
                self.wake.clear()
                await self.wake.wait()
            await asyncio.sleep(0)  # frames already read join this batch
            batch, self.queue = self.queue, []
            if self.lock is not None:
                try:
                    fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    await asyncio.to_thread(fcntl.flock, self.lock, fcntl.LOCK_EX)
            try:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("INSERT INTO frames (body) VALUES (?)", [(text,) for text, _ in batch])
                self.db.execute("COMMIT")
            finally:
                if self.lock is not None:
                    fcntl.flock(self.lock, fcntl.LOCK_UN)
            self.commits += 1
            self.stored += len(batch)
            for _, send in batch:
                try:
                    await send({"type": "websocket.send", "text": REPLY})
                except OSError:  # that client is gone
                    pass


def create_app(path: str = "/ws", persist: str | None = None, durability: str = "normal",  # noqa: ANN201
               shared: bool = False):
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route, WebSocketRoute

    store = _GroupCommit(persist, durability, shared) if persist is not None else None

    class Echo:
        """Raw ASGI, as prefmem's sync endpoint (prefmem.server._SyncEndpoint) is served."""

        async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
            if (await receive())["type"] != "websocket.connect":
                return
            await send({"type": "websocket.accept"})
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    continue
                if store is not None:
                    store.add(text, send)
                    continue
                try:
                    await send({"type": "websocket.send", "text": text})
                except OSError:
                    return

    async def version(request):  # noqa: ANN001, ANN202
        return PlainTextResponse("echo" if store is None else "echo+sqlite")

    async def stats(request):  # noqa: ANN001, ANN202
        """Counted like prefmem's: W5 reports the batch size the group commit reached."""
        return JSONResponse({"pid": os.getpid(), "commits": store.commits if store is not None else 0,
                             "mutations": store.stored if store is not None else 0})

    return Starlette(routes=[WebSocketRoute(path, Echo()), Route("/version", version), Route("/stats", stats)])


def worker_app():  # noqa: ANN201
    """The app of one worker process (``--workers N``), configured by its parent."""
    config = json.loads(os.environ[CONFIG_ENV])
    return create_app(persist=config["persist"], durability=config["durability"], shared=True)


def main() -> None:
    import uvicorn

    from prefmem.server import UVICORN_OPTIONS
    from prefmem.workers import run_workers

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--persist", metavar="DB", default=None, help="store every frame in this SQLite file")
    parser.add_argument("--durability", choices=["normal", "full"], default="normal")
    parser.add_argument("--workers", type=int, default=1, help="server processes on the port (default 1)")
    args = parser.parse_args()
    options = dict(UVICORN_OPTIONS, lifespan="off")
    if args.workers <= 1:
        uvicorn.run(create_app(persist=args.persist, durability=args.durability), host="127.0.0.1",
                    port=args.port, log_level="warning", **options)
        return
    os.environ[CONFIG_ENV] = json.dumps({"persist": args.persist, "durability": args.durability})
    run_workers("bench.sidebyside.echo_server:worker_app", host="127.0.0.1", port=args.port, workers=args.workers,
                log_level="warning", options=options)


if __name__ == "__main__":
    main()
