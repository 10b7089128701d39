"""Commits made straight through an engine's commit slot, for the engines' own tests."""

from __future__ import annotations

from typing import Any


class Changes:
    """What a commit writes: nothing, unless a test fills the documents or entries in."""

    def __init__(self) -> None:
        self.documents: dict = {}
        self.index_entries: dict = {}
        self.search_entries: dict = {}

    def reply_groups(self, ts: int) -> list:
        return []


async def commit(persistence: Any, changes: Changes | None = None) -> int:
    """Commit ``changes`` at the next timestamp; returns it."""
    slot = await persistence.begin_commit()
    ts = slot.head_ts + 1
    try:
        slot.write(ts, changes if changes is not None else Changes(), b"")
    except BaseException:
        slot.abort()
        raise
    slot.finish()
    return ts
