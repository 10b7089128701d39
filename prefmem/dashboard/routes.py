"""The dashboard's HTTP routes: its built page at ``/_dashboard`` and the one-time login.

``POST /api/dashboard/login_code`` (admin key) issues a code for ``prefmem dashboard``'s
link; ``POST /api/dashboard/login`` trades a code for the admin key, once. Everything
else the page does goes through the sync protocol and the HTTP function API, as the
admin, to the system functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from prefmem.static import static_response

MOUNT = "/_dashboard"
# Built by `make dashboard` (Vite, base /_dashboard/) from the repository's dashboard/.
DIST = Path(__file__).resolve().parents[2] / "dashboard" / "dist"
MOST_LOGIN_BODY = 1024


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


async def _small_body(request: Request) -> bytes | None:
    """The body, or None once it grows past ``MOST_LOGIN_BODY`` (a login is a few bytes)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MOST_LOGIN_BODY:
            return None
    return body


def dashboard_routes(server: Any, dist: Path = DIST) -> list[Route]:
    async def page(request: Request) -> Response:
        if not (dist / "index.html").is_file():
            return PlainTextResponse(f"The dashboard is not built ({dist} has no index.html): run `make dashboard` "
                                     "in the prefmem repository.", status_code=404)
        found = static_response(dist, request, MOUNT)
        if found is None:
            return PlainTextResponse(f"no dashboard file at {request.url.path}", status_code=404)
        return found

    async def login_code(request: Request) -> Response:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme != "Convex" or not server.auth.is_admin_key(key.strip()):
            return _error(401, "Unauthorized", "a login link needs the admin key (Authorization: Convex <admin key>)")
        code, expires = await server.dashboard.login.issue()
        return JSONResponse({"code": code, "expiresAt": expires})

    async def login(request: Request) -> Response:
        body = await _small_body(request)
        if body is None:
            return _error(413, "BodyTooLarge", f"a login request is at most {MOST_LOGIN_BODY} bytes")
        try:
            code = msgspec.json.decode(body).get("code")
        except (msgspec.DecodeError, AttributeError):
            return _error(400, "BadJsonBody", 'send {"code": "<the code of the login link>"}')
        if not await server.dashboard.login.redeem(code):
            return _error(401, "BadLoginCode", "this login link was already used or has expired: run `prefmem "
                          "dashboard` for a new one, or paste the admin key")
        return JSONResponse({"adminKey": server.auth.admin_key})

    return [
        Route(MOUNT, page, methods=["GET", "HEAD"]),
        Route(MOUNT + "/{path:path}", page, methods=["GET", "HEAD"]),
        Route("/api/dashboard/login_code", login_code, methods=["POST"]),
        Route("/api/dashboard/login", login, methods=["POST"]),
    ]
