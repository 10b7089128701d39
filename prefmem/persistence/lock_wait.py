"""Waiting for a lock in a worker thread, so the event loop goes on meanwhile, without
leaving the lock taken when the wait is cancelled (the engines' commit locks)."""

from __future__ import annotations

import asyncio
import threading
from typing import Callable, TypeVar

_Held = TypeVar("_Held")


async def wait_in_thread(acquire: Callable[[], _Held], release: Callable[[], None], *,
                         undo: Callable[[], None] | None = None) -> _Held:
    """Take a lock in a worker thread, so the event loop goes on meanwhile.

    A cancelled wait returns at once, but its thread goes on waiting and takes the lock in
    the end: it must let go of it then, or the lock stays taken for ever and every other
    process waits on it. The thread does that itself, not through the event loop, which
    may be closing. ``undo`` gives back what the caller held before if the wait fails
    (whether or not the caller is still there)."""
    state = "waiting"  # -> "taken" or "failed" by the thread, or "abandoned" by the caller
    guard = threading.Lock()

    def wait() -> _Held:
        nonlocal state
        try:
            held = acquire()
        except BaseException:
            with guard:
                abandoned, state = state == "abandoned", "failed"
            if abandoned and undo is not None:
                undo()
            raise
        with guard:
            abandoned, state = state == "abandoned", "taken"
        if abandoned:
            release()
        return held

    try:
        return await asyncio.to_thread(wait)
    except asyncio.CancelledError:
        with guard:
            before, state = state, "abandoned"
        if before == "taken":
            release()
        elif before == "failed" and undo is not None:
            undo()
        raise
    except BaseException:
        if undo is not None:
            undo()
        raise
