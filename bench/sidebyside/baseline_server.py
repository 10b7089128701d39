"""The two in-house baselines: a tiny reactive server WITHOUT precise invalidation.

``python -m bench.sidebyside.baseline_server --mode rerun|poll --port N --db PATH``

Same server stack as prefmem (Starlette + uvicorn with ``prefmem.server.UVICORN_OPTIONS``),
same data shapes (profiles, signals, shared, budgets, products, items in one SQLite file,
WAL + synchronous=NORMAL), a minimal JSON protocol of its own (text frames):

    client -> server   {"op": "sub", "id": Q, "q": "profile"|"shared"|"budget"|"products", "user": U}
                       {"op": "unsub", "id": Q}
                       {"op": "signal"|"bump"|"raise"|"insert"|"seed", "rid": R, ...}
    server -> client   {"t": "r", "id": Q, "v": VALUE}     a subscription's result
                       {"t": "ok", "rid": R}               a write committed

Modes (what a server does when it does not know which queries a write affects):

- ``rerun``: after every commit, rerun *every* subscription of every connection and push
  the results that differ from what that subscription was last sent. Commits that land
  while a round of reruns is running coalesce into the next round.
- ``poll``: rerun every subscription once a second and push every result (what a client
  polling each query once a second receives), changed or not.

Each subscription is its own execution and its own message: there is no sharing of equal
queries and no multi-query snapshot (W3 shows what that costs). ``GET /stats`` returns the
execution and commit counters.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import time
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (user TEXT PRIMARY KEY, seq REAL NOT NULL);
CREATE TABLE IF NOT EXISTS signals (id INTEGER PRIMARY KEY, user TEXT NOT NULL, seq REAL NOT NULL);
CREATE INDEX IF NOT EXISTS signals_user ON signals (user);
CREATE TABLE IF NOT EXISTS shared (name TEXT PRIMARY KEY, seq REAL NOT NULL);
CREATE TABLE IF NOT EXISTS budgets (user TEXT PRIMARY KEY, version REAL NOT NULL, amount REAL NOT NULL);
CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, user TEXT NOT NULL, version REAL NOT NULL,
                                     price REAL NOT NULL);
CREATE INDEX IF NOT EXISTS products_user_price ON products (user, price);
CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, seq REAL NOT NULL, payload TEXT NOT NULL);
INSERT OR IGNORE INTO shared (name, seq) VALUES ('shared', 0);
"""

POLL_INTERVAL_S = 1.0
YIELD_EVERY = 200  # reruns between yields to the event loop, so writes keep flowing


class Sub:
    __slots__ = ("conn", "qid", "q", "user", "last")

    def __init__(self, conn: "Conn", qid: int, q: str, user: str | None) -> None:
        self.conn, self.qid, self.q, self.user, self.last = conn, qid, q, user, None


class Conn:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.subs: dict[int, Sub] = {}
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue()

    def send(self, obj: dict) -> None:
        self.outbox.put_nowait(json.dumps(obj, separators=(",", ":")))


class Baseline:
    def __init__(self, mode: str, db: str) -> None:
        self.mode = mode
        self.db = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.conns: set[Conn] = set()
        self.executions = 0
        self.commits = 0
        self.pushes = 0
        self._dirty = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._rerun_loop() if self.mode == "rerun" else self._poll_loop())

    # -- queries ----------------------------------------------------------------------

    def execute(self, sub: Sub) -> Any:
        self.executions += 1
        ex = self.db.execute
        if sub.q == "profile":
            row = ex("SELECT user, seq FROM profiles WHERE user = ?", (sub.user,)).fetchone()
            return None if row is None else {"user": row[0], "seq": row[1]}
        if sub.q == "shared":
            row = ex("SELECT seq FROM shared WHERE name = 'shared'").fetchone()
            return None if row is None else {"seq": row[0]}
        if sub.q == "budget":
            row = ex("SELECT version, amount FROM budgets WHERE user = ?", (sub.user,)).fetchone()
            return None if row is None else {"version": row[0], "amount": row[1]}
        if sub.q == "products":
            row = ex("SELECT amount FROM budgets WHERE user = ?", (sub.user,)).fetchone()
            limit = row[0] if row is not None else 0
            rows = ex("SELECT version, price FROM products WHERE user = ? AND price <= ? ORDER BY price",
                      (sub.user, limit)).fetchall()
            return [{"version": v, "price": p} for v, p in rows]
        raise ValueError(f"unknown query {sub.q!r}")

    def push(self, sub: Sub, value: Any) -> None:
        sub.last = value
        self.pushes += 1
        sub.conn.send({"t": "r", "id": sub.qid, "v": value})

    # -- writes -----------------------------------------------------------------------

    def write(self, msg: dict) -> None:
        ex = self.db.execute
        op = msg["op"]
        ex("BEGIN")
        try:
            if op == "signal":
                ex("INSERT INTO signals (user, seq) VALUES (?, ?)", (msg["user"], msg["seq"]))
                ex("UPDATE profiles SET seq = ? WHERE user = ?", (msg["seq"], msg["user"]))
            elif op == "bump":
                ex("UPDATE shared SET seq = ? WHERE name = 'shared'", (msg["seq"],))
            elif op == "raise":
                amount = 10 * msg["version"]
                ex("UPDATE budgets SET version = ?, amount = ? WHERE user = ?", (msg["version"], amount, msg["user"]))
                ex("INSERT INTO products (user, version, price) VALUES (?, ?, ?)", (msg["user"], msg["version"], amount))
            elif op == "insert":
                ex("INSERT INTO items (seq, payload) VALUES (?, ?)", (msg["seq"], msg["payload"]))
            elif op == "seed":
                ex("INSERT OR IGNORE INTO profiles (user, seq) SELECT value, 0 FROM json_each(?)",
                   (json.dumps(msg["users"]),))
                ex("INSERT OR IGNORE INTO budgets (user, version, amount) SELECT value, 0, 0 FROM json_each(?)",
                   (json.dumps(msg["users"]),))
            else:
                raise ValueError(f"unknown op {op!r}")
            ex("COMMIT")
        except BaseException:
            ex("ROLLBACK")
            raise
        self.commits += 1
        self._dirty.set()

    # -- the two modes ----------------------------------------------------------------

    async def _rerun_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            n = 0
            for conn in list(self.conns):
                for sub in list(conn.subs.values()):
                    value = self.execute(sub)
                    if value != sub.last:
                        self.push(sub, value)
                    n += 1
                    if n % YIELD_EVERY == 0:
                        await asyncio.sleep(0)

    async def _poll_loop(self) -> None:
        next_at = time.monotonic()
        while True:
            next_at += POLL_INTERVAL_S
            n = 0
            for conn in list(self.conns):
                for sub in list(conn.subs.values()):
                    self.push(sub, self.execute(sub))
                    n += 1
                    if n % YIELD_EVERY == 0:
                        await asyncio.sleep(0)
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    # -- a connection -----------------------------------------------------------------

    async def serve(self, ws: Any) -> None:
        from starlette.websockets import WebSocketDisconnect

        await ws.accept()
        conn = Conn(ws)
        self.conns.add(conn)

        async def writer() -> None:
            while True:
                text = await conn.outbox.get()
                if text is None:
                    return
                await ws.send_text(text)

        writer_task = asyncio.create_task(writer())
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    continue
                msg = json.loads(text)
                op = msg.get("op")
                if op == "sub":
                    sub = Sub(conn, msg["id"], msg["q"], msg.get("user"))
                    conn.subs[sub.qid] = sub
                    self.push(sub, self.execute(sub))  # the initial result
                elif op == "unsub":
                    conn.subs.pop(msg["id"], None)
                else:
                    self.write(msg)
                    conn.send({"t": "ok", "rid": msg.get("rid")})
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.conns.discard(conn)
            conn.outbox.put_nowait(None)
            writer_task.cancel()


def create_app(mode: str, db: str):  # noqa: ANN201 — a Starlette app
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route, WebSocketRoute

    state = Baseline(mode, db)

    @asynccontextmanager
    async def lifespan(app):  # noqa: ANN001, ANN202
        state.start()
        yield

    async def stats(request):  # noqa: ANN001, ANN202
        return JSONResponse({"executions": state.executions, "commits": state.commits, "pushes": state.pushes,
                             "connections": len(state.conns)})

    async def version(request):  # noqa: ANN001, ANN202
        return PlainTextResponse(f"baseline-{mode}")

    return Starlette(routes=[WebSocketRoute("/ws", state.serve), Route("/stats", stats), Route("/version", version)],
                     lifespan=lifespan)


def main() -> None:
    import uvicorn

    from prefmem.server import UVICORN_OPTIONS

    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["rerun", "poll"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(args.mode, args.db), host="127.0.0.1", port=args.port, log_level="warning",
                **UVICORN_OPTIONS)


if __name__ == "__main__":
    main()
