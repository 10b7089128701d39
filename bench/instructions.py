"""Instructions the server spends per W5 write, counted by valgrind: prefmem, the echo and the floor.

``python -m bench instructions [--writes 6400 --base 1600]`` (≈4 min; not part of ``python -m
bench``). Wall-clock throughput on a shared machine moves by tens of percent within minutes;
an instruction count does not (callgrind gives the same count to about 0.3 % run after run),
so a change to the write path can be judged by a few percent. What it leaves out is what
instructions do not show: system calls, cache misses, waiting.

Each case is a W5 server (bench/sidebyside) run under ``valgrind --tool=callgrind``, sent
exactly ``--writes`` pipelined writes (W5's small insert frame, 16 connections, 16 in flight
each), then stopped; and again with ``--base`` writes. The difference of the two counts over
the difference of the writes is the cost of one write, with start-up and shutdown cancelled
out. The cases: prefmem (``bench:insert`` through the sync protocol, normal durability),
``prefmem-w2`` (the same with ``--workers 2``: every process counted, so what sharing the
database costs per write), the websocket echo (the W5 ceiling) and the echo that stores
every frame with group commit (the W5 floor), on the same server stack.

``--against COMMIT`` also counts prefmem as it was at that commit (exported with ``git
archive`` into a temporary directory, served by the same Python), and checks issue 18's
target: at most 5 % more instructions per write than then.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import machine
from bench.report import write_json
from bench.sidebyside import loadgen, pipeline
from bench.sidebyside.run import ROOT, free_port, wait_http

CASES = ("prefmem", "prefmem-w2", "echo", "echo+sqlite")
AGAINST_TARGET = 1.05  # issue 18: at most 5 % more instructions per write than before the commit pipeline


def server_command(case: str, port: int, workdir: Path, root: Path = ROOT) -> tuple[list[str], str]:
    """The server of a case (prefmem from the tree at ``root``), and the kind of load it takes
    (``loadgen.w5_load``)."""
    if case.startswith("prefmem"):
        app = root / "bench" / "apps" / "sidebyside"
        return [sys.executable, "-m", "prefmem", "dev", "--functions", str(app / "functions"), "--schema",
                str(app / "schema.py"), "--db", str(workdir / "prefmem.sqlite3"), "--port", str(port),
                "--no-watch", *(["--workers", "2"] if case == "prefmem-w2" else [])], "prefmem"
    command = [sys.executable, "-m", "bench.sidebyside.echo_server", "--port", str(port)]
    if case == "echo+sqlite":
        command += ["--persist", str(workdir / "floor.sqlite3")]
    return command, "echo"


def count(case: str, writes: int, workdir: Path, clients: int, depth: int, root: Path = ROOT) -> int:
    """Instructions of one server run under callgrind that answers ``writes`` writes."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"{case}-{writes}-", dir=workdir))
    port = free_port()
    command, kind = server_command(case, port, run_dir, root)
    log = run_dir / "valgrind.log"
    workers = 2 if case == "prefmem-w2" else 1
    with open(log, "wb") as out:
        # With workers, every process of the server is counted (they are started by exec).
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                                 f"--trace-children={'yes' if workers > 1 else 'no'}", *command],
                                stdout=out, stderr=subprocess.STDOUT, cwd=run_dir,
                                env={**os.environ, "PYTHONPATH": str(root), "PREFMEM_STATS": "1"})
    try:
        wait_http(f"http://127.0.0.1:{port}/version", proc, run_dir, "valgrind", seconds=300.0)
        system = loadgen.System({"name": case, "kind": kind, "port": port, "pid": proc.pid, "workers": workers})
        asyncio.run(system.ready(600.0))  # every worker listens before the first connection
        result = asyncio.run(pipeline.run_count(port, clients=clients, depth=depth, writes=writes,
                                                **loadgen.w5_load(system)))
        if result["ops"] != writes or result["errors"]:
            raise RuntimeError(f"{case}: {result['ops']} of {writes} writes answered, {result['errors']} failed")
        proc.send_signal(signal.SIGINT)  # a clean stop: valgrind reports when the process exits
        proc.wait(300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    found = re.findall(r"Collected : (\d+)", log.read_text(errors="replace"))
    if len(found) < 1 + workers * (workers > 1):  # the parent, and each worker
        raise RuntimeError(f"{case}: valgrind reported {len(found)} counts; see {log}")
    return sum(int(n) for n in found)


def export(commit: str, workdir: Path) -> Path:
    """The repository's files at ``commit``, in a directory of their own."""
    target = Path(tempfile.mkdtemp(prefix=f"tree-{commit}-", dir=workdir))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=6400, help="writes in the measured run (default 6400)")
    parser.add_argument("--base", type=int, default=1600, help="writes in the run subtracted (default 1600)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--depth", type=int, default=16)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--against", metavar="COMMIT", default=None,
                        help="also count prefmem at this commit (e.g. 4626169, before the commit pipeline)")
    args = parser.parse_args(argv)
    if args.writes <= args.base:
        parser.error("--writes must be more than --base")
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind); it counts the instructions",
              file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="prefmem-instructions-"))
    started = time.monotonic()
    per_write: dict[str, float] = {}
    try:
        for case in args.cases:
            low = count(case, args.base, workdir, args.clients, args.depth)
            high = count(case, args.writes, workdir, args.clients, args.depth)
            per_write[case] = (high - low) / (args.writes - args.base)
            print(f"{case}: {per_write[case]:,.0f} instructions per write", file=sys.stderr)
        if args.against:
            old = export(args.against, workdir)
            case = f"prefmem@{args.against}"
            low = count("prefmem", args.base, workdir, args.clients, args.depth, old)
            high = count("prefmem", args.writes, workdir, args.clients, args.depth, old)
            per_write[case] = (high - low) / (args.writes - args.base)
            print(f"{case}: {per_write[case]:,.0f} instructions per write", file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    info = machine.describe(Path(tempfile.gettempdir()))
    print(f"\ninstructions: server instructions per W5 write (valgrind callgrind), {args.writes} - {args.base} "
          f"writes over {args.clients} connections x {args.depth} in flight")
    print(machine.one_line(info))
    header = f"{'server':<18}{'instructions/write':>20}{'vs echo':>10}{'echo / it':>11}"
    print(header + "\n" + "-" * len(header))
    echo = per_write.get("echo")
    for case, value in per_write.items():
        over = f"{value / echo:.2f}×" if echo else "-"
        share = f"{echo / value:.2f}×" if echo else "-"
        print(f"{case:<18}{value:>20,.0f}{over:>10}{share:>11}")
    print("echo / it: the throughput this server could reach against the echo if instructions were all "
          "that counted (W5's 'vs echo')")
    before, now = per_write.get(f"prefmem@{args.against}"), per_write.get("prefmem")
    if before and now:
        verdict = "MET" if now / before <= AGAINST_TARGET else "NOT MET"
        print(f"prefmem now vs {args.against}: {now:,.0f} / {before:,.0f} = {now / before:.3f}× "
              f"(target <= {AGAINST_TARGET:.2f}×: {verdict})")
    path = write_json("instructions", {"workload": "instructions", "machine": info, "config": vars(args),
                                       "against": args.against,
                                       "instructions_per_write": per_write,
                                       "seconds": time.monotonic() - started})
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
