"""A worker's log of the deployment's executions: its own, and what it fetched from its
siblings (``prefmem/siblings.py``), in process; the sockets and real workers are in
tests/e2e/test_workers.py."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from prefmem.logs import ExecutionLog
from prefmem.siblings import Siblings, make_directory
from tests.helpers.server import dead_pid


def _run(log: ExecutionLog, path: str, line: str) -> None:
    log.add(path, "mutation", None, [f"[LOG] {line}"], time.perf_counter())


class FakeSiblings(Siblings):
    """Siblings whose sockets are files in ``directory`` and whose replies come from their
    logs here, as a sibling's ``/api/logs?local=1`` gives them (None: a dead socket)."""

    def __init__(self, directory: Path, logs: dict[str, ExecutionLog | None]) -> None:
        super().__init__(directory, "admin key")
        for name in logs:
            (directory / f"{name}.sock").touch()
        self.logs = logs
        self.asked: list[tuple[str, float]] = []

    async def _fetch(self, name: str, wait: float) -> dict | None:
        self.asked.append((name, wait))
        sibling = self.logs[name[:-5]]
        if sibling is None:
            return None
        after = self._after.get(name, 0)
        records = await sibling.wait_since(after, wait, own=True) if wait else sibling.since(after, own=True)
        return {"entries": [r.to_json() for r in records], "last": sibling.last_seq}


def test_fetched_executions_take_this_logs_numbers_and_stay_apart_from_its_own():
    log, other = ExecutionLog(), ExecutionLog()
    _run(log, "a:one", "here")
    _run(other, "b:two", "there")
    log.add_sibling(other.since(0)[0].to_json())
    assert [(r.seq, r.path, r.lines) for r in log.since(0)] == [(1, "a:one", ["[LOG] here"]),
                                                                 (2, "b:two", ["[LOG] there"])]
    assert [r.path for r in log.since(0, own=True)] == ["a:one"]
    assert log.id != other.id


async def test_each_siblings_executions_are_fetched_once_even_by_pulls_at_once(tmp_path):
    log, b, c = ExecutionLog(), ExecutionLog(), ExecutionLog()
    siblings = FakeSiblings(tmp_path, {"2": b, "3": c})
    _run(b, "b:first", "1")
    _run(c, "c:first", "1")
    await asyncio.gather(siblings.pull(log), siblings.pull(log))
    assert sorted(r.path for r in log.since(0)) == ["b:first", "c:first"]
    seen = log.last_seq
    _run(b, "b:second", "2")
    await siblings.pull(log)
    assert [r.path for r in log.since(seen)] == ["b:second"]  # nothing fetched twice


async def test_a_long_poll_ends_on_news_and_a_dead_sibling_does_not_make_it_spin(tmp_path):
    log, b = ExecutionLog(), ExecutionLog()
    siblings = FakeSiblings(tmp_path, {"2": b, "9": None})  # 9: a worker that exited
    polling = asyncio.ensure_future(siblings.pull(log, wait=30.0))
    for _ in range(5):
        await asyncio.sleep(0)  # the poll waits: the dead sibling answered at once, the others did not
    assert not polling.done()
    assert siblings.asked.count(("9.sock", 30.0)) == 1
    _run(b, "b:late", "news")
    await asyncio.wait_for(polling, 5)
    assert [r.path for r in log.since(0)] == ["b:late"]

    polling = asyncio.ensure_future(siblings.pull(log, wait=30.0))
    for _ in range(5):
        await asyncio.sleep(0)
    _run(log, "a:own", "news here")  # this process's own execution ends the wait too
    await asyncio.wait_for(polling, 5)
    assert not polling.exception()


def test_a_killed_parents_socket_directory_is_removed_by_the_next_one(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    base = tmp_path / f"prefmem-siblings-{os.getuid()}"
    gone = dead_pid()
    (base / f"{gone}-left").mkdir(parents=True)
    (base / f"{gone}-left" / "123.sock").touch()
    (base / f"{os.getppid()}-running").mkdir()  # a parent that runs keeps its own
    made = Path(make_directory())
    assert sorted(p.name for p in base.iterdir()) == sorted([f"{os.getppid()}-running", made.name])
    assert made.name.startswith(f"{os.getpid()}-") and (base.stat().st_mode & 0o777) == 0o700
