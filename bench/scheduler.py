"""Scheduler: scheduled mutations completed per second, and lateness of runs against their time.

Baseline, measured in the same run: the same mutations submitted directly to the
committer, so the ratio is the price of going through ``_scheduled_functions`` (one job
row written at scheduling, one state change in the run's own transaction).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench import machine
from bench.report import summarize, write_json
from prefmem.backend import Backend
from prefmem.scheduler.executor import Executor

APP = Path(__file__).resolve().parent / "apps" / "scheduled"


def _backend(tmp: str) -> Backend:
    return Backend(functions=APP / "functions", schema=APP / "schema.py", db=Path(tmp) / "bench.sqlite3").open()


async def _throughput(jobs: int) -> tuple[float, float]:
    """(scheduled jobs/s, direct mutations/s) on fresh databases."""
    with tempfile.TemporaryDirectory() as tmp:
        backend = _backend(tmp)
        app = backend.app
        fan_out = app.registry.get("ticks:fan_out", allow_internal=True)
        for _ in range(jobs // 1000):
            (await app.committer.submit(fan_out, {"count": 1000.0}, None)).unwrap()
        executor = Executor(app)
        start = time.perf_counter()
        executor.start()
        while executor.completed < jobs:
            await asyncio.sleep(0.005)
        scheduled = jobs / (time.perf_counter() - start)
        await executor.stop()
        backend.close()
    with tempfile.TemporaryDirectory() as tmp:
        backend = _backend(tmp)
        app = backend.app
        tick = app.registry.get("ticks:tick", allow_internal=True)
        start = time.perf_counter()
        # As many in flight as the executor allows, so batching is alike.
        for first in range(0, jobs, 10):
            await asyncio.gather(*(app.committer.submit(tick, {"n": float(i)}, None)
                                   for i in range(first, min(jobs, first + 10))))
        direct = jobs / (time.perf_counter() - start)
        backend.close()
    return scheduled, direct


async def _lateness(jobs: int, spread_ms: float) -> list[float]:
    """Delays (ms) between each job's scheduled time and the start of its run."""
    with tempfile.TemporaryDirectory() as tmp:
        backend = _backend(tmp)
        app = backend.app
        executor = Executor(app)
        executor.start()
        fan_out = app.registry.get("ticks:fan_out", allow_internal=True)
        at = app.clock.now_ms() + 300.0
        (await app.committer.submit(fan_out, {"count": float(jobs), "at": at, "spread_ms": spread_ms},
                                       None)).unwrap()
        deadline = time.monotonic() + spread_ms / 1000.0 + 30
        while executor.completed < jobs and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await executor.stop()
        backend.close()
        return list(executor.start_delays_ms)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(args: argparse.Namespace) -> dict:
    scheduled, direct, medians, p99s = [], [], [], []
    for _ in range(args.repeats):
        s, d = asyncio.run(_throughput(args.jobs))
        scheduled.append(s)
        direct.append(d)
        delays = asyncio.run(_lateness(args.timed_jobs, args.spread_ms))
        medians.append(statistics.median(delays))
        p99s.append(_percentile(delays, 0.99))
    with tempfile.TemporaryDirectory() as tmp:
        described = machine.describe(tmp)
    return {
        "machine": described,
        "config": vars(args),
        "scheduled_per_s": summarize(scheduled),
        "direct_per_s": summarize(direct),
        "lateness_median_ms": summarize(medians),
        "lateness_p99_ms": summarize(p99s),
    }


def print_table(data: dict) -> None:
    cfg = data["config"]
    print(f"\nscheduler: {cfg['jobs']} run_after(0) mutations; lateness of {cfg['timed_jobs']} run_at jobs "
          f"spread over {cfg['spread_ms']:.0f} ms; median of {cfg['repeats']} runs [min-max]")
    print(machine.one_line(data["machine"]))
    rows = [
        ("scheduled mutations completed /s", data["scheduled_per_s"], "{:,.0f}"),
        ("same mutations submitted directly /s", data["direct_per_s"], "{:,.0f}"),
        ("start delay after scheduled time, median (ms)", data["lateness_median_ms"], "{:.1f}"),
        ("start delay after scheduled time, p99 (ms)", data["lateness_p99_ms"], "{:.1f}"),
    ]
    for label, figure, fmt in rows:
        spread = f"[{fmt.format(figure['min'])}-{fmt.format(figure['max'])}]"
        print(f"  {label:<48} {fmt.format(figure['median']):>10}  {spread}")
    ratio = data["scheduled_per_s"]["median"] / data["direct_per_s"]["median"]
    print(f"  scheduled / direct throughput: {ratio:.2f}x\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scheduler", description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000, help="scheduled mutations per throughput run (x1000)")
    parser.add_argument("--timed-jobs", type=int, default=200)
    parser.add_argument("--spread-ms", type=float, default=2000.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    data = measure(args)
    print_table(data)
    print(f"written to {write_json('scheduler', data)}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
