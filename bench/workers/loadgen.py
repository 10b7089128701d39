"""The workers workload's load generator: ``python -m bench.workers.loadgen SPEC.json OUT.json``.

Started by ``bench.workers.run``; not pinned, like the servers: the 1-worker and 2-worker
figures are both taken while this process shares the two cores with the server under test.
The systems take turns window by window (W5, contended), rate by rate (W1) and commit by
commit (W2), so a slow spell of the machine hits them alike. The workloads themselves are
bench/sidebyside's (``loadgen.W1``, ``loadgen.W2``, ``loadgen.w5_window``); this adds the
contended one. Every loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from bench.sidebyside import rawws
from bench.sidebyside.clients import PBHttp
from bench.sidebyside.loadgen import W1, W2, System, log, now, run_spec, w5, w5_load, w5_window

def counter_name(k: int) -> str:
    return f"c{k}"


def contended_load(system: System, counters: int) -> dict:
    """W5's pipelined writes, each an increment of one of ``counters`` counters (cycling)."""
    frame = b'{"type":"Mutation","requestId":%d,"udfPath":"bench:increment","args":[{"name":"c%d"}]}'
    return {**w5_load(system), "encode": lambda n: rawws.ws_frame(frame % (n, n % counters))}


async def query(system: System, path: str) -> Any:
    conn = await PBHttp(system.port).open()
    try:
        _t, body = await asyncio.wait_for(conn.request("POST", "/api/query", {"path": path, "args": {}}), 30)
    finally:
        await conn.close()
    reply = json.loads(body)
    if reply.get("status") != "success":
        raise RuntimeError(f"{system.name}: {path} failed: {body[:200]!r}")
    return reply["value"]


async def contended(systems: list[System], cfg: dict) -> dict:
    """Many writers on few rows: ``clients`` connections pipelining increments of ``counters``
    counters. Afterwards every counter must equal the increments acknowledged on it: a
    lost update would show there."""
    names = [counter_name(k) for k in range(cfg["counters"])]
    acked: dict[str, int] = {}
    for system in systems:
        writer = system.writer()
        await writer.open()
        try:
            await asyncio.wait_for(writer.write("seed_counters", names=names), 30)
        finally:
            await writer.close()
        acked[system.name] = int(sum((await query(system, "bench:counters")).values()))  # any earlier run's
    out: dict[str, Any] = {s.name: [] for s in systems}
    for r in range(cfg["repeats"]):
        for system in systems:
            try:
                res = await w5_window(system, cfg["clients"], cfg["depth"], cfg["warm_s"], cfg["seconds"],
                                      contended_load(system, cfg["counters"]))
            except Exception as err:  # noqa: BLE001 — report, go on
                log(f"contended {system.name} r{r} FAILED: {type(err).__name__}: {err}")
                res = {"ops": 0, "rate": 0.0, "errors": 1, "acked": 0, "failure": f"{type(err).__name__}: {err}"}
            res["repeat"] = r
            acked[system.name] += res["acked"]
            counters = res.get("counters", {})
            if counters.get("mutations"):
                # The counters cover the warm-up and the drain too: their shares scale the window's rate.
                res["reexecuted_share"] = counters["reexecuted"] / counters["mutations"]
                res["conflicts_per_mutation"] = counters["conflicts"] / counters["mutations"]
                res["reexecuted_per_s"] = res["reexecuted_share"] * res["rate"]
                res["conflicts_per_s"] = res["conflicts_per_mutation"] * res["rate"]
            out[system.name].append(res)
            log(f"contended {system.name} r{r}: {res['rate']:.0f} increments/s, "
                f"{res.get('reexecuted_per_s', 0):.0f} re-executed/s, {res.get('conflicts_per_s', 0):.0f} conflicts/s")
    totals = {}
    for system in systems:
        stored = await query(system, "bench:counters")
        totals[system.name] = {"acknowledged": acked[system.name], "stored": int(sum(stored.values())),
                               "counters": stored}
    return {"systems": out, "totals": totals}


async def w1(systems: list[System], cfg: dict) -> dict[str, list[dict]]:
    """W1, the systems taking turns at each rate; a higher (extra) rate only for a system
    that held p99 < 100 ms at the rate below in this repeat."""
    runs = [W1(s, cfg) for s in systems]
    out: dict[str, list[dict]] = {s.name: [] for s in systems}
    try:
        for run in runs:
            await run.open()
        for run in runs:
            await run.window(50, 0.5)  # warm-up, not recorded
        for r in range(cfg["repeats"]):
            passed = {s.name: True for s in systems}
            for rate in cfg["rates"] + cfg["extra_rates"]:
                for run in runs:
                    name = run.system.name
                    if rate in cfg["extra_rates"] and not passed[name]:
                        continue
                    res = await run.window(rate, cfg["seconds"])
                    res.update({"repeat": r, "extra": rate in cfg["extra_rates"]})
                    passed[name] = res["p99_ms"] < 100 and res["lost"] == 0
                    out[name].append(res)
                    log(f"W1 {name} r{r} {rate}/s: p50 {res['p50_ms']:.1f} p99 {res['p99_ms']:.1f} ms, lost "
                        f"{res['lost']}, CPU server {res['cpu_percent']:.0f} % load generator "
                        f"{res['loadgen_cpu_percent']:.0f} %")
                    await asyncio.sleep(0.2)
    finally:
        for run in runs:
            await run.close()
    return out


async def w2(systems: list[System], cfg: dict) -> dict[str, list[dict]]:
    """W2, every system holding its subscribers at once; the systems take turns commit by commit."""
    runs = [W2(s, cfg) for s in systems]
    out: dict[str, list[dict]] = {s.name: [] for s in systems}
    try:
        for run in runs:
            await run.open()
        for level in cfg["levels"]:
            for run in runs:
                await run.grow(level)
            for r in range(cfg["repeats"]):
                for run in runs:
                    res = await run.commit()
                    res["repeat"] = r
                    out[run.system.name].append(res)
                    log(f"W2 {run.system.name} {level} r{r}: last {res['last_ms']:.0f} ms, executions "
                        f"{res['executions_per_commit']}, sessions per worker {res.get('sessions_per_worker')}, "
                        f"CPU server {res['server_cpu_percent']:.0f} % load generator "
                        f"{res['loadgen_cpu_percent']:.0f} %")
                    await asyncio.sleep(0.3)
    finally:
        for run in runs:
            await run.close()
    return out


async def run(spec: dict) -> dict:
    servers = [System(s) for s in spec["systems"]]
    ceilings = [System(c) for c in spec.get("ceilings", [])]
    cfg = spec["config"]
    for system in servers + ceilings:
        await system.ready()
    out: dict[str, Any] = {"workloads": {}}
    for name, fn, targets in (("W5", w5, servers + ceilings), ("contended", contended, servers),
                              ("W1", w1, servers), ("W2", w2, servers)):
        if name not in cfg["workloads"]:
            continue
        t0 = time.monotonic()
        result: dict[str, Any] = {"loadavg_start": os.getloadavg()[0]}
        if fn is contended:
            result.update(await contended(targets, cfg[name]))
        else:
            result["systems"] = await fn(targets, cfg[name])
        result["seconds"] = time.monotonic() - t0
        out["workloads"][name] = result
    return out


if __name__ == "__main__":
    sys.exit(run_spec(sys.argv[1:], run))
