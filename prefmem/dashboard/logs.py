"""The Logs view: the execution log, newest first, filtered by function, level and text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefmem.dashboard.system import system_function
from prefmem.errors import InvalidQuery
from prefmem.functions import FunctionDef
from prefmem.logs import ExecutionRecord
from prefmem.validators import v

if TYPE_CHECKING:
    from prefmem.dashboard.board import Dashboard

LOGS = b"logs"
MOST_ENTRIES = 500
LEVELS = ("DEBUG", "LOG", "INFO", "WARN", "ERROR")


def matches(record: ExecutionRecord, path: str | None, level: str | None, text: str | None) -> bool:
    """``level``: executions with a line of that level; ERROR also takes every failed execution."""
    if path is not None and record.path != path:
        return False
    if level is not None and not any(line.startswith(f"[{level}]") for line in record.lines) \
            and not (level == "ERROR" and not record.ok):
        return False
    if text:
        needle = text.casefold()
        haystack = [record.path, record.error or "", *record.lines]
        if not any(needle in part.casefold() for part in haystack):
            return False
    return True


def functions(board: "Dashboard") -> list[FunctionDef]:
    log = board.app.execution_log

    @system_function("query", "logs:recent", args={
        "path": v.optional(v.string()), "level": v.optional(v.union(*(v.literal(level) for level in LEVELS))),
        "text": v.optional(v.string()), "limit": v.optional(v.number())})
    async def recent(ctx: Any, args: dict) -> dict:
        board.watch(ctx, LOGS)
        limit = args.get("limit", 100)
        if not 1 <= limit <= MOST_ENTRIES:
            raise InvalidQuery(f"limit must be from 1 to {MOST_ENTRIES}, got {limit!r}")
        found = []
        for record in reversed(log.since(0)):
            if matches(record, args.get("path"), args.get("level"), args.get("text")):
                found.append(record.to_json())
                if len(found) >= limit:
                    break
        return {"entries": found, "last": log.last_seq}

    @system_function("query", "logs:execution", args={"seq": v.number()})
    async def execution(ctx: Any, args: dict) -> dict | None:
        board.watch(ctx, LOGS)
        seq = args["seq"]
        return next((r.to_json() for r in log.since(seq - 1) if r.seq == seq), None)

    return [recent, execution]
