"""Raw protocol clients for the load generator: one class per system, one common shape.

Every connection delivers what it receives to a ``sink(conn, updates, t)`` callback, once
per message, where ``updates`` is a list of ``(kind, user, value, initial)``:

- ``kind`` is ``profile`` (value: the profile's ``seq``), ``shared`` (the shared ``seq``),
  ``budget`` (the budget's ``version``) or ``products`` (the highest ``version`` among the
  products the client holds, 0 if none);
- ``initial`` is true for the first value of a subscription (not a push).

Writers expose ``write(op, **fields) -> Future`` (resolved when the server acknowledges the
commit), pipelined: many writes can be in flight on one connection. Operations: ``signal``
(user, seq), ``bump`` (seq), ``raise`` (user, version), ``seed`` (users).
W5's inserts do not go through these clients: see ``pipeline``.

- prefmem: Convex's sync protocol over a websocket (``prefmem.sync.messages`` shapes),
  ``Connect`` then one ``ModifyQuerySet`` per query, as the official clients do. Its
  websockets (and the baseline's) are ``rawws.RawWebSocket``: a callback per message, no
  task or queue, so one load-generator core can follow thousands of subscribers.
- baseline: the tiny server's own JSON protocol (see ``baseline_server``).
- pocketbase: realtime over SSE (``GET /api/realtime``, then ``POST /api/realtime`` with
  the topics), writes over the REST API on keep-alive HTTP/1.1 connections (pipelined);
  a signal is one ``POST /api/batch`` (one transaction: insert the signal, patch the profile).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections import deque
from typing import Any, Callable

import msgspec

from bench.sidebyside.rawws import RawWebSocket

_decode = msgspec.json.decode
_encode = msgspec.json.encode
now = time.perf_counter

Sink = Callable[[Any, list, float], None]

CONNECT_TIMEOUT_S = 30.0


def _norm(kind: str, value: Any) -> float:
    if kind == "profile" or kind == "shared":
        return float(value["seq"]) if value else -1.0
    if kind == "budget":
        return float(value["version"]) if value else -1.0
    if kind == "products":
        return max((float(p["version"]) for p in value), default=0.0)
    raise ValueError(kind)


# ---------------------------------------------------------------------------- prefmem

PREFMEM_PATHS = {"profile": "bench:profile", "shared": "bench:shared", "budget": "bench:budget",
                 "products": "bench:products"}
PREFMEM_WRITES = {"signal": "bench:signal", "bump": "bench:bump_shared", "raise": "bench:raise_budget",
                  "seed": "bench:seed",
                  "seed_shared": "bench:seed_shared", "seed_counters": "bench:seed_counters"}


class PrefmemConn:
    def __init__(self, url: str, sink: Sink | None) -> None:
        self.url, self.sink = url, sink
        self.ws: RawWebSocket | None = None
        self.query_set = 0
        self.queries: dict[int, tuple[str, str | None]] = {}
        self.seen: set[int] = set()
        self.pending: dict[int, asyncio.Future] = {}
        self.request_ids = itertools.count()
        self.messages = 0

    async def open(self) -> "PrefmemConn":
        self.ws = await RawWebSocket.connect(self.url, self._on_message, self._on_close)
        self.ws.send(json.dumps({"type": "Connect", "sessionId": str(uuid.uuid4()), "connectionCount": 0,
                                 "lastCloseReason": "InitialConnect", "clientTs": 0}))
        return self

    async def subscribe(self, subs: list[tuple[str, str | None]], initial: list[float] | None = None) -> None:
        for kind, user in subs:
            qid = len(self.queries)
            self.queries[qid] = (kind, user)
            args = {"user": user} if user is not None else {}
            msg = {"type": "ModifyQuerySet", "baseVersion": self.query_set, "newVersion": self.query_set + 1,
                   "modifications": [{"type": "Add", "queryId": qid, "udfPath": PREFMEM_PATHS[kind],
                                      "args": [args]}]}
            self.query_set += 1
            self._send(_encode(msg))

    def write(self, op: str, **fields: Any) -> asyncio.Future:
        rid = next(self.request_ids)
        fut = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        self._send(_encode({"type": "Mutation", "requestId": rid, "udfPath": PREFMEM_WRITES[op], "args": [fields]}))
        return fut

    def _send(self, data: bytes) -> None:
        """Send, or fail every pending write if the socket is gone (as a closed connection would)."""
        try:
            self.ws.send(data)  # type: ignore[union-attr]
        except ConnectionError:
            self._on_close()

    def _on_message(self, raw: bytes, t: float) -> None:
        self.messages += 1
        msg = _decode(raw)
        kind = msg.get("type")
        if kind == "Transition":
            updates = []
            for mod in msg["modifications"]:
                if mod["type"] != "QueryUpdated":
                    continue
                qid = mod["queryId"]
                k, user = self.queries[qid]
                first = qid not in self.seen
                self.seen.add(qid)
                updates.append((k, user, _norm(k, mod["value"]), first))
            if updates and self.sink is not None:
                self.sink(self, updates, t)
        elif kind == "MutationResponse":
            fut = self.pending.pop(msg["requestId"], None)
            if fut is not None and not fut.done():
                if msg["success"]:
                    fut.set_result(t)
                else:
                    fut.set_exception(RuntimeError(msg["result"]))

    def _on_close(self) -> None:
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("closed"))
        self.pending.clear()

    async def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
            try:
                await asyncio.wait_for(asyncio.shield(self.ws.closed), 2)
            except asyncio.TimeoutError:
                pass


# ---------------------------------------------------------------------------- baseline

class BaselineConn(PrefmemConn):
    async def open(self) -> "BaselineConn":
        self.ws = await RawWebSocket.connect(self.url, self._on_message, self._on_close)
        return self

    async def subscribe(self, subs: list[tuple[str, str | None]], initial: list[float] | None = None) -> None:
        for kind, user in subs:
            qid = len(self.queries)
            self.queries[qid] = (kind, user)
            self._send(_encode({"op": "sub", "id": qid, "q": kind, "user": user}))

    def write(self, op: str, **fields: Any) -> asyncio.Future:
        rid = next(self.request_ids)
        fut = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        self._send(_encode({"op": op, "rid": rid, **fields}))
        return fut

    def _on_message(self, raw: bytes, t: float) -> None:
        self.messages += 1
        msg = _decode(raw)
        if msg["t"] == "r":
            qid = msg["id"]
            k, user = self.queries[qid]
            first = qid not in self.seen
            self.seen.add(qid)
            if self.sink is not None:
                self.sink(self, [(k, user, _norm(k, msg["v"]), first)], t)
        else:
            fut = self.pending.pop(msg["rid"], None)
            if fut is not None and not fut.done():
                fut.set_result(t)


# ---------------------------------------------------------------------------- pocketbase

def pb_profile_id(user: str) -> str:
    return "pr" + user[1:].rjust(13, "0")


def pb_budget_id(user: str) -> str:
    return "bu" + user[1:].rjust(13, "0")


PB_SHARED_ID = "sh0000000000001"


class _HttpResponseError(RuntimeError):
    pass


class PBHttp:
    """One keep-alive HTTP/1.1 connection; requests are pipelined, answered in order."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.pending: deque[asyncio.Future] = deque()
        self.task: asyncio.Task | None = None

    async def open(self) -> "PBHttp":
        self.reader, self.writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port),
                                                          CONNECT_TIMEOUT_S)
        self.task = asyncio.create_task(self._read())
        return self

    @property
    def closed(self) -> bool:
        return self.task is None or self.task.done()

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> asyncio.Future:
        if self.closed:
            fut = asyncio.get_running_loop().create_future()
            fut.set_exception(ConnectionError("the connection is closed"))
            return fut
        data = b"" if body is None else _encode(body)
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" \
               f"Content-Length: {len(data)}\r\n"
        if token:
            head += f"Authorization: {token}\r\n"
        fut = asyncio.get_running_loop().create_future()
        self.pending.append(fut)
        assert self.writer is not None
        self.writer.write(head.encode() + b"\r\n" + data)
        return fut

    async def _read(self) -> None:
        r = self.reader
        assert r is not None
        try:
            while True:
                status_line = await r.readline()
                if not status_line:
                    break
                status = int(status_line.split()[1])
                length, chunked = 0, False
                while True:
                    line = await r.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value)
                    elif name == "transfer-encoding" and "chunked" in value:
                        chunked = True
                if chunked:
                    body = b""
                    while True:
                        size = int((await r.readline()).strip(), 16)
                        if size == 0:
                            await r.readline()
                            break
                        body += await r.readexactly(size)
                        await r.readline()
                else:
                    body = await r.readexactly(length) if length else b""
                t = now()
                fut = self.pending.popleft()
                if fut.done():
                    continue
                if status >= 400:
                    fut.set_exception(_HttpResponseError(f"HTTP {status}: {body[:300]!r}"))
                else:
                    fut.set_result((t, body))
        except Exception:  # noqa: BLE001
            pass
        finally:
            for fut in self.pending:
                if not fut.done():
                    fut.set_exception(ConnectionError("closed"))

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.task is not None:
            self.task.cancel()


class PBWriter(PBHttp):
    def write(self, op: str, **f: Any) -> asyncio.Future:
        if op == "signal":
            body = {"requests": [
                {"method": "POST", "url": "/api/collections/signals/records", "body": {"user": f["user"], "seq": f["seq"]}},
                {"method": "PATCH", "url": f"/api/collections/profiles/records/{pb_profile_id(f['user'])}",
                 "body": {"seq": f["seq"]}}]}
            return self.request("POST", "/api/batch", body)
        if op == "bump":
            return self.request("PATCH", f"/api/collections/shared/records/{PB_SHARED_ID}", {"seq": f["seq"]})
        if op == "raise":
            amount = 10 * f["version"]
            body = {"requests": [
                {"method": "PATCH", "url": f"/api/collections/budgets/records/{pb_budget_id(f['user'])}",
                 "body": {"version": f["version"], "amount": amount}},
                {"method": "POST", "url": "/api/collections/products/records",
                 "body": {"user": f["user"], "version": f["version"], "price": amount}}]}
            return self.request("POST", "/api/batch", body)
        if op == "seed":
            requests = []
            for user in f["users"]:
                requests.append({"method": "POST", "url": "/api/collections/profiles/records",
                                 "body": {"id": pb_profile_id(user), "user": user, "seq": 0}})
                requests.append({"method": "POST", "url": "/api/collections/budgets/records",
                                 "body": {"id": pb_budget_id(user), "user": user, "version": 0, "amount": 0}})
            return self.request("POST", "/api/batch", {"requests": requests})
        raise ValueError(op)


def pb_topic(kind: str, user: str | None) -> str:
    if kind == "profile":
        return f"profiles/{pb_profile_id(user)}"
    if kind == "shared":
        return f"shared/{PB_SHARED_ID}"
    if kind == "budget":
        return f"budgets/{pb_budget_id(user)}"
    if kind == "products":
        return "products?options=" + json.dumps({"query": {"filter": f"user='{user}'"}}, separators=(",", ":"))
    raise ValueError(kind)


class PBConn:
    """One realtime (SSE) client. PocketBase sends record events, not query results: the
    client keeps the state (the product versions it has seen) and, like the JS SDK, never
    re-fetches; the initial state is what the load generator seeded (as if fetched)."""

    def __init__(self, port: int, control: Any, sink: Sink | None) -> None:
        self.port, self.control, self.sink = port, control, sink
        self.topics: dict[str, tuple[str, str | None]] = {}
        self.products_max: dict[str | None, float] = {}
        self.client_id: str | None = None
        self.reader_task: asyncio.Task | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.messages = 0
        self._connected = asyncio.Event()

    async def open(self) -> "PBConn":
        reader, self.writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port),
                                                     CONNECT_TIMEOUT_S)
        self.writer.write(b"GET /api/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        self.reader_task = asyncio.create_task(self._read(reader))
        await asyncio.wait_for(self._connected.wait(), CONNECT_TIMEOUT_S)
        return self

    async def subscribe(self, subs: list[tuple[str, str | None]], initial: list[float] | None = None) -> None:
        for kind, user in subs:
            self.topics[pb_topic(kind, user)] = (kind, user)
        await (await self.control()).request("POST", "/api/realtime",
                                     {"clientId": self.client_id, "subscriptions": list(self.topics)})
        if initial is not None and self.sink is not None:
            updates = []
            for (kind, user), value in zip(subs, initial):
                if kind == "products":
                    self.products_max[user] = value
                updates.append((kind, user, value, True))
            self.sink(self, updates, now())

    async def _read(self, r: asyncio.StreamReader) -> None:
        try:
            while True:  # the response head
                line = await r.readline()
                if line in (b"\r\n", b""):
                    break
            buf = b""
            while True:
                size_line = await r.readline()
                if not size_line:
                    break
                size = int(size_line.strip(), 16)
                if size == 0:
                    break
                buf += await r.readexactly(size)
                await r.readline()
                while b"\n\n" in buf:
                    event, buf = buf.split(b"\n\n", 1)
                    self._event(event, now())
        except Exception:  # noqa: BLE001
            pass

    def _event(self, event: bytes, t: float) -> None:
        name, data = "", b""
        for line in event.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].decode()
            elif line.startswith(b"data:"):
                data = line[5:]
        if name == "PB_CONNECT":
            self.client_id = _decode(data)["clientId"]
            self._connected.set()
            return
        target = self.topics.get(name)
        if target is None:
            return
        self.messages += 1
        kind, user = target
        record = _decode(data)["record"]
        if kind == "products":
            value = max(self.products_max.get(user, 0.0), float(record["version"]))
            self.products_max[user] = value
        elif kind == "budget":
            value = float(record["version"])
        else:
            value = float(record["seq"])
        if self.sink is not None:
            self.sink(self, [(kind, user, value, False)], t)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.reader_task is not None:
            self.reader_task.cancel()
