"""Two ``prefmem dev`` nodes (separate processes, separate ports) on one PostgreSQL database,
driven by the official npm client, behave as one serializable, reactive deployment.

A client on one node sees writes made through the other live; increments through both lose
none; write skew never commits; scheduled functions and crons run once; and when a node is
SIGKILLed under load, its clients reconnect (through a forwarder that fails over, as a load
balancer would) to the other node, which answers their replayed mutations exactly once and
brings their subscriptions up to date: no acknowledged write lost, no update missed.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.conftest import NodeDriver
from tests.e2e.test_workers import _events, _increments, _labels_after_a_barrier, _results
from tests.helpers.forwarder import Forwarder
from tests.helpers.server import RunningServer, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def schema_url(postgres_url):
    from prefmem.testing import fresh_schema

    url, drop = fresh_schema(postgres_url)
    yield url
    drop()


def _nodes(app: str, url: str, n: int = 2) -> list[RunningServer]:
    return [RunningServer(app, url).start() for _ in range(n)]


@pytest.fixture
def counter_nodes(schema_url):
    nodes = _nodes("counters", schema_url)
    yield nodes
    for node in nodes:
        node.stop()


@pytest.fixture
def drivers(counter_nodes):
    """An npm client process on each node."""
    a, b = counter_nodes
    on_a, on_b = NodeDriver(a.url), NodeDriver(b.url)
    yield on_a, on_b
    on_a.close()
    on_b.close()


def _state(node: RunningServer) -> dict:
    return httpx.post(node.url + "/api/query", json={"path": "counters:state", "args": {}}, timeout=10).json()["value"]


def test_a_client_on_one_node_sees_writes_through_the_other_live(drivers):
    on_a, on_b = drivers
    on_a.send(op="subscribe", client="a", key="state", path="counters:state", args={})
    on_a.wait(lambda e: e.get("key") == "state" and e["ev"] == "update")
    for i in range(1, 6):
        assert on_b.call("mutation", "counters:increment", {"name": "live"}, client="b")["value"] == i
        on_a.wait(lambda e, i=i: e.get("key") == "state" and e["ev"] == "update"
                  and e["value"]["counters"].get("live") == i)


def test_increments_through_two_nodes_lose_no_update(counter_nodes, drivers):
    a, b = counter_nodes
    on_a, on_b = drivers
    keys_a, keys_b = _increments(on_a, "a", 500, "a"), _increments(on_b, "b", 500, "b")
    values = _results(on_a, keys_a, timeout=120) + _results(on_b, keys_b, timeout=120)
    assert sorted(values) == list(range(1, 1001))  # each saw a distinct count
    assert _state(a)["counters"]["c"] == _state(b)["counters"]["c"] == 1000


def test_write_skew_through_two_nodes_never_commits_on_both_sides(counter_nodes, drivers):
    a, b = counter_nodes
    on_a, on_b = drivers
    for round_ in range(30):
        alice, bob = f"alice{round_}", f"bob{round_}"
        on_a.call("mutation", "counters:set_oncall", {"names": [alice, bob]}, client="a")
        on_a.send(op="mutation", client="a", key=f"a{round_}", path="counters:go_off_call",
                  args={"me": alice, "other": bob})
        on_b.send(op="mutation", client="b", key=f"b{round_}", path="counters:go_off_call",
                  args={"me": bob, "other": alice})
        left = _results(on_a, [f"a{round_}"]) + _results(on_b, [f"b{round_}"])
        assert sorted(left) == [False, True], f"round {round_}: {left}"
    oncall = _state(b)["oncall"]
    assert all(oncall[f"alice{r}"] or oncall[f"bob{r}"] for r in range(30))


def test_scheduled_functions_and_crons_run_once_across_two_nodes_and_move_when_the_leader_dies(schema_url):
    nodes = _nodes("jobs", schema_url)
    a, b = nodes
    drivers = [NodeDriver(a.url), NodeDriver(b.url)]
    try:
        for n in range(4):  # from both nodes
            drivers[n % 2].call("mutation", "tasks:fan_out", {"label": f"job{n}", "count": 25}, client=f"c{n}")
        deadline = time.monotonic() + 30
        labels: list[str] = []
        while len(labels) < 100 and time.monotonic() < deadline:
            time.sleep(0.2)
            labels = [e["label"] for e in _events(b) if e["label"].startswith("job")]
        assert sorted(labels) == sorted(f"job{n}-{i}" for n in range(4) for i in range(25))
        events = _labels_after_a_barrier(drivers[1], b, "c1", deadline)
        assert sorted(label for label in events if label.startswith("job")) == sorted(labels)
        # The one-second cron: one tick a second, not one per node.
        ticks: list[float] = []
        while len(ticks) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
            ticks = [e["_creationTime"] for e in _events(a) if e["label"] == "tick"]
        gaps = [later - earlier for earlier, later in zip(ticks, ticks[1:])]
        assert len(ticks) >= 4 and all(gap > 500 for gap in gaps), f"ticks {gaps} ms apart"
        # The leader (the first node up) dies: the other takes the scheduler over.
        a.kill()
        drivers[1].call("mutation", "tasks:fan_out", {"label": "after", "count": 5}, client="late")
        deadline = time.monotonic() + 30
        after: list[str] = []
        while len(after) < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
            after = [e["label"] for e in _events(b) if e["label"].startswith("after")]
        assert sorted(after) == [f"after-{i}" for i in range(5)]
    finally:
        for driver in drivers:
            driver.close()
        for node in nodes:
            node.stop()


def test_killing_a_node_under_writes_loses_nothing_and_its_clients_miss_no_update(counter_nodes):
    """Writers on both nodes; subscribers and a writer reach node A through a forwarder.
    SIGKILL A mid-stream: the forwarder's clients reconnect to B, which answers their
    replayed mutations from the stored replies (none runs twice, none is lost), and every
    subscriber ends with the final state, writes made while it was away included."""
    a, b = counter_nodes
    forwarder = Forwarder([a.port, b.port]).start()
    through, direct = NodeDriver(forwarder.url), NodeDriver(b.url)
    try:
        subscribers = [f"s{i}" for i in range(10)]
        for name in subscribers:
            through.send(op="subscribe", client=name, key=f"state-{name}", path="counters:state", args={})
        for name in subscribers:
            through.wait(lambda e, name=name: e.get("key") == f"state-{name}" and e["ev"] == "update")
        assert set(forwarder.connections) == {a.port}
        keys_through = _increments(through, "w", 300, "a")
        keys_direct = _increments(direct, "b", 300, "b")
        through.wait(lambda e: e.get("key", "").startswith("a-") and e["ev"] == "result")  # mid-stream
        a.kill()
        gap_keys = _increments(direct, "b", 50, "gap")  # while A's clients are away
        values = _results(through, keys_through, timeout=120) + _results(direct, keys_direct + gap_keys, timeout=120)
        assert sorted(values) == list(range(1, 651))  # every write acknowledged once, with a distinct count
        assert _state(b)["counters"]["c"] == 650
        # The clients came back through B (one may first have reached A's socket while A was dying).
        wait_until(lambda: forwarder.connections[-1] == b.port, "the last connection going to B")
        for name in subscribers:  # each subscriber reaches the final state: no update missed
            through.wait(lambda e, name=name: e.get("key") == f"state-{name}" and e["ev"] == "update"
                         and e["value"]["counters"].get("c") == 650, timeout=60)
    finally:
        through.close()
        direct.close()
        forwarder.stop()
