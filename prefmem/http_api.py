"""The HTTP function API that ``ConvexHttpClient`` (and curl) use.

``POST /api/query|mutation|action|function`` with ``{"path", "args": [ARGS],
"format": "convex_encoded_json"}``; the reply is ``{"status": "success", "value", "logLines"}``
or, for a function that failed, HTTP 560 with ``{"status": "error", "errorMessage",
"errorData"?, "logLines"}``: the clients treat 560 as "the function failed" and any other
non-2xx status as a transport error.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from prefmem.auth.identity import Identity
from prefmem.auth.authenticator import Authenticator, Principal
from prefmem.bodies import BodyTooLarge, read_body, too_large
from prefmem.bounds import env_name
from prefmem.errors import AuthFailed, PrefmemError
from prefmem.application import Application
from prefmem.database.write_log import catch_up
from prefmem.persistence.base import Snapshot
from prefmem.runner import Outcome
from prefmem.sync.messages import ProtocolError, decode_ts, encode_ts
from prefmem.values import from_json, to_json

FUNCTION_FAILED = 560

_KIND_BY_ROUTE = {"/api/query": "query", "/api/query_ts": "query", "/api/query_at_ts": "query",
                  "/api/mutation": "mutation", "/api/action": "action", "/api/function": None}


class PinnedSnapshots:
    """Consistent HTTP reads (``ConvexHttpClient.consistentQuery``), within bounds.

    ``/api/query_ts`` returns the latest commit timestamp and pins a snapshot there;
    ``/api/query_at_ts`` with that timestamp runs on the pinned snapshot while it lasts.
    After that (or on another worker process) the query runs at the latest snapshot, and
    the answer stands if the write log shows that no commit since the timestamp wrote into
    what the query read: its result is then the same at both. Otherwise the request fails,
    as Convex's does for a timestamp past its retention, and the client asks again.

    An open snapshot holds back the database's housekeeping (SQLite cannot restart a WAL
    a reader still uses), and anyone may call ``/api/query_ts``, so pins are bounded: each
    lives ``ttl_s`` at most (a timer ends it, not the next request); a client address holds
    ``per_client`` at most and the server ``total``, the oldest giving way; and the
    persistence may end any of them sooner (``SqlitePersistence.maintain``).
    """

    ttl_s = 5.0  # long enough for the queries of one consistent read
    per_client = 4
    total = 32

    def __init__(self, app: Application) -> None:
        self._app = app
        self._pins: dict[int, Snapshot] = {}  # ts -> snapshot, oldest first
        self._holders: dict[int, set[str]] = {}  # ts -> client addresses holding it
        self._by_client: dict[str, list[int]] = {}  # client -> the timestamps it pinned, oldest first
        self._timers: dict[tuple[str, int], asyncio.TimerHandle] = {}

    def pin(self, client: str) -> int:
        """Pin the latest snapshot for ``client``; its timestamp."""
        latest = self._app.write_log.head_ts
        if self._app.persistence.shared:
            self._app.catch_up()
            latest = self._app.write_log.head_ts
        snapshot = self._pins.get(latest)
        if snapshot is None or snapshot.revoked:
            snapshot = self._app.persistence.pinned_snapshot()
            if snapshot.ts != latest and snapshot.ts in self._pins:
                snapshot.close()
                snapshot = self._pins[snapshot.ts]
            self._pins[snapshot.ts] = snapshot
        ts = snapshot.ts
        mine = self._by_client.setdefault(client, [])
        if ts not in mine:
            mine.append(ts)
            self._holders.setdefault(ts, set()).add(client)
            while len(mine) > self.per_client:
                self._release(client, mine[0])
        timer = self._timers.pop((client, ts), None)
        if timer is not None:
            timer.cancel()
        self._timers[(client, ts)] = asyncio.get_running_loop().call_later(self.ttl_s, self._release, client, ts)
        while len(self._pins) > self.total:
            oldest = next(iter(self._pins))
            for holder in list(self._holders.get(oldest, ())):
                self._release(holder, oldest)
        return ts

    def _release(self, client: str, ts: int) -> None:
        timer = self._timers.pop((client, ts), None)
        if timer is not None:
            timer.cancel()
        mine = self._by_client.get(client)
        if mine is not None and ts in mine:
            mine.remove(ts)
            if not mine:
                del self._by_client[client]
        holders = self._holders.get(ts)
        if holders is not None:
            holders.discard(client)
            if not holders:
                del self._holders[ts]
                snapshot = self._pins.pop(ts, None)
                if snapshot is not None:
                    snapshot.close()

    def get(self, ts: int) -> Snapshot | None:
        snapshot = self._pins.get(ts)
        return snapshot if snapshot is not None and not snapshot.revoked else None

    def __len__(self) -> int:
        return len(self._pins)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        for snapshot in self._pins.values():
            snapshot.close()
        self._pins.clear()
        self._holders.clear()
        self._by_client.clear()
        self._timers.clear()


class HttpApi:
    def __init__(self, app: Application, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator
        self.pins = PinnedSnapshots(app)

    async def principal(self, request: Request) -> Principal:
        """The caller: a verified user identity (``Bearer``) or the admin (``Convex <admin key>``)."""
        try:
            return await self.authenticator.principal_for_header(request.headers.get("authorization"))
        except AuthFailed as err:
            raise _BadRequest(401, err.code, str(err)) from None

    async def identity(self, request: Request) -> Identity | None:
        return (await self.principal(request)).identity

    async def handle(self, request: Request) -> Response:
        if request.url.path == "/api/query_ts":
            client = request.client.host if request.client is not None else ""
            return JSONResponse({"ts": encode_ts(self.pins.pin(client))})
        try:
            path, args, kind, ts = await self._parse(request)
            principal = await self.principal(request)
            if ts is not None:
                return await self._query_at(path, args, principal.identity, ts)
        except _BadRequest as err:
            return JSONResponse({"code": err.code, "message": err.message}, status_code=err.status)
        except BodyTooLarge as err:
            return too_large(err)
        # The admin may call internal functions (``prefmem run`` against a server, dashboards).
        outcome = await self.app.call(path, args, principal.identity, kind=kind, allow_internal=principal.admin)
        return self._reply(outcome)

    async def _query_at(self, path: str, args: Any, identity: Identity | None, ts: Any) -> Response:
        try:
            wanted = decode_ts(ts) if isinstance(ts, str) else None
        except ProtocolError:
            wanted = None
        if wanted is None:
            raise _BadRequest(400, "InvalidTimestamp", f"{ts!r} is not a timestamp from /api/query_ts")
        try:
            fn = self.app.registry.get(path, kind="query")
        except PrefmemError as err:
            return self._reply(Outcome(error=str(err)))
        pinned = self.pins.get(wanted)
        if pinned is not None:
            return self._reply(self.app.query_at(fn, args, identity, pinned))
        return self._reply(self._query_since(fn, args, identity, wanted))

    def _query_since(self, fn: Any, args: Any, identity: Identity | None, wanted: int) -> Outcome:
        """The query at ``wanted`` without its snapshot: at the latest one, if nothing it
        read changed since ``wanted`` (so the result is the same at both)."""
        app = self.app
        with app.persistence.snapshot() as snapshot:
            if app.persistence.shared:
                catch_up(app.write_log, snapshot, snapshot.ts)
            known = snapshot.ts <= app.write_log.head_ts and app.write_log.covers(wanted) and wanted <= snapshot.ts
            outcome = app.query_at(fn, args, identity, snapshot) if known else None
        if outcome is None or (outcome.read_set is not None and
                               app.write_log.changed_since(outcome.read_set, wanted, outcome.ts)):
            raise _BadRequest(400, "InvalidTimestamp", f"the data this query reads changed after timestamp {wanted}, "
                              "whose snapshot is no longer kept; start again from /api/query_ts")
        return outcome

    async def _parse(self, request: Request) -> tuple[str, Any, str | None, Any]:
        body = await read_body(request, self.app.bounds.request_body_bytes, env_name("request_body_bytes"))
        data: Any = {}
        if body:
            try:
                data = msgspec.json.decode(body)
            except msgspec.DecodeError as err:
                raise _BadRequest(400, "BadJsonBody", f"the request body is not JSON: {err}") from None
            except RecursionError:
                raise _BadRequest(400, "BadJsonBody", "the request body is JSON nested too deeply") from None
        if not isinstance(data, dict):
            raise _BadRequest(400, "BadJsonBody", "the request body must be a JSON object")
        route = request.url.path
        path: object  # the body's may be anything: checked below
        if route.startswith("/api/run/"):
            module, _, export = route[len("/api/run/"):].rpartition("/")
            path, kind = f"{module}:{export}", None
        else:
            path, kind = data.get("path"), _KIND_BY_ROUTE.get(route)
        if not isinstance(path, str) or not path:
            raise _BadRequest(400, "BadJsonBody", "the request body needs `path`, the function's 'module:name'")
        raw_args = data.get("args", {})
        if isinstance(raw_args, list):
            if len(raw_args) != 1:
                raise _BadRequest(400, "BadJsonBody", f"`args` must hold one argument object, got {len(raw_args)}")
            raw_args = raw_args[0]
        try:
            args = from_json(raw_args)
        except PrefmemError as err:
            raise _BadRequest(400, "BadConvexValue", str(err)) from None
        ts = data.get("ts") if route == "/api/query_at_ts" else None
        if route == "/api/query_at_ts" and ts is None:
            raise _BadRequest(400, "BadJsonBody", "/api/query_at_ts needs `ts` from /api/query_ts")
        return path, args, kind, ts

    @staticmethod
    def _reply(outcome: Outcome) -> Response:
        if outcome.ok:
            return JSONResponse({"status": "success", "value": to_json(outcome.value), "logLines": outcome.log_lines})
        # "code" and "message" are what the Python HTTP client reads from a non-2xx reply.
        body = {"status": "error", "errorMessage": outcome.error_message, "logLines": outcome.log_lines,
                "code": "FunctionFailed", "message": outcome.error_message}
        if outcome.has_error_data:
            body["errorData"] = to_json(outcome.error_data)
        return JSONResponse(body, status_code=FUNCTION_FAILED)


class _BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
