"""The load generator: ``python -m bench.sidebyside.loadgen SPEC.json OUT.json``.

Runs in its own process (started by ``bench.sidebyside.run``), pinned to one CPU when the
spec says so; the servers run in their own processes pinned to another CPU. Everything is
asyncio on one thread; every loop is bounded in count and in time. Raw per-window
measurements go to OUT.json; ``run`` summarises them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import sys
import time
import uuid
from collections import deque
from typing import Any, Awaitable, Callable

import msgspec

from bench.sidebyside import pipeline, rawws
from bench.sidebyside.clients import (BaselineConn, PBConn, PBHttp, PBWriter, PrefmemConn, now)

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
OPEN_CONCURRENCY = 64
STATS_TIMEOUT_S = 10.0  # to hear from every worker process of a server
PAYLOAD = "x" * 64


def log(msg: str) -> None:
    print(f"[loadgen {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def user_name(i: int) -> str:
    return f"u{i:05d}"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); ``inf`` entries count as lost deliveries."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(q / 100.0 * len(ordered) + 0.5))))
    return ordered[rank - 1]


# ---------------------------------------------------------------------------- server processes

def process_tree(pid: int | list[int]) -> list[int]:
    """``pid`` and every process below it: a server with worker processes is all of them (or
    several: a deployment of nodes and its PostgreSQL server, whose backends are the
    postmaster's children).

    Found through each process's parent in ``/proc/N/stat`` (``/proc/N/task/N/children``
    is not in every kernel)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # it ended meanwhile
            children.setdefault(ppid, []).append(int(name))
    tree, todo = [], list(pid) if isinstance(pid, list) else [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, ()))
    return tree


def cpu_seconds(pid: int | list[int]) -> float:
    """User + system CPU time of ``pid`` and the processes below it (``nan`` if it is gone)."""
    total, found = 0.0, False
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
            found = True
        except (OSError, IndexError, ValueError):
            pass
    return total if found else float("nan")


def machine_cpu_seconds() -> float:
    """CPU time every process of the machine has used (and the hypervisor took), from /proc/stat."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def memory_mb(pid: int | list[int]) -> dict:
    """Resident memory of ``pid`` and the processes below it: now, and the sum of each one's peak."""
    out = {"rss_mb": 0.0, "hwm_mb": 0.0}
    found = False
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        out["rss_mb"] += int(line.split()[1]) / 1024
                        found = True
                    elif line.startswith("VmHWM:"):
                        out["hwm_mb"] += int(line.split()[1]) / 1024
        except OSError:
            pass
    return out if found else {"rss_mb": float("nan"), "hwm_mb": float("nan")}


class System:
    def __init__(self, spec: dict) -> None:
        self.name: str = spec["name"]
        self.kind: str = spec["kind"]
        self.port: int = spec["port"]
        # A deployment of several nodes (prefmem on PostgreSQL): connections go to each port
        # in turn, and its CPU and memory are those of every process it lists (the nodes, the
        # PostgreSQL server) and the processes below them.
        self.ports: list[int] = spec.get("ports") or [self.port]
        self.pid: int | list[int] = spec.get("pids") or spec["pid"]
        self._turn = itertools.count()
        self.workers: int = spec.get("workers", 1)  # server processes that each keep their own counters
        self.last_seq: dict[str, float] = {}
        self.shared_seq = 0
        self.versions: dict[str, int] = {}
        self.seeded = 0
        self._control: list[PBHttp] = []
        self._rr = 0
        self._stats_conn: PBHttp | None = None

    def _next_port(self) -> int:
        return self.ports[next(self._turn) % len(self.ports)]

    def conn(self, sink: Any) -> Any:
        if self.kind == "prefmem":
            return PrefmemConn(f"ws://127.0.0.1:{self._next_port()}/api/sync", sink)
        if self.kind == "baseline":
            return BaselineConn(f"ws://127.0.0.1:{self.port}/ws", sink)
        if self.kind == "pocketbase":
            return PBConn(self.port, self.control, sink)
        raise ValueError(self.kind)

    def writer(self) -> Any:
        if self.kind == "prefmem":
            return PrefmemConn(f"ws://127.0.0.1:{self._next_port()}/api/sync", None)
        if self.kind == "baseline":
            return BaselineConn(f"ws://127.0.0.1:{self.port}/ws", None)
        if self.kind == "pocketbase":
            return PBWriter(self.port)
        raise ValueError(self.kind)

    async def control(self) -> PBHttp:
        """One of the keep-alive control connections (subscriptions), reopened if the server closed it."""
        self._rr += 1
        k = self._rr % len(self._control)
        if self._control[k].closed:
            self._control[k] = await PBHttp(self.port).open()
        return self._control[k]

    async def open_control(self) -> None:
        if self.kind == "pocketbase" and not self._control:
            self._control = [await PBHttp(self.port).open() for _ in range(8)]

    async def close_control(self) -> None:
        for c in self._control:
            await c.close()
        self._control = []
        if self._stats_conn is not None:
            await self._stats_conn.close()
            self._stats_conn = None

    async def _stats_once(self, path: str, port: int | None = None) -> dict:
        conn = await PBHttp(port or self.port).open()  # a fresh one: uvicorn closes idle keep-alive connections
        try:
            _t, body = await asyncio.wait_for(conn.request("GET", path), 10)
        finally:
            await conn.close()
        return json.loads(body)

    async def stats(self) -> dict | None:
        """The server's counters. With worker processes, each counts its own and a request
        reaches whichever accepts the connection: ask over fresh connections until every
        worker has answered, and add them up (``per_worker`` keeps each by pid)."""
        path = {"prefmem": "/api/_stats", "baseline": "/stats", "echo": "/stats"}.get(self.kind)
        if path is None:
            return None
        if len(self.ports) > 1:  # a deployment of several nodes: the sums of theirs
            total: dict[str, Any] = {}
            for port in self.ports:
                for key, value in (await self._stats_once(path, port)).items():
                    if key != "pid" and isinstance(value, (int, float)):
                        total[key] = total.get(key, 0) + value
            return total
        if self.workers <= 1:
            return await self._stats_once(path)
        per_worker: dict[int, dict] = {}
        deadline = now() + STATS_TIMEOUT_S
        while len(per_worker) < self.workers:
            if now() > deadline:
                raise TimeoutError(f"{self.name}: only workers {sorted(per_worker)} of {self.workers} answered "
                                   f"/stats within {STATS_TIMEOUT_S:.0f} s")
            answer = await self._stats_once(path)
            per_worker.setdefault(answer["pid"], answer)
        total = {"per_worker": per_worker}
        for answer in per_worker.values():
            for key, value in answer.items():
                if key != "pid" and isinstance(value, (int, float)):
                    total[key] = total.get(key, 0) + value
        return total

    async def ready(self, timeout_s: float = 120.0) -> None:
        """Wait until every worker process answers."""
        deadline = now() + timeout_s
        while True:
            try:
                await self.stats()
                return
            except (OSError, TimeoutError, ValueError) as err:
                if now() > deadline:
                    raise RuntimeError(f"{self.name} is not ready: {err}") from err
                await asyncio.sleep(0.2)

    async def seed(self, users: int) -> None:
        """Profiles and budgets for users 0..users-1 (once per run), the shared document."""
        if users <= self.seeded:
            return
        names = [user_name(i) for i in range(self.seeded, users)]
        w = self.writer()
        await w.open()
        try:
            chunk = 250
            futs = [w.write("seed", users=names[i:i + chunk]) for i in range(0, len(names), chunk)]
            if self.kind == "prefmem" and self.seeded == 0:
                futs.append(w.write("seed_shared"))
            await asyncio.wait_for(asyncio.gather(*futs), 120)
        finally:
            await w.close()
        for name in names:
            self.last_seq.setdefault(name, 0.0)
            self.versions.setdefault(name, 0)
        self.seeded = users


async def open_all(conns: list, subs: list, initial: list | None, deadline_s: float = 120.0) -> None:
    """Open connections and subscribe, at most OPEN_CONCURRENCY at a time."""
    sem = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def one(i: int) -> None:
        async with sem:
            await conns[i].open()
            await conns[i].subscribe(subs[i], initial[i] if initial is not None else None)

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(len(conns)))), deadline_s)


async def close_all(conns: list) -> None:
    for start in range(0, len(conns), 500):
        await asyncio.gather(*(c.close() for c in conns[start:start + 500]), return_exceptions=True)


async def wait_until(predicate: Any, timeout: float, step: float = 0.005) -> bool:
    deadline = now() + timeout
    while now() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


def _swallow(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()


# ---------------------------------------------------------------------------- W1

class W1:
    """W1 on one system: its subscribers and writers, open across windows of any rate, so
    several systems can take turns window by window (``bench/workers``)."""

    def __init__(self, system: System, cfg: dict) -> None:
        self.system, self.cfg = system, cfg
        self.users = [user_name(i) for i in range(cfg["users"])]
        self.state: dict[str, float] = {}
        self.pending: dict[str, deque] = {u: deque() for u in self.users}
        self.counters = {"pushes": 0, "wasted": 0, "regressions": 0}
        self.latencies: list[float] = []
        self.conns: list = []
        self.writers: list = []
        self.seq = 0.0
        self.rng = random.Random(1)

    def _sink(self, conn: Any, updates: list, t: float) -> None:
        for kind, user, value, initial in updates:
            prev = self.state.get(user)
            self.state[user] = value
            if initial:
                continue
            self.counters["pushes"] += 1
            if prev is not None and value <= prev:
                self.counters["wasted" if value == prev else "regressions"] += 1
                continue
            dq = self.pending[user]
            while dq and dq[0][0] <= value:
                self.latencies.append(t - dq.popleft()[1])

    async def open(self) -> None:
        system, users = self.system, self.users
        await system.seed(len(users))
        self.conns = [system.conn(self._sink) for _ in users]
        self.writers = [system.writer() for _ in range(self.cfg["writers"])]
        t_open = now()
        await open_all(self.conns, [[("profile", u)] for u in users], [[system.last_seq[u]] for u in users])
        for w in self.writers:
            await w.open()
        ok = await wait_until(lambda: len(self.state) == len(users), 60)
        log(f"W1 {system.name}: {len(users)} subscribers ready in {now() - t_open:.1f} s" + ("" if ok else " (NOT ALL)"))

    async def close(self) -> None:
        await close_all(self.conns + self.writers)

    async def window(self, rate: float, seconds: float) -> dict:
        system, cfg, users, pending = self.system, self.cfg, self.users, self.pending
        n_users, n_writers = len(users), len(self.writers)
        self.latencies.clear()
        for c in ("pushes", "wasted", "regressions"):
            self.counters[c] = 0
        errors = [0]

        def on_ack(fut: asyncio.Future) -> None:
            if fut.cancelled() or fut.exception() is not None:
                errors[0] += 1

        acks = []
        # Writes carry increasing sequence numbers across systems and windows.
        self.seq = max(self.seq, max(system.last_seq.values(), default=0.0))
        cpu0, t0 = cpu_seconds(system.pid), now()
        own0, machine0 = time.process_time(), machine_cpu_seconds()
        sent = 0
        total = int(rate * seconds)
        while sent < total and now() - t0 < seconds + 5:  # bounded even if the loop lags
            due = min(total, int((now() - t0) * rate) + 1)
            while sent < due:
                i = self.rng.randrange(n_users)
                user = users[i]
                self.seq += 1
                system.last_seq[user] = self.seq
                pending[user].append((self.seq, now()))
                fut = self.writers[i % n_writers].write("signal", user=user, seq=self.seq)
                fut.add_done_callback(on_ack)
                acks.append(fut)
                sent += 1
            await asyncio.sleep(0.001)
        send_s = now() - t0
        cpu1, t1, own1, machine1 = cpu_seconds(system.pid), now(), time.process_time(), machine_cpu_seconds()
        await wait_until(lambda: all(not d for d in pending.values()), cfg["drain_s"], 0.01)
        lost = sum(len(d) for d in pending.values())
        for d in pending.values():
            d.clear()
        mem = memory_mb(system.pid)
        # Let a saturated server work off its backlog before the next window (bounded), so one
        # window's overload does not show up in the next one's latencies.
        t_ack = now()
        done, _ = await asyncio.wait(acks, timeout=cfg["recover_s"]) if acks else (set(), set())
        recover_s = now() - t_ack
        lat = self.latencies + [float("inf")] * lost
        return {
            "rate": rate, "sent": sent, "send_s": send_s, "achieved_rate": sent / send_s if send_s else 0,
            "p50_ms": percentile(lat, 50) * 1e3, "p95_ms": percentile(lat, 95) * 1e3,
            "p99_ms": percentile(lat, 99) * 1e3, "lost": lost, "write_errors": errors[0],
            "unacked": len(acks) - len(done), "recover_s": recover_s, "pushes": self.counters["pushes"],
            "wasted_pushes": self.counters["wasted"], "regressions": self.counters["regressions"],
            "cpu_percent": 100 * (cpu1 - cpu0) / (t1 - t0), "loadgen_cpu_percent": 100 * (own1 - own0) / (t1 - t0),
            "others_cpu_percent": 100 * (machine1 - machine0 - (cpu1 - cpu0) - (own1 - own0)) / (t1 - t0),
            **mem, "loadavg": os.getloadavg()[0],
        }


async def w1(system: System, cfg: dict) -> list[dict]:
    run = W1(system, cfg)
    await run.open()
    results = []
    try:
        await run.window(50, 0.5)  # warm-up, not recorded
        for r in range(cfg["repeats"]):
            passed = True
            for rate in cfg["rates"] + cfg["extra_rates"]:
                if rate in cfg["extra_rates"] and not passed:
                    continue  # an extra (higher) level only after the one below held p99 < 100 ms
                res = await run.window(rate, cfg["seconds"])
                res["repeat"] = r
                res["extra"] = rate in cfg["extra_rates"]
                passed = res["p99_ms"] < 100 and res["lost"] == 0
                results.append(res)
                log(f"W1 {system.name} r{r} {rate}/s: p50 {res['p50_ms']:.1f} p99 {res['p99_ms']:.1f} ms, "
                    f"lost {res['lost']}, wasted {res['wasted_pushes']}, cpu {res['cpu_percent']:.0f}%")
                await asyncio.sleep(0.2)
    finally:
        await run.close()
    return results


# ---------------------------------------------------------------------------- W2

class W2:
    """W2 on one system: subscribers added level by level, one measured commit at a time, so
    several systems can take turns commit by commit (``bench/workers``)."""

    def __init__(self, system: System, cfg: dict) -> None:
        self.system, self.cfg = system, cfg
        self.values: list[float] = []
        self.target = float("inf")
        self.got: dict[int, float] = {}
        self.index_of: dict[int, int] = {}
        self.conns: list = []
        self.writer: Any = None

    def _sink(self, conn: Any, updates: list, t: float) -> None:
        i = self.index_of[id(conn)]
        for _kind, _user, value, _initial in updates:
            self.values[i] = value
            if value >= self.target and i not in self.got:
                self.got[i] = t

    async def open(self) -> None:
        await self.system.seed(1)
        self.writer = self.system.writer()
        await self.writer.open()

    async def close(self) -> None:
        await close_all(self.conns + ([self.writer] if self.writer is not None else []))

    async def grow(self, level: int) -> None:
        """Subscribe new clients until ``level`` hold the shared query."""
        system = self.system
        new = [system.conn(self._sink) for _ in range(level - len(self.conns))]
        for c in new:
            self.index_of[id(c)] = len(self.values)
            self.values.append(float("nan"))
        self.conns += new
        t_open = now()
        await open_all(new, [[("shared", None)]] * len(new), [[float(system.shared_seq)]] * len(new), 180)
        ok = await wait_until(lambda: not any(v != v for v in self.values), 60)
        log(f"W2 {system.name}: {level} subscribers ready in {now() - t_open:.1f} s" + ("" if ok else " (NOT ALL)"))
        await asyncio.sleep(0.3)

    async def commit(self) -> dict:
        """One write to the shared document, timed until every subscriber has it."""
        system, level, got = self.system, len(self.conns), self.got
        system.shared_seq += 1
        got.clear()
        self.target = float(system.shared_seq)
        before = await system.stats()
        cpu0, own0 = cpu_seconds(system.pid), time.process_time()
        t0 = now()
        await self.writer.write("bump", seq=system.shared_seq)
        t_ack = now()
        await wait_until(lambda: len(got) >= level, self.cfg["timeout_s"], 0.002)
        t_wait = now()
        server_cpu, loadgen_cpu = cpu_seconds(system.pid) - cpu0, time.process_time() - own0
        await asyncio.sleep(0.2)
        after = await system.stats()
        times = sorted(t - t0 for t in got.values())
        res = {
            "subscribers": level, "received": len(got), "missing": level - len(got),
            "ack_ms": (t_ack - t0) * 1e3,
            "first_ms": times[0] * 1e3 if times else float("nan"),
            "median_ms": times[len(times) // 2] * 1e3 if times else float("nan"),
            "last_ms": times[-1] * 1e3 if len(got) >= level else float("inf"),
            "executions_per_commit": (after["executions"] - before["executions"]) if before else None,
            "window_s": (t_wait - t0) + 0.2,
            # Which side was busy until the last delivery: near 100 % for the load
            # generator means the figure is its limit, not the server's.
            "server_cpu_percent": 100 * server_cpu / (t_wait - t0),
            "loadgen_cpu_percent": 100 * loadgen_cpu / (t_wait - t0),
            **memory_mb(system.pid), "loadavg": os.getloadavg()[0],
        }
        if after and "per_worker" in after:
            res["sessions_per_worker"] = sorted((s["sessions"] for s in after["per_worker"].values()), reverse=True)
        return res


async def w2(system: System, cfg: dict) -> list[dict]:
    run = W2(system, cfg)
    await run.open()
    results = []
    try:
        for level in cfg["levels"]:
            await run.grow(level)
            for r in range(cfg["repeats"]):
                res = await run.commit()
                res["repeat"] = r
                results.append(res)
                log(f"W2 {system.name} {level} r{r}: last {res['last_ms']:.0f} ms, executions "
                    f"{res['executions_per_commit']}, CPU server {res['server_cpu_percent']:.0f} % "
                    f"load generator {res['loadgen_cpu_percent']:.0f} %")
                await asyncio.sleep(0.3)
    finally:
        await run.close()
    return results


# ---------------------------------------------------------------------------- W3

async def w3(system: System, cfg: dict) -> list[dict]:
    n = cfg["clients"]
    await system.seed(n)
    users = [user_name(i) for i in range(n)]
    budget: dict[str, float] = {}
    products: dict[str, float] = {}
    counts = {"states": 0, "torn": 0}

    def sink(conn: Any, updates: list, t: float) -> None:
        user = None
        for kind, u, value, _initial in updates:
            user = u
            (budget if kind == "budget" else products)[u] = value
        if user in budget and user in products:
            counts["states"] += 1
            if budget[user] != products[user]:
                counts["torn"] += 1

    conns = [system.conn(sink) for _ in users]
    writers = [system.writer() for _ in range(cfg["writers"])]
    results = []
    try:
        init = [[float(system.versions[u])] * 2 for u in users]
        await open_all(conns, [[("budget", u), ("products", u)] for u in users], init)
        for w in writers:
            await w.open()
        ok = await wait_until(lambda: len(budget) == n and len(products) == n, 60)
        log(f"W3 {system.name}: {n} clients ready" + ("" if ok else " (NOT ALL)"))
        rng = random.Random(3)
        for r in range(cfg["repeats"]):
            counts["states"] = counts["torn"] = 0
            total = int(cfg["rate"] * cfg["seconds"])
            sent, t0, acks = 0, now(), []
            while sent < total and now() - t0 < cfg["seconds"] + 5:
                due = min(total, int((now() - t0) * cfg["rate"]) + 1)
                while sent < due:
                    i = rng.randrange(n)
                    u = users[i]
                    system.versions[u] += 1
                    fut = writers[i % len(writers)].write("raise", user=u, version=system.versions[u])
                    fut.add_done_callback(_swallow)
                    acks.append(fut)
                    sent += 1
                await asyncio.sleep(0.001)

            def settled() -> bool:
                return all(budget[u] == system.versions[u] and products[u] == system.versions[u] for u in users)

            await wait_until(settled, cfg["drain_s"], 0.01)
            await asyncio.wait(acks, timeout=2)
            stale = sum(1 for u in users if budget[u] != system.versions[u] or products[u] != system.versions[u])
            res = {"repeat": r, "commits": sent, "states": counts["states"], "torn": counts["torn"],
                   "torn_fraction": counts["torn"] / counts["states"] if counts["states"] else float("nan"),
                   "clients_not_current": stale, "loadavg": os.getloadavg()[0]}
            results.append(res)
            log(f"W3 {system.name} r{r}: {res['torn']} torn of {res['states']} states")
            await asyncio.sleep(0.2)
    finally:
        await close_all(conns + writers)
    return results


# ---------------------------------------------------------------------------- W4

async def w4(system: System, cfg: dict) -> list[dict]:
    n = cfg["users"]
    await system.seed(n)
    users = [user_name(i) for i in range(n)]
    state: dict[str, float] = {}

    def sink(conn: Any, updates: list, t: float) -> None:
        for _kind, user, value, _initial in updates:
            if value > state.get(user, -2.0):
                state[user] = value

    conns = {u: system.conn(sink) for u in users}
    writers = [system.writer() for _ in range(cfg["writers"])]
    results = []
    rng = random.Random(4)
    seq = max(system.last_seq.values(), default=0.0) + 1_000_000  # above anything W1 wrote
    try:
        await open_all([conns[u] for u in users], [[("profile", u)] for u in users],
                       [[system.last_seq[u]] for u in users])
        for w in writers:
            await w.open()
        await wait_until(lambda: len(state) == n, 60)
        for r in range(cfg["repeats"]):
            dropped = rng.sample(range(n), max(1, n * cfg["drop_percent"] // 100))
            others = rng.sample([i for i in range(n) if i not in set(dropped)], len(dropped))
            await asyncio.gather(*(conns[users[i]].close() for i in dropped))
            await asyncio.sleep(cfg["gap_s"])
            futs = []
            for i in dropped + others:
                seq += 1
                system.last_seq[users[i]] = seq
                futs.append(writers[i % len(writers)].write("signal", user=users[i], seq=seq))
            await asyncio.wait_for(asyncio.gather(*futs), 30)  # every gap write committed before reconnecting
            fresh = {users[i]: system.conn(sink) for i in dropped}
            # Reconnect: a new connection re-subscribes to the same query (for PocketBase, the
            # SDK's re-subscription: no re-fetch, so no initial value).
            await open_all(list(fresh.values()), [[("profile", u)] for u in fresh], None)
            conns.update(fresh)

            def current() -> bool:
                return all(state[u] >= system.last_seq[u] for u in users)

            t0 = now()
            await wait_until(current, cfg["settle_s"], 0.01)
            settle = now() - t0
            missed_dropped = sum(1 for i in dropped if state[users[i]] < system.last_seq[users[i]])
            missed_others = sum(1 for i in others if state[users[i]] < system.last_seq[users[i]])
            res = {"repeat": r, "dropped": len(dropped), "gap_writes": len(futs),
                   "missed": missed_dropped + missed_others, "missed_dropped": missed_dropped,
                   "missed_connected": missed_others, "settle_s": settle, "loadavg": os.getloadavg()[0]}
            results.append(res)
            log(f"W4 {system.name} r{r}: missed {res['missed']} of {len(futs)} gap updates")
            # Start the next repeat from a fully current state (PocketBase clients would
            # otherwise carry the missed values along).
            for u in users:
                state[u] = max(state[u], system.last_seq[u])
    finally:
        await close_all(list(conns.values()) + writers)
    return results


# ---------------------------------------------------------------------------- W5

def _prefmem_reply(buf: bytes, start: int, end: int) -> bool | None:
    if not buf.startswith(b'{"type":"MutationResponse"', start):
        return None  # a Transition
    return buf.find(b'"success":true', start, end) >= 0


def _baseline_reply(buf: bytes, start: int, end: int) -> bool | None:
    return True if buf.startswith(b'{"t":"ok"', start) else None


def w5_load(system: System) -> dict:
    """How W5 writes to ``system``: ``pipeline.run_window``'s arguments for one small insert per write.

    The same 64-byte payload everywhere; the echo server gets prefmem's Mutation frame."""
    mutation = b'{"type":"Mutation","requestId":%d,"udfPath":"bench:insert","args":[{"seq":%d,"payload":"' \
        + PAYLOAD.encode() + b'"}]}'
    if system.kind == "prefmem":
        connect = msgspec.json.encode({"type": "Connect", "sessionId": str(uuid.uuid4()), "connectionCount": 0,
                                       "lastCloseReason": "InitialConnect", "clientTs": 0})
        return {"http": False, "path": "/api/sync", "encode": lambda n: rawws.ws_frame(mutation % (n, n)),
                "classify": _prefmem_reply, "hello": [rawws.ws_frame(connect)]}
    if system.kind == "echo":
        return {"http": False, "path": "/ws", "encode": lambda n: rawws.ws_frame(mutation % (n, n)),
                "classify": None}
    if system.kind == "baseline":
        write = b'{"op":"insert","rid":%d,"seq":%d,"payload":"' + PAYLOAD.encode() + b'"}'
        return {"http": False, "path": "/ws", "encode": lambda n: rawws.ws_frame(write % (n, n)),
                "classify": _baseline_reply}
    if system.kind == "pocketbase":
        body = b'{"seq":%d,"payload":"' + PAYLOAD.encode() + b'"}'
        head = (b"POST /api/collections/items/records HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n")

        def request(n: int) -> bytes:
            data = body % n
            return head % len(data) + data

        return {"http": True, "path": "", "encode": request, "classify": None}
    raise ValueError(system.kind)


async def w5_window(system: System, clients: int, depth: int, warm_s: float, seconds: float,
                    load: dict | None = None) -> dict:
    """One W5 window (or, with ``load``, another pipelined write: ``pipeline.run_window``'s
    arguments) against ``system``, with the server's CPU and counters around it."""
    before = await system.stats()
    marks: dict[str, float] = {}

    def opened() -> None:  # CPU is counted from here: connecting is not part of the window
        marks["cpu"], marks["t"], marks["own"] = cpu_seconds(system.pid), now(), time.process_time()
        marks["machine"] = machine_cpu_seconds()

    res = await pipeline.run_window(system.ports, clients=clients, depth=depth, warm_s=warm_s, seconds=seconds,
                                    on_open=opened, **(load or w5_load(system)))
    cpu = cpu_seconds(system.pid) - marks["cpu"]
    cpu_wall = now() - marks["t"]
    own = time.process_time() - marks["own"]
    others = machine_cpu_seconds() - marks["machine"] - cpu - own
    await asyncio.sleep(0.1)
    after = await system.stats()
    res.update({"clients": clients, "depth": depth, "server_cpu_percent": 100 * cpu / cpu_wall,
                "loadgen_cpu_percent": 100 * own / cpu_wall,
                # What the rest of the machine used meanwhile: on a shared machine, the cores it took.
                "others_cpu_percent": 100 * others / cpu_wall, "loadavg": os.getloadavg()[0]})
    if before and after and "mutations" in before:
        commits = after["commits"] - before["commits"]
        res["mutations_per_commit"] = (after["mutations"] - before["mutations"]) / commits if commits else None
        res["counters"] = {k: after[k] - before[k] for k in after if isinstance(after[k], (int, float))
                           and isinstance(before.get(k), (int, float))}
    if before and after and "per_worker" in after:
        # How the writes spread over the worker processes (a worker that restarted counts from 0).
        res["mutations_per_worker"] = sorted((w["mutations"] - before["per_worker"].get(pid, {}).get("mutations", 0)
                                              for pid, w in after["per_worker"].items()), reverse=True)
    return res


async def w5(systems: list[System], cfg: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {s.name: [] for s in systems}
    for r in range(cfg["repeats"]):
        for clients in cfg["clients"]:
            for system in systems:  # interleaved: a slow spell of the machine hits every system alike
                try:
                    res = await w5_window(system, clients, cfg["depth"], cfg["warm_s"], cfg["seconds"])
                except Exception as err:  # noqa: BLE001 — report, go on
                    log(f"W5 {system.name} {clients} clients r{r} FAILED: {type(err).__name__}: {err}")
                    res = {"clients": clients, "depth": cfg["depth"], "ops": 0, "rate": 0.0, "errors": 1,
                           "failure": f"{type(err).__name__}: {err}"}
                res["repeat"] = r
                out[system.name].append(res)
                log(f"W5 {system.name} {clients} clients r{r}: {res['rate']:.0f}/s")
    return out


# ---------------------------------------------------------------------------- main

async def run(spec: dict) -> dict:
    systems = {s["name"]: System(s) for s in spec["systems"]}
    ceilings = [System(c) for c in spec.get("ceilings", [])]
    cfg = spec["config"]
    out: dict[str, Any] = {"workloads": {}, "pinned_to": sorted(os.sched_getaffinity(0))
                           if hasattr(os, "sched_getaffinity") else None}
    for s in systems.values():
        await s.open_control()
    try:
        reactive = [s for s in systems.values() if s.kind != "echo"]
        for name, fn in (("W1", w1), ("W2", w2), ("W3", w3), ("W4", w4)):
            if name not in cfg["workloads"]:
                continue
            t0 = time.monotonic()
            out["workloads"][name] = {"loadavg_start": os.getloadavg()[0], "systems": {}}
            for s in reactive:
                if s.name in cfg[name].get("skip", []):
                    continue
                try:
                    out["workloads"][name]["systems"][s.name] = await fn(s, cfg[name])
                except Exception as err:  # noqa: BLE001 — report, go on with the other systems
                    log(f"{name} {s.name} FAILED: {type(err).__name__}: {err}")
                    out["workloads"][name]["systems"][s.name] = {"error": f"{type(err).__name__}: {err}"}
            out["workloads"][name]["seconds"] = time.monotonic() - t0
        if "W5" in cfg["workloads"]:
            t0 = time.monotonic()
            targets = [s for s in reactive if s.name not in cfg["W5"].get("skip", [])] + ceilings
            out["workloads"]["W5"] = {"loadavg_start": os.getloadavg()[0], "systems": await w5(targets, cfg["W5"]),
                                      "seconds": time.monotonic() - t0}
    finally:
        for s in systems.values():
            await s.close_control()
    return out


def run_spec(argv: list[str], run: Callable[[dict], Awaitable[dict]]) -> int:
    """``SPEC.json OUT.json``: pin this process if the spec says so, ``run`` it, write the result."""
    spec = json.loads(open(argv[0]).read())
    cpu = spec.get("pin_cpu")
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError as err:
            log(f"could not pin to CPU {cpu}: {err}")
    result = asyncio.run(run(spec))
    with open(argv[1], "w") as f:
        json.dump(result, f)
    return 0


def main(argv: list[str]) -> int:
    return run_spec(argv, run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
