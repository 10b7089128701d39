"""The dashboard's server-side parts on their own: bounded histories, one-time login codes,
the execution log without the runtime's own functions, system function registration, and
the page's static files. The dashboard against a real server: tests/e2e/test_dashboard.py."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import httpx
from starlette.applications import Starlette

from prefmem.backend import Backend
from prefmem.dashboard import Dashboard
from prefmem.dashboard.data import COUNTS
from prefmem.dashboard.functions import FUNCTIONS
from prefmem.dashboard.history import OTHER, FunctionStats, HealthHistory, MINUTE_MS
from prefmem.dashboard.login import LoginCodes
from prefmem.dashboard.metrics import Counters, total
from prefmem.dashboard.routes import dashboard_routes
from prefmem.dashboard.system import system_function
from prefmem.functions import FunctionDef, Registry, internal_query
from prefmem.dashboard.logs import LOGS
from prefmem.logs import ExecutionLog
from prefmem.reactivity import Subscriptions
from prefmem.server import Server
from prefmem.testing import TestClock
from tests.runtime.conftest import APPS

pytestmark = pytest.mark.engines

T0 = 1_800_000_000_000.0
BOARD = APPS / "board"


def counters(commits: int = 0, mutations: int = 0, live: int = 0, wal: int = 0) -> Counters:
    return Counters(commits=commits, mutations=mutations, query_runs=0, live_queries=live, connections=0,
                    database_bytes=4096, wal_bytes=wal)


# ---------------------------------------------------------------------------- health

def test_health_keeps_one_hour_of_samples_whatever_runs():
    history = HealthHistory(every_s=5.0)
    for i in range(10_000):
        history.add(T0 + i * 5000.0, counters(commits=i))
    assert len(history) == 721  # an hour of 5 s intervals, both ends included
    series = history.series(T0 + 9999 * 5000.0, counters(commits=9999))
    assert len(series) == 720 and series[0]["t"] == T0 + (10_000 - 720) * 5000.0


def test_health_series_are_rates_over_each_interval_and_gauges_at_its_end():
    history = HealthHistory(every_s=5.0)
    history.add(T0, counters(commits=10, mutations=20, live=3))
    history.add(T0 + 5000, counters(commits=60, mutations=520, live=7, wal=8192))
    # Half a second later the current counters make no point of their own (too short to rate)...
    (only,) = history.series(T0 + 5500, counters(commits=61))
    assert only == {"t": T0 + 5000, "commitsPerS": 10.0, "mutationsPerS": 100.0, "queryRunsPerS": 0.0,
                    "liveQueries": 7, "connections": 0, "databaseBytes": 4096, "walBytes": 8192}
    # ... two seconds later they do.
    last = history.series(T0 + 7000, counters(commits=70, mutations=520))[-1]
    assert last["t"] == T0 + 7000 and last["commitsPerS"] == 5.0 and last["mutationsPerS"] == 0.0


def test_health_forgets_samples_older_than_an_hour():
    history = HealthHistory(every_s=60.0)
    history.add(T0, counters())
    history.add(T0 + 60_000, counters(commits=60))
    later = T0 + 3 * 3600_000
    assert history.series(later, counters(commits=100)) == []


# ---------------------------------------------------------------------------- function counters

def test_function_counters_by_minute_with_errors_and_percentiles():
    stats = FunctionStats()
    for i in range(100):
        stats.add("tasks:add", ok=i % 10 != 0, duration_ms=1.0 + i / 100, time_ms=T0 + i * 100)
    stats.add("tasks:add", ok=True, duration_ms=500.0, time_ms=T0 + MINUTE_MS * 2)
    (entry,) = stats.summary(T0 + MINUTE_MS * 2)
    assert entry["path"] == "tasks:add" and entry["calls"] == 101 and entry["errors"] == 10
    assert 1.0 / 1.3 <= entry["p50"] <= 1.5 * 1.3
    assert 1.99 / 1.3 <= entry["p99"] <= 1.99 * 1.3
    series = entry["series"]
    assert len(series) == 60 and series[-1]["calls"] == 1 and series[-1]["p50"] == series[-1]["p99"]
    assert 500 / 1.3 <= series[-1]["p99"] <= 500 * 1.3
    assert sum(p["calls"] for p in series) == 101 and series[-2]["calls"] == 0 and series[-2]["p50"] is None
    assert stats.counted == 101 and stats.since_ms == T0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=10_000.0, allow_nan=False), min_size=1, max_size=300),
       st.sampled_from([0.5, 0.99]))
def test_percentiles_are_within_one_bucket_of_the_exact_ones(durations, q):
    stats = FunctionStats()
    for d in durations:
        stats.add("f:g", ok=True, duration_ms=d, time_ms=T0)
    (entry,) = stats.summary(T0)
    exact = sorted(durations)[max(1, math.ceil(q * len(durations))) - 1]
    found = entry["p50" if q == 0.5 else "p99"]
    if exact <= 0.01:
        assert found == 0.01
    else:  # the middle of a bucket 30 % wide
        assert exact / 1.3**0.5 <= found * (1 + 1e-9) and found <= exact * 1.3**0.5 * (1 + 1e-9)


def test_function_counters_are_bounded_in_paths_and_in_time():
    stats = FunctionStats(most_functions=3)
    for i in range(10):
        stats.add(f"GET /files/{i}", ok=True, duration_ms=1.0, time_ms=T0)
    paths = {e["path"]: e["calls"] for e in stats.summary(T0)}
    assert paths == {"GET /files/0": 1, "GET /files/1": 1, "GET /files/2": 1, OTHER: 7}
    stats.prune(T0 + 61 * MINUTE_MS)
    assert stats.summary(T0 + 61 * MINUTE_MS) == []
    stats.add("new:path", ok=True, duration_ms=1.0, time_ms=T0 + 61 * MINUTE_MS)
    assert [e["path"] for e in stats.summary(T0 + 61 * MINUTE_MS)] == ["new:path"]


# ---------------------------------------------------------------------------- login codes

async def test_a_login_code_works_once_and_only_before_it_expires(database):
    clock = TestClock(T0)
    backend = Backend(functions=BOARD / "functions", schema=BOARD / "schema.py", db=database, clock=clock).open()
    try:
        codes = LoginCodes(backend.app, ttl_ms=600_000)
        code, expires = await codes.issue()
        assert expires == T0 + 600_000 and len(code) >= 32
        assert await codes.redeem(code) and not await codes.redeem(code)
        late, _ = await codes.issue()
        clock.advance(600_000)
        assert not await codes.redeem(late)
        assert not await codes.redeem(None) and not await codes.redeem("") and not await codes.redeem(["x"])
        # The app's functions cannot read the codes, not even through ctx.db.system.
        with pytest.raises(Exception, match="_dashboard_login_codes"):
            (await backend.app.run(peek, {}, None)).unwrap()
    finally:
        backend.close()


@internal_query
async def peek(ctx, args):
    return await ctx.db.system.query("_dashboard_login_codes").collect()


async def test_outstanding_login_codes_are_bounded(database):
    clock = TestClock(T0)
    backend = Backend(functions=BOARD / "functions", schema=BOARD / "schema.py", db=database, clock=clock).open()
    try:
        codes = LoginCodes(backend.app, most=4)
        issued = []
        for _ in range(10):
            issued.append((await codes.issue())[0])
            clock.advance(1)
        assert not await codes.redeem(issued[5]) and await codes.redeem(issued[-1])
        assert [await codes.redeem(code) for code in issued[6:9]] == [True, True, True]
    finally:
        backend.close()


def test_the_counters_of_several_workers_add_up_and_the_database_counts_once():
    own = counters(commits=3, mutations=5, live=2, wal=100)
    others = [{"commits": 1, "mutations": 2, "query_runs": 4, "live_queries": 1, "connections": 3,
               "database_bytes": 4096, "wal_bytes": 100}, {"commits": 10}]
    assert total(own, others) == Counters(commits=14, mutations=7, query_runs=4, live_queries=3, connections=3,
                                          database_bytes=4096, wal_bytes=100)
    assert total(own, []) == own


# ---------------------------------------------------------------------------- runtime hooks

def test_the_execution_log_leaves_out_the_runtimes_own_functions():
    log = ExecutionLog()
    log.add("_system/scheduler:due", "query", None, [], 0.0)
    log.add("_system/dashboard/logs:recent", "query", None, [], 0.0)
    log.add("tasks:add", "mutation", None, ["[LOG] hi"], 0.0)
    assert [r.path for r in log.since(0)] == ["tasks:add"] and log.last_seq == 1


def test_system_functions_are_internal_and_under_system():
    registry = Registry()

    @system_function("query", "data:tables")
    async def tables(ctx, args):
        return []

    registry.add_system([tables])
    assert registry.get("_system/dashboard/data:tables", allow_internal=True) is tables
    with pytest.raises(Exception, match="Could not find public function"):
        registry.get("_system/dashboard/data:tables")
    public = FunctionDef(lambda ctx, args: None, "query", path="_system/dashboard/data:open")
    misplaced = FunctionDef(lambda ctx, args: None, "query", internal=True, path="data:tables")
    for fn in (public, misplaced):
        with pytest.raises(ValueError, match="internal and live under _system/"):
            registry.add_system([fn])


# ---------------------------------------------------------------------------- the pulse

async def test_an_open_dashboard_reruns_only_sources_that_changed(database):
    clock = TestClock()  # from now: the execution log stamps records with the wall clock
    backend = Backend(functions=BOARD / "functions", schema=BOARD / "schema.py", db=database,
                      clock=clock).open()
    try:
        server = Server(backend)
        server.subscriptions = Subscriptions(backend.app)
        board = Dashboard(server)
        board.register(backend.registry)
        app = backend.app
        await app.call("notes:add", {"title": "one", "priority": 1})
        assert board.pulse() == [LOGS, FUNCTIONS, COUNTS]
        assert board.pulse() == []  # nothing happened: nothing reruns
        # The dashboard's own queries leave the log alone, so showing it changes nothing.
        for path in ("logs:recent", "functions:stats", "data:tables", "health:overview"):
            assert (await app.call(f"_system/dashboard/{path}", {}, allow_internal=True)).ok
        assert board.pulse() == []
        await app.call("notes:add", {"title": "two", "priority": 1})
        assert board.pulse() == [LOGS]  # counters and counts wait for their second
        clock.advance(999)
        assert board.pulse() == []
        clock.advance(1)
        assert board.pulse() == [FUNCTIONS, COUNTS]
        (add,) = board.stats.summary(clock.now_ms())
        assert add["path"] == "notes:add" and add["calls"] == 2 and board.stats.counted == 2
    finally:
        backend.close()


# ---------------------------------------------------------------------------- the page

def page_client(dist) -> httpx.AsyncClient:
    app = Starlette(routes=dashboard_routes(server=None, dist=dist))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dashboard.test")


async def test_the_built_page_is_served_under_its_mount(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<title>dashboard</title>")
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    (tmp_path.parent / "secret.txt").write_text("no")
    async with page_client(tmp_path) as client:
        for path in ("/_dashboard", "/_dashboard/"):
            page = await client.get(path)
            assert page.status_code == 200 and "dashboard" in page.text and page.headers["cache-control"] == "no-cache"
        asset = await client.get("/_dashboard/assets/index-abc.js")
        assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
        assert (await client.get("/_dashboard/%2e%2e/secret.txt")).status_code == 404
        assert (await client.get("/_dashboard/assets/..%2f..%2fsecret.txt")).status_code == 404
        assert (await client.get("/_dashboard/missing.js")).status_code == 404


async def test_an_unbuilt_page_says_how_to_build_it(tmp_path):
    async with page_client(tmp_path / "nothing") as client:
        reply = await client.get("/_dashboard/")
    assert reply.status_code == 404 and "make dashboard" in reply.text
