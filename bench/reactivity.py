"""Reactivity: reruns and invalidation cost per commit, update latency and fan-out over websockets.

Four figures, measured in one run (issue 3, "Done when"):

1. **Reruns per commit.** 10,000 subscriptions to distinct per-user queries
   (``profiles:get {user}``); one user's profile changes; how many queries rerun
   (target: exactly the affected one). In-process: a real ``Backend`` on a temp SQLite
   file, the real ``Committer`` and ``Subscriptions``, fake subscribers with ``on_flush``.
2. **Invalidation cost, 10,000 subscriptions over 10** (target ≤ 1.5×), in the same
   windows: the invalidation step itself (``Subscriptions.advance``: stabbing the
   written index keys into the interval trees) and end to end, from the commit becoming
   visible to the subscriber's ``on_flush`` (and from the mutation's submission).
3. **Update latency over websockets.** A real ``prefmem dev`` server process; client A
   sends a ``Mutation``, client B (subscribed to the changed profile) receives the
   ``Transition``: median and p99 of send→B's update, over the round trip of a Starlette
   websocket echo endpoint served by uvicorn with the same settings (target: median ≤ 4×).
4. **Fan-out.** 1,000 websocket clients subscribed to one query; one mutation: query
   executions per commit (target 1, read from the server's ``/api/_stats``, served when
   ``PREFMEM_STATS=1``) and the time until all 1,000 clients have the update.

(3) and (4) use raw protocol clients (the ``websockets`` library, no compression) in a
load-generator process of their own, pinned to one CPU; the servers are pinned to another
CPU when the machine has two or more.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import machine
from bench.report import summarize, write_json

APP = Path(__file__).resolve().parent / "apps" / "profiles"
ROOT = Path(__file__).resolve().parent.parent
LATENCY_USER = "latency-user"
SHARED_USER = "shared-user"

TARGETS = {
    "reruns_per_commit": 1,
    "invalidation_ratio_max": 1.5,
    "latency_ratio_max": 4.0,
    "shared_executions_per_commit": 1,
}


def user_name(i: int) -> str:
    return f"user-{i:05d}"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, int(round(q / 100.0 * len(ordered) + 0.5)) if q < 100 else len(ordered))
    return ordered[min(rank, len(ordered)) - 1]


# ---------------------------------------------------------------------------- the data

def seed_database(path: Path, users: int) -> None:
    """A database with ``users`` profiles plus the latency and shared users, closed cleanly."""
    from prefmem.backend import Backend

    async def seed() -> None:
        backend = Backend(functions=APP / "functions", schema=APP / "schema.py", db=path).open()
        try:
            names = [user_name(i) for i in range(users)] + [LATENCY_USER, SHARED_USER]
            for start in range(0, len(names), 2000):
                outcome = await backend.app.call("profiles:seed", {"users": names[start:start + 2000]},
                                                    kind="mutation")
                if not outcome.ok:
                    raise RuntimeError(f"seeding failed: {outcome.error}")
            await backend.app.committer.drain()
        finally:
            backend.close()

    asyncio.run(seed())


# ---------------------------------------------------------------------------- (1)/(2) in-process

class FakeSubscriber:
    """Stands in for a sync session: records when and with what ``on_flush`` was called."""

    __slots__ = ("index", "log")

    def __init__(self, index: int, log: list) -> None:
        self.index = index
        self.log = log

    def on_flush(self, ts: int, changed: set) -> None:
        self.log.append((time.perf_counter_ns(), self.index, len(changed)))


async def _inprocess_window(db_path: Path, n_subs: int, commits: int, warmup: int, seed: int) -> dict:
    from prefmem.backend import Backend
    from prefmem.reactivity import Subscriptions

    backend = Backend(functions=APP / "functions", schema=APP / "schema.py", db=db_path).open()
    try:
        app = backend.app
        assert app is not None
        subs = Subscriptions(app)
        fn = app.registry.get("profiles:get", kind="query")
        flushes: list[tuple[int, int, int]] = []
        subscribers = [FakeSubscriber(i, flushes) for i in range(n_subs)]
        t0 = time.perf_counter()
        async with subs.current() as snapshot:
            lives = [subs.subscribe(fn, {"user": user_name(i)}, None, None, subscribers[i], snapshot)
                     for i in range(n_subs)]
        subscribe_s = time.perf_counter() - t0
        assert all(live.outcome.ok and live.outcome.value["user"] == user_name(i) for i, live in enumerate(lives))

        # Time the invalidation itself: advancing the live queries over the commit's log entry.
        advance = subs.advance
        stamps: dict[str, int] = {"invalidate_ns": 0}

        def on_commit(ts: int, keys: Any) -> None:
            stamps["commit"] = time.perf_counter_ns()
            stamps["keys"] = len(keys)
            stamps["invalidate_ns"] = 0

        def timed_advance(upto: int) -> None:
            start = time.perf_counter_ns()
            advance(upto)
            stamps["invalidate_ns"] += time.perf_counter_ns() - start

        app.write_log.add_listener(on_commit)
        subs.advance = timed_advance  # type: ignore[method-assign]

        rng = random.Random(seed)
        invalidate, commit_to_flush, submit_to_flush, reruns, executions, notified_ok = [], [], [], [], [], 0
        keys_written = []
        for k in range(warmup + commits):
            target = rng.randrange(n_subs)
            flushes.clear()
            exec_before = subs.executions
            submitted = time.perf_counter_ns()
            outcome = await app.call("profiles:set_bio", {"user": user_name(target), "bio": f"bio {k}"},
                                        kind="mutation")
            if not outcome.ok:
                raise RuntimeError(outcome.error)
            await subs.settled()
            if k < warmup:
                continue
            # Exactly the affected subscriber was told, with exactly one changed query.
            if [(index, changed) for _t, index, changed in flushes] == [(target, 1)] \
                    and lives[target].outcome.value["bio"] == f"bio {k}":
                notified_ok += 1
            flushed_at = flushes[-1][0] if flushes else time.perf_counter_ns()
            invalidate.append(stamps["invalidate_ns"] / 1e3)
            commit_to_flush.append((flushed_at - stamps["commit"]) / 1e3)
            submit_to_flush.append((flushed_at - submitted) / 1e3)
            reruns.append(subs.last_flush_reruns)
            executions.append(subs.executions - exec_before)
            keys_written.append(stamps["keys"])
        return {
            "subscriptions": n_subs,
            "subscribe_s": subscribe_s,
            "commits": commits,
            "invalidate_us": statistics.median(invalidate),
            "commit_to_flush_us": statistics.median(commit_to_flush),
            "submit_to_flush_us": statistics.median(submit_to_flush),
            "invalidate_p99_us": percentile(invalidate, 99),
            "reruns_per_commit": statistics.mean(reruns),
            "reruns_max": max(reruns),
            "executions_per_commit": statistics.mean(executions),
            "only_affected_notified": notified_ok,
            "index_keys_written_per_commit": statistics.mean(keys_written),
            "interval_index_sizes": {str(index_id): len(index) for index_id, index in subs._indexes.items()},
        }
    finally:
        backend.close()


def inprocess_window(seeded: Path, workdir: Path, n_subs: int, commits: int, warmup: int, seed: int) -> dict:
    db_dir = Path(tempfile.mkdtemp(dir=workdir))
    try:
        db = db_dir / "profiles.sqlite3"
        shutil.copyfile(seeded, db)
        return asyncio.run(_inprocess_window(db, n_subs, commits, warmup, seed))
    finally:
        gc.collect()
        shutil.rmtree(db_dir, ignore_errors=True)


def measure_inprocess(args: argparse.Namespace, seeded: Path, workdir: Path) -> dict:
    sizes = [args.small, args.subscriptions]
    windows: dict[int, list[dict]] = {n: [] for n in sizes}
    for r in range(args.repeats):
        for n in sizes:  # interleaved, so a slow spell of the machine hits both sizes alike
            windows[n].append(inprocess_window(seeded, workdir, n, args.commits, args.warmup, seed=1000 * r + n))
            print(f"  in-process: {n:>6} subscriptions, repeat {r + 1}/{args.repeats} done", file=sys.stderr)
    out: dict[str, Any] = {"by_size": {}}
    for n in sizes:
        ws = windows[n]
        out["by_size"][str(n)] = {
            "invalidate_us": summarize([w["invalidate_us"] for w in ws]),
            "commit_to_flush_us": summarize([w["commit_to_flush_us"] for w in ws]),
            "submit_to_flush_us": summarize([w["submit_to_flush_us"] for w in ws]),
            "reruns_per_commit": summarize([w["reruns_per_commit"] for w in ws]),
            "reruns_max": max(w["reruns_max"] for w in ws),
            "executions_per_commit": summarize([w["executions_per_commit"] for w in ws]),
            "only_affected_notified": sum(w["only_affected_notified"] for w in ws),
            "commits_measured": sum(w["commits"] for w in ws),
            "subscribe_s": summarize([w["subscribe_s"] for w in ws]),
            "index_keys_written_per_commit": ws[0]["index_keys_written_per_commit"],
            "interval_index_sizes": ws[0]["interval_index_sizes"],
        }
    small, big = out["by_size"][str(args.small)], out["by_size"][str(args.subscriptions)]

    def ratio(name: str) -> dict:
        # Per repeat: the big window over the small window of the same repeat.
        per_repeat = [b[name] / s[name] for b, s in zip(windows[args.subscriptions], windows[args.small])]
        return {"median_of_medians": big[name]["median"] / small[name]["median"], **summarize(per_repeat)}

    out["ratio"] = {"invalidate": ratio("invalidate_us"), "commit_to_flush": ratio("commit_to_flush_us"),
                    "submit_to_flush": ratio("submit_to_flush_us")}
    return out


# ---------------------------------------------------------------------------- processes

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pin(pid: int, cpus: set[int] | None) -> bool:
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return False
    try:
        os.sched_setaffinity(pid, cpus)
        return True
    except OSError:
        return False


def wait_http(url: str, proc: subprocess.Popen, seconds: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {out}")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve_echo(port: int) -> None:
    import uvicorn

    from bench.sidebyside.echo_server import create_app
    from prefmem.server import UVICORN_OPTIONS

    # The same raw-ASGI echo as the side-by-side W5 ceiling, on prefmem's uvicorn settings.
    print(f"echo: serving on ws://127.0.0.1:{port}/echo", flush=True)
    uvicorn.run(create_app("/echo"), host="127.0.0.1", port=port, log_level="warning", **UVICORN_OPTIONS)


# ---------------------------------------------------------------------------- (3)/(4) load generator

def _connect_msg(session: str) -> str:
    return json.dumps({"type": "Connect", "sessionId": session, "connectionCount": 0,
                       "lastCloseReason": "InitialConnect", "clientTs": 0})


def _subscribe_msg(user: str) -> str:
    return json.dumps({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
                       "modifications": [{"type": "Add", "queryId": 0, "udfPath": "profiles:get",
                                          "args": [{"user": user}]}]})


def _mutation_msg(request_id: int, user: str, bio: str) -> str:
    return json.dumps({"type": "Mutation", "requestId": request_id, "udfPath": "profiles:set_bio",
                       "args": [{"user": user, "bio": bio}]})


def _updated_bio(msg: dict) -> str | None:
    if msg.get("type") != "Transition":
        return None
    for mod in msg["modifications"]:
        if mod["type"] == "QueryUpdated" and mod["queryId"] == 0 and isinstance(mod["value"], dict):
            return mod["value"]["bio"]
    return None


async def _open_sync(url: str, session: str, user: str | None):  # noqa: ANN202
    from websockets.asyncio.client import connect

    ws = await connect(url, compression=None, ping_interval=None, max_size=None, open_timeout=60)
    await ws.send(_connect_msg(session))
    if user is not None:
        await ws.send(_subscribe_msg(user))
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == "Transition" and msg["endVersion"]["querySet"] == 1:
                break
    return ws


class _Writer:
    """Client A: sends mutations and drains its own responses between samples."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.request_id = 0

    async def send(self, user: str, bio: str) -> int:
        rid = self.request_id
        self.request_id += 1
        await self.ws.send(_mutation_msg(rid, user, bio))
        return rid

    async def resolved(self, rid: int) -> None:
        """Wait until the mutation is resolved as a client sees it: its response, then a
        Transition reaching its ts."""
        import base64

        ts = None
        while True:
            msg = json.loads(await self.ws.recv())
            if msg["type"] == "MutationResponse" and msg["requestId"] == rid:
                if not msg["success"]:
                    raise RuntimeError(f"mutation failed: {msg['result']}")
                ts = int.from_bytes(base64.b64decode(msg["ts"]), "little")
            elif msg["type"] == "Transition" and ts is not None:
                if int.from_bytes(base64.b64decode(msg["endVersion"]["ts"]), "little") >= ts:
                    return


async def _stats(http: Any, base: str) -> dict:
    return (await http.get(base + "/api/_stats")).json()


async def _latency_phase(cfg: dict, http: Any) -> dict:
    from websockets.asyncio.client import connect

    sync_url, base = cfg["sync_url"], cfg["http_url"]
    echo = await connect(cfg["echo_url"], compression=None, ping_interval=None, max_size=None)
    writer = _Writer(await _open_sync(sync_url, "bench-writer", None))
    watcher = await _open_sync(sync_url, "bench-watcher", LATENCY_USER)
    payload = _mutation_msg(0, LATENCY_USER, "echo payload")  # the same size as a mutation frame

    async def echo_sample() -> float:
        start = time.perf_counter_ns()
        await echo.send(payload)
        await echo.recv()
        return (time.perf_counter_ns() - start) / 1e3

    async def update_sample(bio: str) -> tuple[float, float]:
        start = time.perf_counter_ns()
        rid = await writer.send(LATENCY_USER, bio)
        while True:
            if _updated_bio(json.loads(await watcher.recv())) == bio:
                break
        other = (time.perf_counter_ns() - start) / 1e3
        await writer.resolved(rid)
        own = (time.perf_counter_ns() - start) / 1e3
        return other, own

    for i in range(cfg["latency_warmup"]):
        await echo_sample()
        await update_sample(f"warmup {i}")
    before = await _stats(http, base)
    repeats = []
    for r in range(cfg["repeats"]):
        echo_us, update_us, own_us = [], [], []
        for i in range(cfg["latency_samples"]):  # interleaved: a slow spell hits both alike
            echo_us.append(await echo_sample())
            other, own = await update_sample(f"r{r} s{i}")
            update_us.append(other)
            own_us.append(own)
        repeats.append({"echo_us": echo_us, "update_us": update_us, "own_resolved_us": own_us})
    after = await _stats(http, base)
    for ws in (echo, writer.ws, watcher):
        await ws.close()
    commits = after["commits"] - before["commits"]
    return {"repeats": repeats, "commits": commits,
            "executions_per_commit": (after["executions"] - before["executions"]) / commits if commits else None}


async def _fanout_phase(cfg: dict, http: Any) -> dict:
    sync_url, base, n = cfg["sync_url"], cfg["http_url"], cfg["clients"]
    t0 = time.perf_counter()
    clients: list[Any] = []
    for start in range(0, n, 50):
        clients += await asyncio.gather(*(_open_sync(sync_url, f"fan-{i}", SHARED_USER)
                                          for i in range(start, min(n, start + 50))))
    connect_s = time.perf_counter() - t0
    writer = _Writer(await _open_sync(sync_url, "fan-writer", None))

    expected: dict[str, Any] = {"bio": None, "arrivals": [], "server_ts": [], "done": asyncio.Event()}

    async def reader(ws: Any) -> None:
        async for frame in ws:
            msg = json.loads(frame)
            if _updated_bio(msg) == expected["bio"]:
                expected["arrivals"].append(time.perf_counter_ns())
                expected["server_ts"].append(msg.get("serverTs", 0))
                if len(expected["arrivals"]) == n:
                    expected["done"].set()

    readers = [asyncio.create_task(reader(ws)) for ws in clients]
    rounds = []
    for k in range(cfg["fanout_warmup"] + cfg["fanout_rounds"]):
        await asyncio.sleep(0.05)  # let the previous round's sends finish everywhere
        before = await _stats(http, base)
        expected.update(bio=f"fan {k}", arrivals=[], server_ts=[])
        expected["done"] = asyncio.Event()
        wall = time.time_ns()
        cpu = time.process_time()
        start = time.perf_counter_ns()
        rid = await writer.send(SHARED_USER, expected["bio"])
        await asyncio.wait_for(expected["done"].wait(), 60)
        cpu = time.process_time() - cpu
        await writer.resolved(rid)
        await asyncio.sleep(0.05)
        after = await _stats(http, base)
        if k < cfg["fanout_warmup"]:
            continue
        arrivals = sorted((t - start) / 1e6 for t in expected["arrivals"])
        rounds.append({
            "first_ms": arrivals[0], "median_ms": statistics.median(arrivals), "all_ms": arrivals[-1],
            # serverTs: server wall clock when it built the Transition (before sending it).
            "server_last_built_ms": (max(expected["server_ts"]) - wall) / 1e6,
            # CPU the (single-core) load generator spent receiving and parsing the updates.
            "loadgen_cpu_ms": cpu * 1e3,
            "commits": after["commits"] - before["commits"],
            "executions": after["executions"] - before["executions"],
            "last_flush_reruns": after["last_flush_reruns"],
        })
    for task in readers:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in [*clients, writer.ws]), return_exceptions=True)
    return {"connect_s": connect_s, "rounds": rounds}


async def _loadgen(cfg: dict) -> dict:
    import httpx

    async with httpx.AsyncClient() as http:
        latency = await _latency_phase(cfg, http)
        fanout = await _fanout_phase(cfg, http)
    return {"latency": latency, "fanout": fanout}


def loadgen_main(cfg: dict) -> None:
    pinned = pin(0, set(cfg["cpus"])) if cfg.get("cpus") else False
    result = asyncio.run(_loadgen(cfg))
    result["pinned_to"] = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    result["pinned"] = pinned
    sys.stdout.write("\n" + json.dumps(result) + "\n")


def raise_fd_limit() -> None:
    """1,000 sockets need more descriptors than some default soft limits allow; children inherit this."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ImportError, ValueError, OSError):
        pass


def measure_websockets(args: argparse.Namespace, seeded: Path, workdir: Path) -> dict:
    raise_fd_limit()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    loadgen_cpus = {cpus[0]} if cpus and not args.no_pin else None
    server_cpus = set(cpus[1:]) if len(cpus) >= 2 and not args.no_pin else None
    db = workdir / "server.sqlite3"
    shutil.copyfile(seeded, db)
    sync_port, echo_port = free_port(), free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PREFMEM_STATS": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "prefmem", "dev", "--functions", str(APP / "functions"), "--schema",
         str(APP / "schema.py"), "--db", str(db), "--port", str(sync_port), "--no-watch"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    echo = subprocess.Popen([sys.executable, "-m", "bench", "reactivity", "--serve-echo", str(echo_port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        servers_pinned = all([pin(server.pid, server_cpus), pin(echo.pid, server_cpus)])
        wait_http(f"http://127.0.0.1:{sync_port}/version", server)
        wait_http(f"http://127.0.0.1:{echo_port}/", echo)  # a 404 answer means it is up
        cfg = {
            "sync_url": f"ws://127.0.0.1:{sync_port}/api/sync", "http_url": f"http://127.0.0.1:{sync_port}",
            "echo_url": f"ws://127.0.0.1:{echo_port}/echo", "repeats": args.repeats,
            "latency_samples": args.samples, "latency_warmup": 50, "clients": args.clients,
            "fanout_rounds": args.rounds, "fanout_warmup": 2, "cpus": sorted(loadgen_cpus or []),
        }
        print(f"  websockets: load generator on CPU {sorted(loadgen_cpus or []) or 'any'}, servers on CPU "
              f"{sorted(server_cpus or []) or 'any'}", file=sys.stderr)
        proc = subprocess.run([sys.executable, "-m", "bench", "reactivity", "--loadgen", json.dumps(cfg)],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"load generator failed:\n{proc.stderr[-4000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        stop(server)
        stop(echo)
    result["servers_pinned_to"] = sorted(server_cpus) if servers_pinned and server_cpus else None
    return summarize_websockets(result)


def summarize_websockets(raw: dict) -> dict:
    lat = raw["latency"]
    per = []
    for rep in lat["repeats"]:
        per.append({
            "echo_median_us": statistics.median(rep["echo_us"]), "echo_p99_us": percentile(rep["echo_us"], 99),
            "update_median_us": statistics.median(rep["update_us"]),
            "update_p99_us": percentile(rep["update_us"], 99),
            "own_resolved_median_us": statistics.median(rep["own_resolved_us"]),
        })
    latency = {key: summarize([p[key] for p in per]) for key in per[0]}
    latency["ratio_median"] = summarize([p["update_median_us"] / p["echo_median_us"] for p in per])
    latency["ratio_p99"] = summarize([p["update_p99_us"] / p["echo_p99_us"] for p in per])
    latency["samples_per_repeat"] = len(lat["repeats"][0]["echo_us"])
    latency["executions_per_commit"] = lat["executions_per_commit"]
    rounds = raw["fanout"]["rounds"]
    commits = sum(r["commits"] for r in rounds)
    fanout = {
        "clients_connect_s": raw["fanout"]["connect_s"],
        "rounds": len(rounds),
        "executions_per_commit": sum(r["executions"] for r in rounds) / commits if commits else None,
        "commits": commits,
        **{key: summarize([r[key] for r in rounds]) for key in
           ("first_ms", "median_ms", "all_ms", "server_last_built_ms", "loadgen_cpu_ms")},
        "per_round": rounds,
    }
    return {"latency": latency, "fanout": fanout, "loadgen_pinned_to": raw["pinned_to"] if raw["pinned"] else None,
            "servers_pinned_to": raw["servers_pinned_to"]}


# ---------------------------------------------------------------------------- driver

def measure(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="prefmem-bench-", dir=args.tmpdir))
    info = machine.describe(workdir)
    started = time.perf_counter()
    try:
        seeded = workdir / "seeded.sqlite3"
        seed_database(seeded, args.subscriptions)
        print(f"  seeded {args.subscriptions:,} profiles in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        inprocess = measure_inprocess(args, seeded, workdir)
        websockets_ = measure_websockets(args, seeded, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    info["load_average_at_end"] = os.getloadavg()[0]
    big = inprocess["by_size"][str(args.subscriptions)]
    checks = {
        "reruns_per_commit": {
            "value": big["reruns_per_commit"]["max"], "target": "= 1 (exactly the affected query)",
            "met": big["reruns_max"] == 1 and big["only_affected_notified"] == big["commits_measured"]},
        "invalidation_ratio": {
            "value": inprocess["ratio"]["invalidate"]["median"], "target": f"≤ {TARGETS['invalidation_ratio_max']}×",
            "met": inprocess["ratio"]["invalidate"]["median"] <= TARGETS["invalidation_ratio_max"]},
        "commit_to_flush_ratio": {
            "value": inprocess["ratio"]["commit_to_flush"]["median"],
            "target": f"≤ {TARGETS['invalidation_ratio_max']}×",
            "met": inprocess["ratio"]["commit_to_flush"]["median"] <= TARGETS["invalidation_ratio_max"]},
        "latency_ratio": {
            "value": websockets_["latency"]["ratio_median"]["median"], "target": f"≤ {TARGETS['latency_ratio_max']}×",
            "met": websockets_["latency"]["ratio_median"]["median"] <= TARGETS["latency_ratio_max"]},
        "shared_executions_per_commit": {
            "value": websockets_["fanout"]["executions_per_commit"], "target": "= 1",
            "met": websockets_["fanout"]["executions_per_commit"] == 1},
    }
    return {
        "workload": "reactivity",
        "description": "reruns and invalidation cost per commit (in-process), update latency over a websocket "
                       "echo and fan-out to 1,000 clients (real server, loopback)",
        "machine": info,
        "config": {"subscriptions": args.subscriptions, "small": args.small, "commits_per_window": args.commits,
                   "warmup_commits": args.warmup, "repeats": args.repeats, "latency_samples_per_repeat": args.samples,
                   "clients": args.clients, "fanout_rounds": args.rounds, "websocket_compression": None},
        "inprocess": inprocess,
        "websockets": websockets_,
        "checks": checks,
        "seconds": time.perf_counter() - started,
    }


def _spread(s: dict, fmt: str = "{:,.1f}") -> str:
    return f"[{fmt.format(s['min'])} – {fmt.format(s['max'])}]"


def print_table(data: dict) -> None:
    cfg, ip, ws = data["config"], data["inprocess"], data["websockets"]
    small, big = ip["by_size"][str(cfg["small"])], ip["by_size"][str(cfg["subscriptions"])]
    lat, fan = ws["latency"], ws["fanout"]
    print(f"\nreactivity: medians of {cfg['repeats']} repeats [min – max over repeats]; "
          f"in-process windows of {cfg['commits_per_window']} commits, "
          f"{cfg['latency_samples_per_repeat']} latency samples per repeat")
    print(machine.one_line(data["machine"]) + f" (at end {data['machine']['load_average_at_end']:.2f})")
    warning = machine.busy_warning(data["machine"])
    if warning:
        print(warning)
    print(f"load generator pinned to CPU {ws['loadgen_pinned_to'] or 'none (not pinned)'}, servers pinned to CPU "
          f"{ws['servers_pinned_to'] or 'none (not pinned)'}; websocket compression off")
    print()
    header = f"{'measure':<52} {'median':>10}  {'[min – max]':<23} {'vs small':>10}"
    print("(1)/(2) in-process, one user's profile changes per commit")
    print(header)
    print("-" * len(header))
    rows = [
        ("reruns per commit", "reruns_per_commit", "{:,.2f}"),
        ("query executions per commit", "executions_per_commit", "{:,.2f}"),
        ("invalidation (advance), µs", "invalidate_us", "{:,.1f}"),
        ("commit visible → on_flush, µs", "commit_to_flush_us", "{:,.1f}"),
        ("mutation submitted → on_flush, µs", "submit_to_flush_us", "{:,.1f}"),
    ]
    for label, key, fmt in rows:
        for n, size in ((cfg["small"], small), (cfg["subscriptions"], big)):
            s = size[key]
            ratio = ""
            if n == cfg["subscriptions"] and key.endswith("_us"):
                name = {"invalidate_us": "invalidate", "commit_to_flush_us": "commit_to_flush",
                        "submit_to_flush_us": "submit_to_flush"}[key]
                ratio = f"{ip['ratio'][name]['median']:.2f}×"
            print(f"{label + f' ({n:,} subs)':<52} {fmt.format(s['median']):>10}  {_spread(s, fmt):<23} {ratio:>10}")
    print(f"only the affected subscriber notified, with 1 changed query: {big['only_affected_notified']}"
          f"/{big['commits_measured']} commits ({cfg['subscriptions']:,} subs); "
          f"index keys written per commit: {big['index_keys_written_per_commit']:.0f}")
    print()
    header = f"{'measure':<52} {'median':>10}  {'[min – max]':<23}"
    print("(3)/(4) real server process, raw protocol websocket clients on 127.0.0.1")
    print(header)
    print("-" * len(header))
    for label, s, fmt in [
        ("websocket echo round trip, median µs (baseline)", lat["echo_median_us"], "{:,.0f}"),
        ("websocket echo round trip, p99 µs", lat["echo_p99_us"], "{:,.0f}"),
        ("mutation send → other client's update, median µs", lat["update_median_us"], "{:,.0f}"),
        ("mutation send → other client's update, p99 µs", lat["update_p99_us"], "{:,.0f}"),
        ("  median over echo median", lat["ratio_median"], "{:,.2f}×"),
        ("  p99 over echo p99", lat["ratio_p99"], "{:,.2f}×"),
        ("mutation send → own mutation resolved, median µs", lat["own_resolved_median_us"], "{:,.0f}"),
        (f"{cfg['clients']:,} clients on one query: first update, ms", fan["first_ms"], "{:,.1f}"),
        (f"{cfg['clients']:,} clients on one query: median client, ms", fan["median_ms"], "{:,.1f}"),
        (f"{cfg['clients']:,} clients on one query: all have it, ms", fan["all_ms"], "{:,.1f}"),
        ("  server built the last Transition, ms", fan["server_last_built_ms"], "{:,.1f}"),
        ("  load generator CPU busy until then, ms", fan["loadgen_cpu_ms"], "{:,.1f}"),
    ]:
        print(f"{label:<52} {fmt.format(s['median']):>10}  {_spread(s, fmt):<23}")
    print(f"shared query executions per commit: {fan['executions_per_commit']:.2f} over {fan['commits']} commits "
          f"({fan['rounds']} rounds); {cfg['clients']:,} clients connected and subscribed in "
          f"{fan['clients_connect_s']:.1f} s")
    print()
    header = f"{'target':<58} {'value':>10}  {'goal':<36} {'met':>4}"
    print(header)
    print("-" * len(header))
    labels = {
        "reruns_per_commit": f"(1) reruns per commit, {cfg['subscriptions']:,} distinct subscriptions",
        "invalidation_ratio": f"(2) invalidation, {cfg['subscriptions']:,} subs over {cfg['small']}",
        "commit_to_flush_ratio": f"(2) commit → flush, {cfg['subscriptions']:,} subs over {cfg['small']}",
        "latency_ratio": "(3) update latency median over echo median",
        "shared_executions_per_commit": f"(4) executions per commit, 1 query × {cfg['clients']:,} clients",
    }
    for key, check in data["checks"].items():
        value = f"{check['value']:.2f}" + ("×" if "ratio" in key else "")
        print(f"{labels[key]:<58} {value:>10}  {check['target']:<36} {'yes' if check['met'] else 'NO':>4}")
    print(f"\n(4) time until all {cfg['clients']:,} clients have the update: {fan['all_ms']['median']:.1f} ms "
          f"(no target); whole run {data['seconds']:.0f} s")
    print()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench reactivity", description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=10_000,
                        help="distinct per-user subscriptions in the big case (default 10,000)")
    parser.add_argument("--small", type=int, default=10, help="subscriptions in the small case (default 10)")
    parser.add_argument("--commits", type=int, default=500, help="measured commits per in-process window (default 500)")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured commits first in each window (default 30)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of every measurement, at least 3 (default 3)")
    parser.add_argument("--samples", type=int, default=1000, help="latency samples per repeat (default 1000)")
    parser.add_argument("--clients", type=int, default=1_000, help="clients sharing one query (default 1,000)")
    parser.add_argument("--rounds", type=int, default=20, help="fan-out mutations measured (default 20)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the load generator and servers to CPUs")
    parser.add_argument("--tmpdir", default=None, help="where the temporary database files go")
    parser.add_argument("--serve-echo", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--loadgen", metavar="CONFIG_JSON", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_echo is not None:
        serve_echo(args.serve_echo)
        return 0
    if args.loadgen is not None:
        loadgen_main(json.loads(args.loadgen))
        return 0
    if args.repeats < 3:
        parser.error("--repeats must be at least 3: a figure is a median with its min and max")
    data = measure(args)
    print_table(data)
    path = write_json("reactivity", data)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
