"""The HTTP function API that ``ConvexHttpClient`` (and curl) use.

``POST /api/query|mutation|action|function`` with ``{"path", "args": [ARGS],
"format": "convex_encoded_json"}``; the reply is ``{"status": "success", "value", "logLines"}``
or, for a function that failed, HTTP 560 with ``{"status": "error", "errorMessage",
"errorData"?, "logLines"}``: the clients treat 560 as "the function failed" and any other
non-2xx status as a transport error.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from prefmem.auth.identity import Identity
from prefmem.auth.authenticator import Authenticator
from prefmem.errors import AuthFailed, PrefmemError
from prefmem.runner import Outcome, Runner
from prefmem.values import from_json, to_json

FUNCTION_FAILED = 560

_KIND_BY_ROUTE = {"/api/query": "query", "/api/query_ts": "query", "/api/query_at_ts": "query",
                  "/api/mutation": "mutation", "/api/action": "action", "/api/function": None}


class HttpApi:
    def __init__(self, runner: Runner, authenticator: Authenticator) -> None:
        self.runner = runner
        self.authenticator = authenticator

    async def identity(self, request: Request) -> Identity | None:
        try:
            return await self.authenticator.for_header(request.headers.get("authorization"))
        except AuthFailed as err:
            raise _BadRequest(401, "Unauthenticated", str(err)) from None

    async def handle(self, request: Request) -> Response:
        try:
            path, args, kind = await self._parse(request)
            identity = await self.identity(request)
        except _BadRequest as err:
            return JSONResponse({"code": err.code, "message": err.message}, status_code=err.status)
        outcome = await self.runner.call(path, args, identity, kind=kind)
        return self._reply(outcome, with_ts=request.url.path in ("/api/query_ts", "/api/query_at_ts"))

    async def _parse(self, request: Request) -> tuple[str, Any, str | None]:
        body = await request.body()
        data: Any = {}
        if body:
            try:
                data = msgspec.json.decode(body)
            except msgspec.DecodeError as err:
                raise _BadRequest(400, "BadJsonBody", f"the request body is not JSON: {err}") from None
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
        return path, args, kind

    @staticmethod
    def _reply(outcome: Outcome, *, with_ts: bool = False) -> Response:
        if outcome.ok:
            body: dict[str, Any] = {"status": "success", "value": to_json(outcome.value),
                                    "logLines": outcome.log_lines}
            if with_ts:
                body["ts"] = str(outcome.ts)
            return JSONResponse(body)
        body = {"status": "error", "errorMessage": outcome.error, "logLines": outcome.log_lines}
        if outcome.has_error_data:
            body["errorData"] = to_json(outcome.error_data)
        return JSONResponse(body, status_code=FUNCTION_FAILED)


class _BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
