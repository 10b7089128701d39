"""What ``python -m bench workers`` reads from servers with several processes: the CPU and
memory of the whole process tree, every worker's counters, and the contended workload's
increments, against real servers on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest

from bench.sidebyside import loadgen
from bench.workers import loadgen as workers_loadgen
from tests.helpers.server import ROOT, RunningServer, free_port

pytestmark = pytest.mark.slow

# A parent that starts a child holding 40 MB and then burning CPU, and waits: the parent
# itself uses almost none of either.
BURNING_CHILD = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time\\nkeep = b'x' * (40 << 20)\\n"
                          "end = time.process_time() + 0.6\\nwhile time.process_time() < end: pass\\n"
                          "time.sleep(60)"])
print(child.pid, flush=True)
child.wait()
"""


def test_cpu_and_memory_of_a_server_are_its_whole_process_tree():
    parent = subprocess.Popen([sys.executable, "-c", BURNING_CHILD], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert loadgen.process_tree(parent.pid) == [parent.pid, child]
        deadline = time.monotonic() + 30
        while loadgen.cpu_seconds(child) < 0.6:  # the child's busy loop (after its allocation)
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert loadgen.cpu_seconds(parent.pid) >= loadgen.cpu_seconds(child) >= 0.6
        tree, own = loadgen.memory_mb(parent.pid), loadgen.memory_mb(child)
        assert tree["rss_mb"] > own["rss_mb"] >= 40  # the child's 40 MB are counted in the tree
    finally:
        for pid in loadgen.process_tree(parent.pid)[1:]:
            os.kill(pid, signal.SIGTERM)
        parent.wait(10)
    assert loadgen.cpu_seconds(parent.pid) != loadgen.cpu_seconds(parent.pid)  # nan: gone


@pytest.fixture
def two_workers(tmp_path):
    server = RunningServer(ROOT / "bench" / "apps" / "sidebyside", tmp_path / "w.sqlite3",
                           extra=["--workers", "2"], env={"PREFMEM_STATS": "1"}).start()
    yield server
    server.stop()


async def test_stats_are_gathered_from_every_worker_and_added_up(two_workers):
    system = loadgen.System({"name": "prefmem-w2", "kind": "prefmem", "port": two_workers.port,
                             "pid": two_workers.proc.pid, "workers": 2})
    await system.ready()
    res = await loadgen.w5_window(system, clients=16, depth=8, warm_s=0.05, seconds=0.3)
    stats = await system.stats()
    workers = stats["per_worker"]
    assert len(workers) == 2 and set(workers) <= set(loadgen.process_tree(two_workers.proc.pid)[1:])
    assert stats["mutations"] == sum(w["mutations"] for w in workers.values()) >= res["ops"] > 0
    assert sum(res["mutations_per_worker"]) == res["counters"]["mutations"]


async def test_contended_increments_all_land_however_the_workers_conflict(two_workers):
    system = loadgen.System({"name": "prefmem-w2", "kind": "prefmem", "port": two_workers.port,
                             "pid": two_workers.proc.pid, "workers": 2})
    await system.ready()
    cfg = {"clients": 8, "depth": 8, "counters": 2, "warm_s": 0.05, "seconds": 0.3, "repeats": 2}
    out = await workers_loadgen.contended([system], cfg)
    windows, totals = out["systems"]["prefmem-w2"], out["totals"]["prefmem-w2"]
    assert all(w["errors"] == 0 and w["ops"] > 0 for w in windows)
    assert totals["stored"] == totals["acknowledged"] == sum(w["acked"] for w in windows)
    assert set(totals["counters"]) == {"c0", "c1"}
    for w in windows:  # the committers' counters cover every increment of the window
        assert w["counters"]["mutations"] == w["acked"]
        assert 0 <= w["counters"]["conflicts"] <= w["counters"]["reexecuted"] <= w["counters"]["mutations"]


async def test_the_storing_echo_with_two_processes_stores_every_frame_once(tmp_path):
    port = free_port()
    db = tmp_path / "floor.sqlite3"
    proc = subprocess.Popen([sys.executable, "-m", "bench.sidebyside.echo_server", "--port", str(port),
                             "--workers", "2", "--persist", str(db)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/version", timeout=0.5)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the echo server did not start"
                time.sleep(0.05)
        system = loadgen.System({"name": "echo+sqlite-w2", "kind": "echo", "port": port, "pid": proc.pid,
                                 "workers": 2})
        await system.ready()
        res = await loadgen.w5_window(system, clients=16, depth=8, warm_s=0.05, seconds=0.3)
        stats = await system.stats()
    finally:
        proc.terminate()
        proc.wait(10)
    assert res["errors"] == 0 and len(stats["per_worker"]) == 2
    rows = sqlite3.connect(db).execute("SELECT count(*) FROM frames").fetchone()[0]
    assert rows == stats["mutations"] == res["acked"]


def _w5_window(repeat: int, clients: int, rate: float) -> dict:
    return {"repeat": repeat, "clients": clients, "rate": rate, "errors": 0}


def test_w5_throughput_is_each_repeats_best_rate_paired_by_repeat() -> None:
    """The target compares what each system sustains once saturated: its best rate over the
    client counts, repeat by repeat, whichever client count that was."""
    from bench.workers import run

    systems = {
        "prefmem-w1": [_w5_window(0, 1, 10.0), _w5_window(0, 16, 20.0), _w5_window(0, 64, 22.0),
                       _w5_window(1, 1, 9.0), _w5_window(1, 16, 21.0), _w5_window(1, 64, 20.0)],
        "prefmem-w2": [_w5_window(0, 1, 8.0), _w5_window(0, 16, 30.0), _w5_window(0, 64, 36.0),
                       _w5_window(1, 1, 7.0), _w5_window(1, 16, 28.0), _w5_window(1, 64, 25.0)],
    }
    summary = run.summarise({"workloads": {"W5": {"systems": systems}}}, {"W5": {"clients": [1, 16, 64]}})
    best = summary["W5_throughput"]
    assert best["prefmem-w1"]["rate"]["runs"] == [22.0, 21.0]
    assert best["prefmem-w2"]["rate"]["runs"] == [36.0, 28.0]
    assert best["prefmem-w2"]["vs_1_worker"]["runs"] == pytest.approx([36 / 22, 28 / 21])
    [check] = [c for c in run.targets(summary, None) if c["target"].startswith("W5 throughput")]
    assert check["met"] is True  # median of 1.64 and 1.33
    assert "0.79× at 1, 1.42× at 16, 1.44× at 64" in check["value"]

    systems["prefmem-w2"] = [dict(w, rate=w["rate"] * 0.8) for w in systems["prefmem-w2"]]
    summary = run.summarise({"workloads": {"W5": {"systems": systems}}}, {"W5": {"clients": [1, 16, 64]}})
    [check] = [c for c in run.targets(summary, None) if c["target"].startswith("W5 throughput")]
    assert check["met"] is False
