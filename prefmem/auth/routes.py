"""HTTP routes of the built-in password provider and the server's JWKS.

``auth_routes(get_authenticator)`` returns Starlette routes for ``create_app``; they must
come before the catch-all HTTP-action route. See ``prefmem.auth.password`` for the API.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prefmem.auth.authenticator import Authenticator
from prefmem.auth.password import PasswordAuth, PasswordAuthError
from prefmem.bodies import BodyTooLarge, read_body, too_large

log = logging.getLogger("prefmem.auth")

JWKS_PATH = "/.well-known/jwks.json"
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_MAX_BODY = 64 * 1024


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def _cors_headers(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin", "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type, Authorization", "Access-Control-Max-Age": "600"}


Operation = Callable[[PasswordAuth, dict[str, Any], Request], Awaitable[dict[str, Any]]]


def _endpoint(get_auth: Callable[[], Authenticator | None], operation: Operation) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        auth = get_auth()
        if auth is None:
            return _error(503, "NotReady", "the server is starting")
        origin = request.headers.get("origin")
        cors: dict[str, str] = {}
        if origin is not None and origin.rstrip("/") != _own_origin(request):
            if origin.rstrip("/") not in auth.cors_origins:
                return _error(403, "OriginNotAllowed",
                              f"the origin {origin!r} may not call the auth endpoints; list it in "
                              f"PREFMEM_AUTH_CORS_ORIGINS to allow it")
            cors = _cors_headers(origin)
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=cors)
        if request.method != "POST":
            return _error(405, "MethodNotAllowed", f"{request.url.path} accepts POST only",
                          headers={"Allow": "POST, OPTIONS", **cors})
        service = auth.password
        if service is None:
            return _error(404, "PasswordAuthDisabled", "the built-in password provider is not enabled: add "
                          "{\"type\": \"password\"} to `providers` in functions/auth_config.py", cors)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _error(415, "BadRequest", "send a JSON body with Content-Type: application/json", cors)
        try:
            body = await read_body(request, _MAX_BODY)
        except BodyTooLarge as err:
            return too_large(err, cors)
        try:
            data = msgspec.json.decode(body) if body else {}
        except (msgspec.DecodeError, RecursionError):
            return _error(400, "BadRequest", "the request body is not valid JSON", cors)
        if not isinstance(data, dict):
            return _error(400, "BadRequest", "the request body must be a JSON object", cors)
        try:
            result = await operation(service, data, request)
        except PasswordAuthError as err:
            headers = dict(cors)
            if err.retry_after is not None:
                headers["Retry-After"] = str(int(err.retry_after) + 1)
            log.info("auth %s refused: %s", request.url.path, err.code)  # never the body: it holds a password
            return _error(err.status, err.code, err.message, headers)
        return JSONResponse(result, headers={**cors, "Cache-Control": "no-store"})

    return handle


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


async def _sign_up(service: PasswordAuth, data: dict[str, Any], request: Request) -> dict[str, Any]:
    return await service.sign_up(data, _address(request))


async def _sign_in(service: PasswordAuth, data: dict[str, Any], request: Request) -> dict[str, Any]:
    return await service.sign_in(data, _address(request))


async def _refresh(service: PasswordAuth, data: dict[str, Any], request: Request) -> dict[str, Any]:
    return await service.refresh(data)


def _bearer(request: Request) -> str | None:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" and credential.strip() else None


def _sign_out(get_auth: Callable[[], Authenticator | None]) -> Operation:
    async def run(service: PasswordAuth, data: dict[str, Any], request: Request) -> dict[str, Any]:
        auth = get_auth()
        assert auth is not None
        return await service.sign_out(data, _bearer(request), auth.verify_token)

    return run


def _delete_account(get_auth: Callable[[], Authenticator | None]) -> Operation:
    async def run(service: PasswordAuth, data: dict[str, Any], request: Request) -> dict[str, Any]:
        auth = get_auth()
        assert auth is not None
        return await service.delete_account(_bearer(request), auth.verify_token)

    return run


def auth_routes(get_auth: Callable[[], Authenticator | None]) -> list[Route]:
    async def jwks(request: Request) -> Response:
        auth = get_auth()
        if auth is None:
            return _error(503, "NotReady", "the server is starting")
        return JSONResponse(auth.jwks(), headers={"Access-Control-Allow-Origin": "*",
                                                  "Cache-Control": "public, max-age=300"})

    return [
        Route("/api/auth/signup", _endpoint(get_auth, _sign_up), methods=_ALL_METHODS),
        Route("/api/auth/signin", _endpoint(get_auth, _sign_in), methods=_ALL_METHODS),
        Route("/api/auth/refresh", _endpoint(get_auth, _refresh), methods=_ALL_METHODS),
        Route("/api/auth/signout", _endpoint(get_auth, _sign_out(get_auth)), methods=_ALL_METHODS),
        Route("/api/auth/delete-account", _endpoint(get_auth, _delete_account(get_auth)), methods=_ALL_METHODS),
        Route(JWKS_PATH, jwks, methods=["GET", "HEAD"]),
    ]
