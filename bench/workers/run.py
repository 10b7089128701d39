"""Worker processes: prefmem with ``--workers 1`` and ``--workers 2`` side by side (issue 18).

One run on 127.0.0.1 measures both configurations of ``prefmem dev`` on the side-by-side
app, nothing pinned (the load generator shares the two cores with the server, as the
issue asks), the systems taking turns within every repeat:

- W5 mutation throughput (1/16/64 connections pipelining small inserts), with the same-run
  ceilings at one and at two processes: the websocket echo, and the echo that stores every
  frame in SQLite with group commit (``bench/sidebyside/echo_server.py --workers N``);
- contended writes: 64 connections pipelining increments of 4 counters; commits, conflicts
  (batches whose reads another worker overwrote) and re-executed mutations per second;
- W1 per-user live queries and W2 fan-out to 5,000 subscribers, as in bench/sidebyside.

Server CPU and memory are those of the server's whole process tree (the supervisor and
its workers); counters come from every worker (``GET /api/_stats`` answers with its pid).
See bench/README.md for how to read the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import machine
from bench.instructions import AGAINST_TARGET as INSTRUCTIONS_TARGET
from bench.report import RESULTS_DIR, save, summarize
from bench.sidebyside import run as sidebyside
from bench.sidebyside.loadgen import process_tree
from bench.sidebyside.run import APP, ROOT, fmt, free_port, med, run_loadgen, start, table, wait_http

WORKERS = (1, 2)
LOADGEN_TIMEOUT_S = 20 * 60
# Issue 18's targets, in its words.
TARGETS = {
    "instructions": "1 worker no slower than before the commit pipeline: <= 5% more instructions per W5 write",
    "W5": "2 workers >= 1.4x the W5 throughput of 1 worker, the load generator sharing the cores",
    "W2": "W2 fan-out to 5,000 subscribers split across 2 workers faster than 1 worker",
}


def log(msg: str) -> None:
    print(f"[workers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- processes

def start_prefmem(workdir: Path, workers: int) -> dict:
    port = free_port()
    name = f"prefmem-w{workers}"
    cmd = [sys.executable, "-m", "prefmem", "dev", "--functions", str(APP / "functions"), "--schema",
           str(APP / "schema.py"), "--db", str(workdir / f"{name}.sqlite3"), "--port", str(port), "--no-watch",
           "--workers", str(workers)]
    proc = start(name, cmd, None, workdir, {"PREFMEM_STATS": "1", "PYTHONPATH": str(ROOT)})
    wait_http(f"http://127.0.0.1:{port}/version", proc, workdir, name)
    return {"name": name, "kind": "prefmem", "port": port, "pid": proc.pid, "workers": workers}


def start_echo(workdir: Path, workers: int, persist: bool) -> dict:
    port = free_port()
    name = f"echo{'+sqlite' if persist else ''}-w{workers}"
    cmd = [sys.executable, "-m", "bench.sidebyside.echo_server", "--port", str(port), "--workers", str(workers)]
    if persist:
        cmd += ["--persist", str(workdir / f"{name}.sqlite3")]
    proc = start(name, cmd, None, workdir, {"PYTHONPATH": str(ROOT)})
    wait_http(f"http://127.0.0.1:{port}/version", proc, workdir, name)
    return {"name": name, "kind": "echo", "port": port, "pid": proc.pid, "workers": workers}


def _started_at(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]  # starttime: tells a reused pid apart
    except (OSError, IndexError):
        return None


def stop_all() -> None:
    """Stop every server (bench/sidebyside's ``stop_all``: SIGINT to the supervisor, which
    stops its workers), then kill any worker that outlived its supervisor, by pid."""
    left = [(pid, _started_at(pid)) for proc in sidebyside._PROCS for pid in process_tree(proc.pid)[1:]]
    sidebyside.stop_all()
    for pid, started in left:
        if started is not None and _started_at(pid) == started:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# ---------------------------------------------------------------------------- config

def config(args: argparse.Namespace) -> dict:
    quick, r = args.quick, args.repeats
    return {
        "workloads": args.workloads,
        "W5": {"clients": [1, 16, 64], "depth": 16, "warm_s": 0.3, "seconds": 0.5 if quick else 1.0, "repeats": r},
        "contended": {"clients": 64, "depth": 16, "counters": 4, "warm_s": 0.3, "seconds": 0.5 if quick else 1.0,
                      "repeats": r},
        "W1": {"users": 200 if quick else 1000, "writers": 8, "rates": [50, 200, 1000],
               "extra_rates": [2000] if quick else [2000, 4000, 6000, 8000], "seconds": 1.0 if quick else 2.0,
               "drain_s": 3.0, "recover_s": 30.0, "repeats": r},
        "W2": {"levels": [100, 500] if quick else [100, 1000, 5000], "repeats": r, "timeout_s": 10.0},
    }


# ---------------------------------------------------------------------------- summaries

def _paired(a: list[dict], b: list[dict], key: str, where: Any) -> dict | None:
    """``a / b`` of ``key`` for each repeat both measured (the windows that took turns), summarised."""
    by_repeat = {w["repeat"]: w[key] for w in b if where(w) and w.get(key)}
    values = [w[key] / by_repeat[w["repeat"]] for w in a if where(w) and w.get(key) is not None
              and w["repeat"] in by_repeat]
    return summarize(values) if values else None


def _best_rates(windows: list[dict]) -> list[dict]:
    """Each repeat's best rate over W5's client counts, as ``{"repeat", "rate"}``: the
    throughput a system sustains once the load saturates it. Fewer clients may not (one
    never does: a lone client waits for each commit), and how many it takes depends on the
    system's latency, not its capacity."""
    best: dict[int, float] = {}
    for w in windows:
        if w.get("rate"):
            best[w["repeat"]] = max(best.get(w["repeat"], 0.0), w["rate"])
    return [{"repeat": repeat, "rate": rate} for repeat, rate in best.items()]


def summarise(raw: dict, cfg: dict) -> dict:
    wl = raw["workloads"]
    out: dict[str, Any] = {}
    if "W5" in wl:
        systems = wl["W5"]["systems"]
        s: dict[str, Any] = {}
        for name, windows in systems.items():
            s[name] = {}
            for n in cfg["W5"]["clients"]:
                ws = [w for w in windows if w["clients"] == n]
                row = {"rate": med([w["rate"] for w in ws]), "errors": sum(w["errors"] for w in ws),
                       "server_cpu_percent": med([w.get("server_cpu_percent") for w in ws]),
                       "loadgen_cpu_percent": med([w.get("loadgen_cpu_percent") for w in ws]),
                       "others_cpu_percent": med([w.get("others_cpu_percent") for w in ws]),
                       # what a write costs the server, whatever share of the cores it got
                       "per_core": med([100 * w["rate"] / w["server_cpu_percent"] for w in ws
                                        if w.get("server_cpu_percent")]),
                       "mutations_per_commit": med([w.get("mutations_per_commit") for w in ws]),
                       # the busiest worker's share of the writes
                       "busiest_share": med([max(w["mutations_per_worker"]) / sum(w["mutations_per_worker"])
                                             for w in ws if sum(w.get("mutations_per_worker") or [0])])}
                workers = name.rsplit("-w", 1)[1]
                if not name.startswith("echo-"):
                    row["vs_echo"] = _paired(ws, systems.get(f"echo-w{workers}", []), "rate", lambda w, n=n:
                                             w["clients"] == n)
                if name.startswith("prefmem"):
                    row["vs_floor"] = _paired(ws, systems.get(f"echo+sqlite-w{workers}", []), "rate",
                                              lambda w, n=n: w["clients"] == n)
                if workers != "1":
                    base = name.rsplit("-w", 1)[0] + "-w1"
                    row["vs_1_worker"] = _paired(ws, systems.get(base, []), "rate", lambda w, n=n: w["clients"] == n)
                s[name][str(n)] = row
        out["W5"] = s
        throughput: dict[str, Any] = {}
        for name, windows in systems.items():
            best = _best_rates(windows)
            if not best:
                continue
            throughput[name] = {"rate": summarize([w["rate"] for w in best])}
            if not name.endswith("-w1"):
                one = _best_rates(systems.get(name.rsplit("-w", 1)[0] + "-w1", []))
                throughput[name]["vs_1_worker"] = _paired(best, one, "rate", lambda w: True)
        out["W5_throughput"] = throughput
    if "contended" in wl:
        s = {}
        for name, windows in wl["contended"]["systems"].items():
            s[name] = {k: med([w.get(k) for w in windows]) for k in (
                "rate", "conflicts_per_s", "reexecuted_per_s", "reexecuted_share", "mutations_per_commit",
                "server_cpu_percent", "loadgen_cpu_percent", "others_cpu_percent")}
            s[name]["errors"] = sum(w["errors"] for w in windows)
            s[name]["totals"] = wl["contended"]["totals"].get(name)
            if not name.endswith("-w1"):
                s[name]["vs_1_worker"] = _paired(windows, wl["contended"]["systems"].get(
                    name.rsplit("-w", 1)[0] + "-w1", []), "rate", lambda w: True)
        out["contended"] = s
    if "W1" in wl:
        s = {}
        for name, windows in wl["W1"]["systems"].items():
            levels = {}
            for rate in cfg["W1"]["rates"] + cfg["W1"]["extra_rates"]:
                ws = [w for w in windows if w["rate"] == rate]
                if ws:
                    levels[str(rate)] = {"windows": len(ws), **{k: med([w[k] for w in ws]) for k in (
                        "p50_ms", "p99_ms", "lost", "wasted_pushes", "cpu_percent", "loadgen_cpu_percent",
                        "others_cpu_percent", "rss_mb")}}
            held = [int(r) for r, lv in levels.items() if lv["p99_ms"]["median"] < 100 and lv["lost"]["median"] == 0
                    and lv["windows"] == cfg["W1"]["repeats"]]
            s[name] = {"levels": levels, "highest_rate_p99_under_100ms": max(held) if held else 0,
                       "wasted_pushes_total": sum(w["wasted_pushes"] for w in windows)}
        out["W1"] = s
    if "W2" in wl:
        s = {}
        for name, windows in wl["W2"]["systems"].items():
            s[name] = {}
            for n in cfg["W2"]["levels"]:
                ws = [w for w in windows if w["subscribers"] == n]
                row = {k: med([w.get(k) for w in ws]) for k in (
                    "last_ms", "median_ms", "executions_per_commit", "missing", "server_cpu_percent",
                    "loadgen_cpu_percent", "rss_mb")}
                row["sessions_per_worker"] = ws[-1].get("sessions_per_worker") if ws else None
                if not name.endswith("-w1"):
                    row["vs_1_worker"] = _paired(ws, [w for w in wl["W2"]["systems"].get(
                        name.rsplit("-w", 1)[0] + "-w1", []) if w["subscribers"] == n], "last_ms", lambda w: True)
                s[name][str(n)] = row
        out["W2"] = s
    return out


def instructions_check() -> dict | None:
    """The last ``python -m bench instructions --cases prefmem --against COMMIT`` on this machine,
    if any: counting under valgrind takes minutes, so it is not part of this run."""
    path = RESULTS_DIR / "instructions.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    against = data.get("against")
    per_write = data.get("instructions_per_write", {})
    if not against or "prefmem" not in per_write or f"prefmem@{against}" not in per_write:
        return None
    now, before = per_write["prefmem"], per_write[f"prefmem@{against}"]
    return {"now": now, "before": before, "commit": against, "ratio": now / before,
            "measured": time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))}


def targets(summary: dict, instructions: dict | None) -> list[dict]:
    checks = []
    if instructions is not None:
        checks.append({"target": f"1 worker: instructions per W5 write <= {INSTRUCTIONS_TARGET:.2f}x commit "
                                 f"{instructions['commit']}",
                       "value": f"{instructions['now']:,.0f} vs {instructions['before']:,.0f} = "
                                f"{instructions['ratio']:.3f}x (bench instructions, {instructions['measured']})",
                       "met": instructions["ratio"] <= INSTRUCTIONS_TARGET})
    else:
        checks.append({"target": "1 worker: instructions per W5 write <= 1.05x before the pipeline",
                       "value": "not measured: python -m bench instructions --cases prefmem --against 4626169",
                       "met": None})
    best = summary.get("W5_throughput", {}).get("prefmem-w2", {}).get("vs_1_worker")
    if best:
        levels = summary["W5"]["prefmem-w2"]
        at = ", ".join(f"{row['vs_1_worker']['median']:.2f}× at {n}" for n, row in levels.items()
                       if row.get("vs_1_worker"))
        others = [row.get("others_cpu_percent") for system in ("prefmem-w1", "prefmem-w2")
                  for row in summary["W5"][system].values()]
        busy = max((o["median"] for o in others if o), default=0.0)
        checks.append({"target": "W5 throughput (best rate over the client counts): 2 workers >= 1.4x 1 worker",
                       "value": f"{best['median']:.2f}× (per client count: {at}; other processes: up to "
                                f"{busy:.0f} % of a core)",
                       "met": best["median"] >= 1.4})
    w2 = summary.get("W2", {}).get("prefmem-w2", {})
    if w2:
        top = max(w2, key=int)
        one = summary["W2"]["prefmem-w1"][top]["last_ms"]
        two = w2[top]["last_ms"]
        if one and two:
            checks.append({"target": f"W2, {int(top):,} subscribers: 2 workers' last delivery sooner than 1 worker's",
                           "value": f"{two['median']:,.0f} vs {one['median']:,.0f} ms "
                                    f"({two['median'] / one['median']:.2f}×)",
                           "met": two["median"] < one["median"]})
    return checks


# ---------------------------------------------------------------------------- printing

def _split(shares: list | None) -> str:
    return "-" if not shares else " / ".join(str(s) for s in shares)


def print_report(data: dict) -> None:
    cfg, summ, raw = data["config"], data["summary"], data["raw"]
    print("\n" + "=" * 100)
    print(f"workers: prefmem --workers 1 vs --workers 2 (issue 18); each figure the median of "
          f"{cfg['W5']['repeats']} runs [min–max]")
    print(machine.one_line(data["machine"]))
    print(f"load average (1 min) at start {data['machine']['load_average_at_start']:.2f}, per workload: "
          + ", ".join(f"{k} {v['loadavg_start']:.2f}" for k, v in raw["workloads"].items())
          + f", at end {data['load_average_at_end']:.2f}")
    warning = machine.busy_warning(data["machine"])
    if warning:
        print(warning)
    for note in data["notes"]:
        print(f"note: {note}")
    if "W5" in summ:
        rows = []
        for name, levels in summ["W5"].items():
            for n, row in levels.items():
                rows.append([name, n, fmt(row["rate"]), fmt(row.get("vs_1_worker"), ".2f"),
                             fmt(row.get("vs_echo"), ".2f"), fmt(row.get("vs_floor"), ".2f"),
                             fmt(row["per_core"], ",.0f", False),
                             fmt(row["mutations_per_commit"], ".1f", False),
                             fmt(row["busiest_share"], ".0%", False), fmt(row["server_cpu_percent"], ".0f", False),
                             fmt(row["loadgen_cpu_percent"], ".0f", False), fmt(row["others_cpu_percent"], ".0f", False),
                             str(row["errors"])])
        table(f"W5 mutation throughput: N clients, each pipelining {cfg['W5']['depth']} small inserts, "
              f"{cfg['W5']['seconds']:g} s windows. -wN = N server processes; ratios are per repeat (the windows "
              "took turns), against the echo / floor with as many processes",
              ["system", "clients", "writes/s [min–max]", "vs 1 worker", "vs echo", "vs floor", "per core-s",
               "per commit",
               "busiest worker", "server CPU %", "load gen CPU %", "others' CPU %", "errors"], rows)
    if "W5_throughput" in summ:
        table("W5 throughput: each system's best rate over the client counts, per repeat (the rate it sustains "
              "once the load saturates it)",
              ["system", "writes/s [min–max]", "vs 1 worker"],
              [[name, fmt(row["rate"]), fmt(row.get("vs_1_worker"), ".2f")]
               for name, row in summ["W5_throughput"].items()])
    if "contended" in summ:
        c = cfg["contended"]
        rows = []
        for name, row in summ["contended"].items():
            totals = row["totals"] or {}
            rows.append([name, fmt(row["rate"]), fmt(row.get("vs_1_worker"), ".2f"),
                         fmt(row["conflicts_per_s"], ",.0f"), fmt(row["reexecuted_per_s"], ",.0f"),
                         fmt(row["reexecuted_share"], ".1%", False), fmt(row["mutations_per_commit"], ".1f", False),
                         fmt(row["server_cpu_percent"], ".0f", False), fmt(row["others_cpu_percent"], ".0f", False),
                         str(row["errors"]),
                         f"{totals.get('stored', '-'):,} / {totals.get('acknowledged', '-'):,}"])
        table(f"Contended: {c['clients']} clients pipelining {c['depth']} increments each of {c['counters']} counters "
              "(read, write back + 1); conflicts = commit batches whose reads another worker overwrote, "
              "re-executed = their mutations run again (at most once each)",
              ["system", "increments/s [min–max]", "vs 1 worker", "conflicts/s", "re-executed/s", "re-executed",
               "per commit", "server CPU %", "others' CPU %", "errors", "counted / acked"], rows)
    if "W1" in summ:
        rows = []
        names = list(summ["W1"])
        rates = list(next(iter(summ["W1"].values()))["levels"]) if names else []
        for rate in rates:
            cells = [rate]
            for name in names:
                lv = summ["W1"][name]["levels"].get(rate)
                cells += [fmt(lv["p50_ms"], ".1f", False), fmt(lv["p99_ms"], ".1f"), fmt(lv["lost"], ".0f", False),
                          fmt(lv["cpu_percent"], ".0f", False), fmt(lv["others_cpu_percent"], ".0f", False)] \
                    if lv else ["-"] * 5
            rows.append(cells)
        rows.append(["held p99 < 100 ms"] + sum(([f"{summ['W1'][n]['highest_rate_p99_under_100ms']:,}/s", "", "", "",
                                                   ""] for n in names), []))
        w = cfg["W1"]
        table(f"W1 per-user live queries: {w['users']} subscribers, {w['writers']} writer connections, open-loop "
              f"signals for {w['seconds']:g} s per window; latency = write sent -> owning client has it",
              ["signals/s"] + sum(([f"{n} p50 ms", f"{n} p99 ms [min–max]", "lost", "CPU %", "others' %"]
                                   for n in names), []),
              rows)
    if "W2" in summ:
        rows = []
        for name, levels in summ["W2"].items():
            for n, row in levels.items():
                rows.append([name, n, fmt(row["last_ms"], ",.0f"), fmt(row.get("vs_1_worker"), ".2f"),
                             fmt(row["median_ms"], ",.0f", False), fmt(row["executions_per_commit"], ".0f", False),
                             _split(row["sessions_per_worker"]), fmt(row["server_cpu_percent"], ".0f", False),
                             fmt(row["loadgen_cpu_percent"], ".0f", False), fmt(row["rss_mb"], ".0f", False)])
        table("W2 fan-out: one shared query, one commit; time from the write sent until the LAST subscriber has it",
              ["system", "subscribers", "last ms [min–max]", "vs 1 worker", "median ms", "executions",
               "sessions per worker", "server CPU %", "load gen CPU %", "RSS MB"], rows)
    rows = [[t["target"], t["value"], "-" if t["met"] is None else "MET" if t["met"] else "NOT MET"]
            for t in data["targets"]]
    table("Targets (issue 18)", ["target", "measured", ""], rows)
    print()


# ---------------------------------------------------------------------------- main

def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench workers", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure, at least 3 (default 3)")
    parser.add_argument("--quick", action="store_true", help="fewer clients and shorter windows (a smoke test; "
                        "the figures are not the issue's)")
    parser.add_argument("--workloads", nargs="+", default=["W5", "contended", "W1", "W2"],
                        choices=["W5", "contended", "W1", "W2"])
    parser.add_argument("--tmpdir", default=None, help="where databases go (default: the system temp dir)")
    parser.add_argument("--output", default=str(RESULTS_DIR / "workers.json"))
    args = parser.parse_args(argv)
    if args.repeats < 3:
        parser.error("--repeats must be at least 3: a figure is a median with its min and max")
    cfg = config(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a SIGTERM still stops every server (finally)
    root = Path(tempfile.mkdtemp(prefix="prefmem-workers-", dir=args.tmpdir))
    info = machine.describe(root)
    notes = [
        "nothing is pinned: the servers' processes and the load generator share the machine's cores",
        "server CPU % and RSS are the whole process tree's (the supervisor and its workers; 100 % = one core)",
        "W5 and contended take turns window by window, W1 rate by rate, W2 commit by commit",
        "others' CPU % = what the rest of the machine used during the window (100 % = one core)",
    ]
    if info["sched_autogroup"]:
        notes.append("the kernel shares CPU between sessions first (sched_autogroup_enabled=1): while other "
                     "sessions keep the cores busy, this run's processes share one session's part of them, "
                     "however many workers there are, and 2 workers cannot show their gain")
    if args.quick:
        notes.append("--quick: client counts and windows are scaled down; these are not the issue's figures")
    log(f"workdir {root}")
    t_start = time.monotonic()
    try:
        systems = []
        for workers in WORKERS:
            log(f"starting prefmem --workers {workers}")
            systems.append(start_prefmem(root, workers))
        ceilings = [start_echo(root, workers, persist) for persist in (False, True) for workers in WORKERS] \
            if "W5" in args.workloads else []
        log("load generator: " + ", ".join(s["name"] for s in systems + ceilings))
        raw = run_loadgen("bench.workers.loadgen", {"systems": systems, "ceilings": ceilings, "config": cfg}, root,
                          LOADGEN_TIMEOUT_S)
    finally:
        stop_all()
        shutil.rmtree(root, ignore_errors=True)
    summary = summarise(raw, cfg)
    instructions = instructions_check()
    data = {
        "workload": "workers", "description": __doc__.splitlines()[0], "machine": info,
        "load_average_at_end": os.getloadavg()[0], "notes": notes, "config": cfg,
        "summary": summary, "instructions": instructions, "targets": targets(summary, instructions),
        "seconds": time.monotonic() - t_start, "raw": raw,
    }
    print_report(data)
    save(data, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
