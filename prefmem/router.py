"""HTTP actions: ``functions/http.py`` declares ``http = HttpRouter()`` and its routes.

Matching follows Convex: an exact ``path`` wins over any ``path_prefix``, and among
prefixes the longest wins. HEAD is answered by the GET route. There is no automatic CORS:
an app that wants it answers OPTIONS itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from prefmem import logs
from prefmem.bodies import BodyTooLarge, too_large
from prefmem.errors import AuthFailed
from prefmem.functions import FunctionDef
from prefmem.runner import ActionCtx, Auth, Outcome
from prefmem.values import to_json

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass(frozen=True)
class Route:
    method: str
    handler: FunctionDef
    path: str | None = None
    path_prefix: str | None = None


class HttpRouter:
    def __init__(self) -> None:
        self._exact: dict[tuple[str, str], Route] = {}
        self._prefixes: list[Route] = []

    def route(self, *, method: str, handler: Any, path: str | None = None, path_prefix: str | None = None) -> None:
        method = method.upper() if isinstance(method, str) else method
        if method not in METHODS:
            raise ValueError(f"http.route: method must be one of {', '.join(METHODS)}, got {method!r}")
        if (path is None) == (path_prefix is None):
            raise ValueError("http.route: give exactly one of path= and path_prefix=")
        if not isinstance(handler, FunctionDef) or handler.kind != "http_action":
            raise ValueError("http.route: handler must be decorated with @http_action")
        if path is not None:
            if not path.startswith("/"):
                raise ValueError(f"http.route: path {path!r} must start with '/'")
            if (method, path) in self._exact:
                raise ValueError(f"http.route: {method} {path} is routed twice")
            self._exact[(method, path)] = Route(method, handler, path=path)
        else:
            assert path_prefix is not None
            if not path_prefix.startswith("/") or not path_prefix.endswith("/"):
                raise ValueError(f"http.route: path_prefix {path_prefix!r} must start and end with '/'")
            if any(r.method == method and r.path_prefix == path_prefix for r in self._prefixes):
                raise ValueError(f"http.route: {method} {path_prefix}* is routed twice")
            self._prefixes.append(Route(method, handler, path_prefix=path_prefix))
            self._prefixes.sort(key=lambda r: len(r.path_prefix or ""), reverse=True)

    def lookup(self, method: str, path: str) -> Route | None:
        method = "GET" if method == "HEAD" else method
        exact = self._exact.get((method, path))
        if exact is not None:
            return exact
        for route in self._prefixes:
            if route.method == method and path.startswith(route.path_prefix or ""):
                return route
        return None

    def allowed_methods(self, path: str) -> list[str]:
        return sorted({m for m in METHODS if self.lookup(m, path) is not None})

    @property
    def routes(self) -> list[Route]:
        return [*self._exact.values(), *self._prefixes]


async def dispatch(app: Any, router: HttpRouter, request: Any, identity: Any) -> Any:
    """Run the HTTP action routed for ``request``; None when no route matches. ``identity``
    is the caller's, None, or the ``AuthFailed`` of credentials that were refused."""
    route = router.lookup(request.method, request.url.path)
    if route is None:
        return None
    fn = route.handler
    started = time.perf_counter()
    outcome = None
    collector, token = logs.start(app.limits.log_lines)
    try:
        refused = identity if isinstance(identity, AuthFailed) else None
        ctx = ActionCtx(app, None if refused else identity)
        ctx.auth = Auth(None if refused else identity, refused=refused)
        result = await app.runner.within_action_time(fn.handler(ctx, request),
                                                     f"{request.method} {route.path or route.path_prefix}")
        if not isinstance(result, Response):
            raise TypeError(f"an HTTP action must return a starlette Response, got {type(result).__name__}")
        return result
    except BodyTooLarge as err:  # the server's bound on bodies, or the action's own (read_body)
        outcome = Outcome(error=str(err))
        return too_large(err)
    except Exception as err:  # noqa: BLE001 — the caller gets a 500 that says what failed
        outcome = app.runner.failure(fn, err)
        # As Convex answers: the message clients get from any function, and a ConvexError's data.
        body = {"code": outcome.error_message}
        if outcome.has_error_data:
            body["data"] = to_json(outcome.error_data)
        return JSONResponse(body, status_code=500)
    finally:
        logs.stop(token)
        app.execution_log.add(f"{request.method} {request.url.path}", "http_action",
                              None if outcome is None else outcome.error, collector.finish(), started,
                              None if outcome is None else outcome.request_id)
