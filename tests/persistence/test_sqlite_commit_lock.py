"""The commit lock of worker processes sharing one SQLite file (a ``flock``), as the other
processes see it: waiting for it leaves the event loop free, and a wait that is cancelled
does not leave the lock taken."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from pathlib import Path

import pytest

from prefmem.persistence.sqlite import ServeLock, ServeLockHeld, SqlitePersistence
from tests.helpers.commits import commit
from tests.helpers.server import dead_pid

pytestmark = pytest.mark.sqlite_only


def _waiters(lock_path: str) -> int:
    """Processes' ``flock`` requests blocked on the file, as the kernel lists them."""
    inode = os.stat(lock_path).st_ino
    with open("/proc/locks") as locks:
        return sum(1 for line in locks if "->" in line and line.split()[6].endswith(f":{inode}"))


async def _until(condition, what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never {what}")


async def _until_waiting(lock_path: str) -> None:
    await _until(lambda: _waiters(lock_path) == 1, "waited for the lock")


@pytest.fixture
def pair(tmp_path: Path):
    db = tmp_path / "shared.sqlite3"
    a, b = SqlitePersistence(db, shared=True), SqlitePersistence(db, shared=True)
    holder = os.open(f"{db}.commit-lock", os.O_RDWR)  # another process's hold on the lock
    yield a, b, holder, f"{db}.commit-lock"
    os.close(holder)
    a.close()
    b.close()


async def test_a_commit_waiting_for_another_process_leaves_the_loop_free(pair):
    a, _b, holder, lock_path = pair
    fcntl.flock(holder, fcntl.LOCK_EX)
    waiting = asyncio.ensure_future(commit(a))
    await _until_waiting(lock_path)
    for _ in range(50):
        await asyncio.sleep(0)  # the loop keeps turning
    assert not waiting.done()
    fcntl.flock(holder, fcntl.LOCK_UN)
    assert await asyncio.wait_for(waiting, 10) == 1


async def test_a_commit_cancelled_while_waiting_lets_go_of_the_lock(pair):
    a, b, holder, lock_path = pair
    fcntl.flock(holder, fcntl.LOCK_EX)
    waiting = asyncio.ensure_future(a.begin_commit())
    await _until_waiting(lock_path)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    fcntl.flock(holder, fcntl.LOCK_UN)
    # a's thread takes the lock (nobody waits any more), and must let it go again.
    await _until(lambda: _waiters(lock_path) == 0, "took the lock")
    assert await asyncio.wait_for(commit(b), 10) == 1
    assert await asyncio.wait_for(commit(a), 10) == 2


async def test_a_commit_cancelled_while_another_in_this_process_commits_lets_go_too(pair):
    """The process's own lock (another commit of this process holds it) is waited for in a
    thread as well."""
    a, _b, _holder, _lock_path = pair
    a._write_lock.acquire()  # what an import's or a schema change's commit holds meanwhile
    waiting = asyncio.ensure_future(a.begin_commit())
    await asyncio.sleep(0)  # it starts, and waits in a thread
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    a._write_lock.release()
    assert await asyncio.wait_for(commit(a), 10) == 1


async def test_a_commit_the_database_refuses_to_begin_gives_the_locks_back(pair):
    a, b, _holder, _lock_path = pair
    a._writer.execute("PRAGMA query_only=1")  # BEGIN IMMEDIATE is refused from now on
    with pytest.raises(sqlite3.OperationalError):
        await a.begin_commit()
    assert not a._writer.in_transaction
    assert await asyncio.wait_for(commit(b), 10) == 1  # the file lock is free
    a._writer.execute("PRAGMA query_only=0")
    assert await asyncio.wait_for(commit(a), 10) == 2  # and the process lock


def test_the_serve_lock_waits_only_for_the_workers_of_a_process_that_exited(tmp_path):
    held = ServeLock(tmp_path / "db.sqlite3")
    held.acquire()
    with pytest.raises(ServeLockHeld, match=f"in use by prefmem process {os.getpid()};"):
        ServeLock(tmp_path / "db.sqlite3").acquire()  # its taker runs: no waiting

    # The taker exited; its workers, holding the lock, are stopping (here: until the third look).
    assert held.fd is not None
    os.pwrite(held.fd, str(dead_pid()).encode().ljust(32), 0)
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        if now[0] > 0.12:
            held.release()

    waiting = ServeLock(tmp_path / "db.sqlite3", clock=lambda: now[0], sleep=sleep)
    waiting.acquire(wait_for_orphans_s=60)
    assert waiting.fd is not None and os.pread(waiting.fd, 32, 0) == str(os.getpid()).encode()

    os.pwrite(waiting.fd, str(dead_pid()).encode(), 0)  # orphans that never stop: it gives up
    never = ServeLock(tmp_path / "db.sqlite3", clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    with pytest.raises(ServeLockHeld, match="which exited; they are still stopping"):
        never.acquire(wait_for_orphans_s=5)
    waiting.release()
