"""Request bodies read with a bound, so that no request can make the server hold more.

A body over the bound is refused from its ``Content-Length`` before a byte of it is read,
or, sent without one (chunked), as soon as the bytes read so far pass the bound: either way
the caller answers ``413`` with a JSON error (``too_large``) and closes the connection, so
the rest of the body is never read.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse


class BodyTooLarge(Exception):
    """The request's body is larger than ``limit`` bytes."""

    def __init__(self, limit: int, setting: str | None = None) -> None:
        self.limit, self.setting = limit, setting
        where = f" ({setting})" if setting else ""
        super().__init__(f"the request body is larger than the limit of {limit} bytes{where}")


def too_large(err: BodyTooLarge, headers: dict[str, str] | None = None) -> JSONResponse:
    # Connection: close, so the server does not go on reading a body nobody will use.
    return JSONResponse({"code": "RequestTooLarge", "message": str(err)}, status_code=413,
                        headers={**(headers or {}), "Connection": "close"})


def check_declared(request: Request, limit: int, setting: str | None = None) -> None:
    """Raise ``BodyTooLarge`` when the request says (``Content-Length``) its body is over ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit, setting)


async def read_body(request: Request, limit: int, setting: str | None = None) -> bytes:
    """The whole body, or ``BodyTooLarge`` before more than ``limit`` bytes are held.

    For HTTP actions with a bound of their own (the server's bound applies to every HTTP
    action already): ``body = await read_body(request, 64 * 1024)``; an action that lets
    ``BodyTooLarge`` through answers 413.
    """
    check_declared(request, limit, setting)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit, setting)
        chunks.append(chunk)
    return b"".join(chunks)


Receive = Callable[[], Awaitable[Any]]


def bounded(request: Request, limit: int, setting: str | None = None) -> Request:
    """The same request, whose body raises ``BodyTooLarge`` once more than ``limit`` bytes arrive.

    For code that reads the body itself (an HTTP action's ``request.body()``/``json()``)."""
    check_declared(request, limit, setting)
    receive: Receive = request.receive
    received = 0

    async def counting() -> Any:
        nonlocal received
        message = await receive()
        if message.get("type") == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit, setting)
        return message

    return Request(request.scope, counting)
