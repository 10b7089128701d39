"""The Functions view: every function of the app, its counters, and running one.

A run goes through the application like any call (a mutation through the committer), as the
admin or as an identity the operator types, and reports what a developer wants to see:
the value or the error, the log lines and the time it took. A mutation or action can
also be scheduled to run later, as ``ctx.scheduler.run_after`` would.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from prefmem.auth.authenticator import impersonated_identity
from prefmem.dashboard.system import system_function
from prefmem.errors import AuthFailed, InvalidQuery
from prefmem.functions import FunctionDef
from prefmem.functions import SYSTEM_PREFIX
from prefmem.validators import v

if TYPE_CHECKING:
    from prefmem.dashboard.board import Dashboard

FUNCTIONS = b"functions"
MOST_DELAY_MS = 365 * 24 * 3600 * 1000.0


def describe(fn: FunctionDef) -> dict[str, Any]:
    return {"path": fn.path, "kind": fn.kind, "visibility": "internal" if fn.internal else "public",
            "args": fn.args.describe_json() if fn.args is not None else None,
            "returns": fn.returns.describe_json() if fn.returns is not None else None}


def http_routes(board: "Dashboard") -> list[dict[str, Any]]:
    router = board.server.http_router()
    if router is None:
        return []
    return [{"path": f"{route.method} {route.path or route.path_prefix + '*'}", "kind": "httpAction",
             "visibility": "public", "args": None, "returns": None,
             "handler": getattr(route.handler.handler, "__name__", None)} for route in router.routes]


def functions(board: "Dashboard") -> list[FunctionDef]:
    app = board.app

    @system_function("query", "functions:list")
    async def list_functions(ctx: Any, args: dict) -> list[dict]:
        own = [describe(fn) for path, fn in sorted(app.registry.functions.items())
               if not path.startswith(SYSTEM_PREFIX)]
        return own + http_routes(board)

    @system_function("query", "functions:stats")
    async def stats(ctx: Any, args: dict) -> dict:
        board.watch(ctx, FUNCTIONS)
        return {"functions": board.stats.summary(ctx.now), "counted": board.stats.counted,
                "missed": board.stats.missed, "since": board.stats.since_ms}

    @system_function("action", "functions:run", args={"path": v.string(), "args": v.any(),
                                                      "identity": v.optional(v.any())})
    async def run(ctx: Any, args: dict) -> dict:
        path = args["path"]
        if path.startswith(SYSTEM_PREFIX):
            raise InvalidQuery(f"{path} is one of the dashboard's own functions; run the app's functions here")
        try:
            identity = impersonated_identity(args.get("identity"))
        except AuthFailed as err:
            raise InvalidQuery(f"identity: {err}") from None
        fn = app.registry.get(path, allow_internal=True)
        started = time.perf_counter()
        outcome = await app.run(fn, args["args"], identity)
        result: dict[str, Any] = {"ok": outcome.ok, "value": outcome.value, "error": outcome.error,
                                  "logLines": outcome.log_lines,
                                  "durationMs": round((time.perf_counter() - started) * 1000.0, 3)}
        if outcome.has_error_data:
            result["errorData"] = outcome.error_data
        return result

    @system_function("mutation", "functions:schedule", args={
        "path": v.string(), "args": v.record(v.string(), v.any()), "delayMs": v.number()})
    async def schedule(ctx: Any, args: dict) -> str:
        """Schedule a mutation or action through ``ctx.scheduler``, as app code would."""
        if args["path"].startswith(SYSTEM_PREFIX):
            raise InvalidQuery(f"{args['path']} is one of the dashboard's own functions; schedule the app's here")
        if not 0 <= args["delayMs"] <= MOST_DELAY_MS:
            raise InvalidQuery(f"delayMs must be from 0 to {MOST_DELAY_MS:g} (a year), got {args['delayMs']!r}")
        return await ctx.scheduler.run_after(args["delayMs"], args["path"], args["args"])

    return [list_functions, stats, run, schedule]
