"""Acknowledged mutations survive SIGKILL, in both durability modes.

A subprocess (tests/helpers/durability_writer.py) runs a stream of real mutations on a
real database (a SQLite file, or PostgreSQL) and prints each returned id right after its ``await``; the test kills it
with SIGKILL mid-stream, reopens the database here and requires every printed id.
A process kill is what both modes promise to survive (``normal`` may lose commits only
to a power cut or kernel crash), so the check is the same for both.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from prefmem.backend import Backend

pytestmark = pytest.mark.engines

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "tests" / "apps" / "chat"
WRITER = ROOT / "tests" / "helpers" / "durability_writer.py"
ACKS_BEFORE_KILL = 200
TIMEOUT_S = 30.0


def _lines(stream) -> "queue.Queue[str | None]":
    """Lines of a pipe through a queue, so reading can time out instead of hanging the test."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


@pytest.mark.parametrize("callers", [1, 8], ids=["sequential", "8-callers"])
@pytest.mark.parametrize("durability", ["normal", "full"])
def test_acknowledged_mutations_survive_sigkill(database: Path | str, durability: str, callers: int) -> None:
    db = database
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(APP / "functions"), str(APP / "schema.py"), str(db), durability,
         str(callers)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    acked: list[str] = []
    try:
        lines = _lines(proc.stdout)
        deadline = time.monotonic() + TIMEOUT_S
        assert lines.get(timeout=TIMEOUT_S) == "ready", proc.stderr.read() if proc.poll() is not None else ""
        while len(acked) < ACKS_BEFORE_KILL:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"the writer exited early: {proc.stderr.read()}"
            acked.append(line)
        # Mid-stream: the writer is still issuing mutations when the signal lands.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=TIMEOUT_S)
        # Ids acknowledged between the last read and the kill count too.
        while (line := lines.get(timeout=TIMEOUT_S)) is not None:
            acked.append(line)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    backend = Backend(functions=APP / "functions", schema=APP / "schema.py", db=db, durability=durability).open()
    try:
        stored = {doc["_id"] for doc in backend.documents("channels")}
        with backend.persistence.snapshot() as snap:
            missing_by_get = [doc_id for doc_id in acked if snap.get(doc_id) is None]
    finally:
        backend.close()
    assert len(acked) >= ACKS_BEFORE_KILL and len(set(acked)) == len(acked)
    lost = [doc_id for doc_id in acked if doc_id not in stored]
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged mutations were lost, e.g. {lost[:3]}"
    assert not missing_by_get


@pytest.mark.sqlite_only
async def test_a_full_disk_or_a_read_only_database_is_reported_as_such_and_nothing_is_lost(tmp_path, caplog):
    """SQLite refuses the commit; the client and the log hear the real cause (not a
    follow-on error of the rollback), nothing half-written remains, and once the disk has
    room again commits go on."""
    from prefmem.testing import FunctionFailed, TestBackend

    async with TestBackend(APP / "functions", APP / "schema.py", db=tmp_path / "full.sqlite3") as backend:
        channel = await backend.mutation("messages:create_channel", {"name": "before"})
        writer = backend.app.persistence._writer
        pages = writer.execute("PRAGMA page_count").fetchone()[0]
        writer.execute(f"PRAGMA max_page_count={pages}")  # the disk is full from now on
        with pytest.raises(FunctionFailed, match="commit failed: the database's disk is full"):
            await backend.mutation("messages:send", {"channel": channel, "body": "x" * 100_000})
        assert "the database's disk is full" in caplog.text
        writer.execute("PRAGMA max_page_count=1073741823")
        writer.execute("PRAGMA query_only=1")  # a read-only database
        with pytest.raises(FunctionFailed, match="commit failed: the database is read-only"):
            await backend.mutation("messages:send", {"channel": channel, "body": "y"})
        writer.execute("PRAGMA query_only=0")
        await backend.mutation("messages:send", {"channel": channel, "body": "after"})
        assert [m["body"] for m in backend.table("messages")] == ["after"]


@pytest.mark.sqlite_only
async def test_the_database_and_its_wal_are_readable_by_their_owner_only(tmp_path):
    """They hold password hashes and sessions."""
    import stat

    from prefmem.testing import TestBackend

    db = tmp_path / "private.sqlite3"
    async with TestBackend(APP / "functions", APP / "schema.py", db=db) as backend:
        await backend.mutation("messages:create_channel", {"name": "c"})
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
