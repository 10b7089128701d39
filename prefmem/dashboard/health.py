"""The Health view: the server's counters now, and sampled over the last hour."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from prefmem.dashboard import metrics
from prefmem.dashboard.system import system_function
from prefmem.functions import FunctionDef

if TYPE_CHECKING:
    from prefmem.dashboard.board import Dashboard

HEALTH = b"health"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def functions(board: "Dashboard") -> list[FunctionDef]:

    @system_function("query", "health:overview")
    async def overview(ctx: Any, args: dict) -> dict:
        board.watch(ctx, HEALTH)
        current = board.counters()
        return {"now": {_camel(k): value for k, value in asdict(current).items()},
                "series": board.health.series(ctx.now, current), "sampleEveryS": board.health.every_s,
                "startedAt": board.started_ms}

    return [overview]
