"""The HTTP function API that ``ConvexHttpClient`` (and curl) use.

``POST /api/query|mutation|action|function`` with ``{"path", "args": [ARGS],
"format": "convex_encoded_json"}``; the reply is ``{"status": "success", "value", "logLines"}``
or, for a function that failed, HTTP 560 with ``{"status": "error", "errorMessage",
"errorData"?, "logLines"}``: the clients treat 560 as "the function failed" and any other
non-2xx status as a transport error.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from prefmem.auth.identity import Identity
from prefmem.auth.authenticator import Authenticator, Principal
from prefmem.bodies import BodyTooLarge, read_body, too_large
from prefmem.bounds import env_name
from prefmem.errors import AuthFailed, PrefmemError
from prefmem.runner import Outcome, Runner
from prefmem.storage import Snapshot
from prefmem.sync.messages import ProtocolError, decode_ts, encode_ts
from prefmem.values import from_json, to_json

FUNCTION_FAILED = 560

_KIND_BY_ROUTE = {"/api/query": "query", "/api/query_ts": "query", "/api/query_at_ts": "query",
                  "/api/mutation": "mutation", "/api/action": "action", "/api/function": None}


class PinnedSnapshots:
    """Read snapshots held open for ``ConvexHttpClient.consistentQuery``.

    ``/api/query_ts`` pins the latest snapshot and returns its timestamp; every
    ``/api/query_at_ts`` with that timestamp reads the very same snapshot, so a set of
    queries sees one consistent database state. Pins expire after ``ttl_s``.
    """

    def __init__(self, storage: Any, ttl_s: float = 30.0, most: int = 32) -> None:
        self._storage = storage
        self._ttl = ttl_s
        self._most = most
        self._pins: dict[int, tuple[Snapshot, float]] = {}

    def _expire(self) -> None:
        now = time.monotonic()
        for ts, (snap, expires) in list(self._pins.items()):
            if expires < now or len(self._pins) > self._most:
                del self._pins[ts]
                snap.close()

    def pin(self) -> int:
        self._expire()
        snap = self._storage.pinned_snapshot()
        if snap.ts in self._pins:
            snap.close()
        else:
            self._pins[snap.ts] = (snap, time.monotonic() + self._ttl)
        return snap.ts

    def get(self, ts: int) -> Snapshot | None:
        self._expire()
        pinned = self._pins.get(ts)
        return pinned[0] if pinned else None

    def close(self) -> None:
        for snap, _ in self._pins.values():
            snap.close()
        self._pins.clear()


class HttpApi:
    def __init__(self, runner: Runner, authenticator: Authenticator) -> None:
        self.runner = runner
        self.authenticator = authenticator
        self.pins = PinnedSnapshots(runner.storage)

    async def principal(self, request: Request) -> Principal:
        """The caller: a verified user identity (``Bearer``) or the admin (``Convex <admin key>``)."""
        try:
            return await self.authenticator.principal_for_header(request.headers.get("authorization"))
        except AuthFailed as err:
            raise _BadRequest(401, "Unauthenticated", str(err)) from None

    async def identity(self, request: Request) -> Identity | None:
        return (await self.principal(request)).identity

    async def handle(self, request: Request) -> Response:
        if request.url.path == "/api/query_ts":
            await self.runner.committer.visible.wait()
            return JSONResponse({"ts": encode_ts(self.pins.pin())})
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
        outcome = await self.runner.call(path, args, principal.identity, kind=kind, allow_internal=principal.admin)
        return self._reply(outcome)

    async def _query_at(self, path: str, args: Any, identity: Identity | None, ts: Any) -> Response:
        try:
            wanted = decode_ts(ts) if isinstance(ts, str) else None
        except ProtocolError:
            wanted = None
        snapshot = self.pins.get(wanted) if wanted is not None else None
        if snapshot is None:
            raise _BadRequest(400, "InvalidTimestamp", f"timestamp {ts!r} is not one this server pinned recently; "
                              "get a fresh one from /api/query_ts")
        try:
            fn = self.runner.registry.get(path, kind="query")
        except PrefmemError as err:
            return self._reply(Outcome(error=str(err)))
        return self._reply(self.runner.execute_query(fn, args, identity, snapshot=snapshot))

    async def _parse(self, request: Request) -> tuple[str, Any, str | None, Any]:
        body = await read_body(request, self.runner.bounds.request_body_bytes, env_name("request_body_bytes"))
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
        if route.startswith("/api/run/"):
            path = route[len("/api/run/"):]
            module, _, export = path.rpartition("/")
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
        body = {"status": "error", "errorMessage": outcome.error, "logLines": outcome.log_lines,
                "code": "FunctionFailed", "message": outcome.error}
        if outcome.has_error_data:
            body["errorData"] = to_json(outcome.error_data)
        return JSONResponse(body, status_code=FUNCTION_FAILED)


class _BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
