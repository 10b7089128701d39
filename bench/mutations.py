"""Mutations per second: single-document inserts through the runner vs a raw sqlite3 loop.

What is measured, per durability mode (``normal`` = WAL + synchronous=NORMAL, ``full`` =
WAL + synchronous=FULL, see ``prefmem.persistence.base.Durability``):

- baseline: a plain ``sqlite3`` loop on its own file, same journal mode and synchronous
  setting, one ``BEGIN; INSERT; COMMIT`` per row (a text id and a blob).
- ``1 caller``: one asyncio caller awaiting ``items:insert`` mutations one after another
  through ``Runner.call``: one commit per mutation, like the baseline.
- ``N callers``: N asyncio callers doing the same concurrently, so the Committer batches
  the queued mutations into group commits (one SQLite transaction, one fsync in ``full``).

Each figure is the median of several timed windows, each on a fresh database file, with
min and max; ratios are prefmem's median over the baseline's median in the same mode.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from bench import machine
from bench.report import summarize, write_json
from prefmem.backend import Backend

APP = Path(__file__).resolve().parent / "apps" / "inserts"
MUTATION = "items:insert"
PAYLOAD = os.urandom(128)  # the blob every row carries, baseline and prefmem alike
WARMUP_OPS = 50


@dataclass
class Window:
    """One timed window: how many inserts committed in how long, in how many commits."""

    ops: int
    seconds: float
    commits: int

    @property
    def rate(self) -> float:
        return self.ops / self.seconds


# ---------------------------------------------------------------------------- baseline

def sqlite_loop(db_dir: Path, durability: str, seconds: float) -> Window:
    conn = sqlite3.connect(db_dir / "baseline.sqlite3", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        conn.execute("CREATE TABLE items (id TEXT PRIMARY KEY, seq REAL NOT NULL, payload BLOB NOT NULL) "
                     "WITHOUT ROWID")
        execute = conn.execute

        def insert_one(seq: int) -> None:
            execute("BEGIN")
            execute("INSERT INTO items (id, seq, payload) VALUES (?, ?, ?)", (os.urandom(16).hex(), seq, PAYLOAD))
            execute("COMMIT")

        for i in range(WARMUP_OPS):
            insert_one(-i)
        ops = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            insert_one(ops)
            ops += 1
        return Window(ops, time.perf_counter() - start, ops)
    finally:
        conn.close()


# ---------------------------------------------------------------------------- prefmem

async def _runner_window(db_dir: Path, durability: str, seconds: float, callers: int) -> Window:
    backend = Backend(functions=APP / "functions", schema=APP / "schema.py", db=db_dir / "prefmem.sqlite3",
                      durability=durability).open()
    try:
        app = backend.app
        assert app is not None

        async def insert_one(seq: int) -> None:
            outcome = await app.call(MUTATION, {"seq": float(seq), "payload": PAYLOAD}, kind="mutation")
            if not outcome.ok:
                raise RuntimeError(f"{MUTATION} failed: {outcome.error}")

        for i in range(WARMUP_OPS):
            await insert_one(-i)
        committer = app.committer
        commits_before = committer.commits
        deadline = time.perf_counter() + seconds

        async def caller(offset: int) -> int:
            done = 0
            while time.perf_counter() < deadline:
                await insert_one(offset + done)
                done += 1
            return done

        start = time.perf_counter()
        counts = await asyncio.gather(*(caller(k * 10_000_000) for k in range(callers)))
        elapsed = time.perf_counter() - start
        await committer.drain()
        return Window(sum(counts), elapsed, committer.commits - commits_before)
    finally:
        backend.close()


def runner_window(db_dir: Path, durability: str, seconds: float, callers: int) -> Window:
    # A fresh event loop per window: the Committer's task and events belong to one loop.
    return asyncio.run(_runner_window(db_dir, durability, seconds, callers))


# ---------------------------------------------------------------------------- driver

def measure(args: argparse.Namespace) -> dict:
    cases = [("sqlite3", 1), ("prefmem", 1), ("prefmem", args.callers)]
    plan = [(mode, kind, callers) for mode in args.durability for kind, callers in cases]
    root = Path(tempfile.mkdtemp(prefix="prefmem-bench-", dir=args.tmpdir))
    info = machine.describe(root)
    windows: dict[tuple[str, str, int], list[Window]] = {key: [] for key in plan}
    progress = tqdm(total=len(plan) * args.repeats, desc="mutations", unit="window", file=sys.stderr, leave=False)
    try:
        # Repeats interleave the cases, so a slow spell of the machine hits every case alike.
        for _ in range(args.repeats):
            for mode, kind, callers in plan:
                db_dir = Path(tempfile.mkdtemp(dir=root))
                try:
                    if kind == "sqlite3":
                        window = sqlite_loop(db_dir, mode, args.seconds)
                    else:
                        window = runner_window(db_dir, mode, args.seconds, callers)
                finally:
                    shutil.rmtree(db_dir, ignore_errors=True)
                windows[(mode, kind, callers)].append(window)
                progress.update()
    finally:
        progress.close()
        shutil.rmtree(root, ignore_errors=True)

    rows = []
    for mode in args.durability:
        base = summarize([w.rate for w in windows[(mode, "sqlite3", 1)]])
        for kind, callers in cases:
            ws = windows[(mode, kind, callers)]
            rate = summarize([w.rate for w in ws])
            ops, commits = sum(w.ops for w in ws), sum(w.commits for w in ws)
            rows.append({
                "durability": mode,
                "case": "sqlite3 insert+commit loop" if kind == "sqlite3" else
                        f"prefmem, {callers} caller{'s' if callers > 1 else ''}",
                "engine": kind,
                "callers": callers,
                "mutations_per_s": rate,
                "ratio_vs_sqlite3": {"median": rate["median"] / base["median"], "min": rate["min"] / base["median"],
                                     "max": rate["max"] / base["median"]},
                "inserts_per_commit": ops / commits if commits else None,
            })
    return {
        "workload": "mutations",
        "description": "single-document inserts per second: prefmem function runner vs raw sqlite3 insert+commit",
        "machine": info,
        "config": {"seconds_per_window": args.seconds, "repeats": args.repeats, "callers": args.callers,
                   "payload_bytes": len(PAYLOAD), "durability": args.durability},
        "results": rows,
    }


def print_table(data: dict) -> None:
    cfg = data["config"]
    print(f"\nmutations: single-document inserts per second, median of {cfg['repeats']} windows of "
          f"{cfg['seconds_per_window']:g} s [min–max]; baseline = raw sqlite3, one commit per insert, same mode")
    print(machine.one_line(data["machine"]))
    warning = machine.busy_warning(data["machine"])
    if warning:
        print(warning)
    header = f"{'durability':<10}  {'case':<27} {'inserts/s':>10}  {'[min – max]':<19} {'vs sqlite3':>10}  {'per commit':>10}"
    print()
    print(header)
    print("-" * len(header))
    for row in data["results"]:
        r, q = row["mutations_per_s"], row["ratio_vs_sqlite3"]
        spread = f"[{r['min']:,.0f} – {r['max']:,.0f}]"
        ratio = "baseline" if row["engine"] == "sqlite3" else f"{q['median']:.2f}×"
        batch = f"{row['inserts_per_commit']:.1f}" if row["inserts_per_commit"] else "-"
        print(f"{row['durability']:<10}  {row['case']:<27} {r['median']:>10,.0f}  {spread:<19} {ratio:>10}  {batch:>10}")
    print()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench mutations", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed window (default 1.0)")
    parser.add_argument("--repeats", type=int, default=3, help="windows per figure, at least 3 (default 3)")
    parser.add_argument("--callers", type=int, default=64, help="concurrent callers in the batched case (default 64)")
    parser.add_argument("--durability", nargs="+", choices=["normal", "full"], default=["normal", "full"])
    parser.add_argument("--tmpdir", default=None, help="where the temporary database files go (default: the "
                        "system temp dir); the filesystem decides what an fsync costs")
    args = parser.parse_args(argv)
    if args.repeats < 3:
        parser.error("--repeats must be at least 3: a figure is a median with its min and max")
    data = measure(args)
    print_table(data)
    path = write_json("mutations", data)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
