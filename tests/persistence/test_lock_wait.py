"""A lock waited for in a worker thread (both engines' commit locks): a wait that is
cancelled lets go of what its thread takes later, by itself, with the event loop blocked."""

from __future__ import annotations

import asyncio
import threading

import pytest

from prefmem.persistence.lock_wait import wait_in_thread


async def test_an_abandoned_wait_lets_go_from_its_thread_without_the_event_loop():
    """The loop may be closing (a cancelled commit at shutdown): the thread lets go itself."""
    go, released, undone = threading.Event(), threading.Event(), threading.Event()
    waiting = asyncio.ensure_future(wait_in_thread(lambda: go.wait(10), released.set, undo=undone.set))
    await asyncio.sleep(0)  # it waits in its thread
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    go.set()
    assert released.wait(10)  # the loop does not turn while this blocks
    assert not undone.is_set()


async def test_an_abandoned_wait_that_fails_gives_back_what_was_held():
    go, released, undone = threading.Event(), threading.Event(), threading.Event()

    def fails() -> None:
        go.wait(10)
        raise OSError("no lock today")

    waiting = asyncio.ensure_future(wait_in_thread(fails, released.set, undo=undone.set))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    go.set()
    assert undone.wait(10)
    assert not released.is_set()


async def test_a_wait_returns_what_its_thread_took_and_a_failed_one_gives_back():
    assert await wait_in_thread(lambda: 7, lambda: None) == 7
    undone = []

    def fails() -> None:
        raise OSError("no lock today")

    with pytest.raises(OSError, match="no lock today"):
        await wait_in_thread(fails, lambda: None, undo=lambda: undone.append(True))
    assert undone == [True]
