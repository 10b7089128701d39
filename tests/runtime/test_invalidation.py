"""Invalidation: a commit marks exactly the live queries whose read intervals hold a written key.

Soundness is what a user sees: whenever a write changes a query's result, that query is
marked stale (a missed rerun is a stale screen). Precision is what the design promises:
a query is marked only when a written key lies inside one of its read intervals, which
the plain ``ReadSet.overlaps`` reference checks.
"""

from __future__ import annotations

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefmem.intervals import IntervalIndex
from prefmem.reactivity import Subscriptions
from tests.runtime.test_queries import documents, specs

pytestmark = pytest.mark.engines

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])

byte_strings = st.binary(min_size=0, max_size=4)


@settings(max_examples=300, deadline=None)
@given(intervals=st.lists(st.tuples(byte_strings, byte_strings), max_size=60), keys=st.lists(byte_strings, max_size=20),
       removed=st.sets(st.integers(0, 59)))
def test_interval_index_stabs_exactly_like_brute_force(intervals, keys, removed):
    index = IntervalIndex()
    live = {}
    for n, (lo, hi) in enumerate(intervals):
        if index.add(lo, hi, n):
            live[n] = (lo, hi)
    for n in removed:
        if n in live:
            index.remove(*live.pop(n), n)
    assert len(index) == len(live)
    for key in keys:
        assert set(index.stab(key)) == {n for n, (lo, hi) in live.items() if lo <= key < hi}


def test_large_buckets_switch_to_a_tree_and_back():
    index = IntervalIndex()
    prefix = b"\x06user\x00"
    spans = [(prefix + bytes([i]), prefix + bytes([i, 9])) for i in range(100)]
    for n, (lo, hi) in enumerate(spans):
        index.add(lo, hi, n)
    assert set(index.stab(prefix + bytes([42, 1]))) == {42}
    for n, (lo, hi) in enumerate(spans[:95]):
        index.remove(lo, hi, n)
    assert set(index.stab(prefix + bytes([97, 0]))) == {97} and len(index) == 5


class _Recorder:
    def on_flush(self, ts, changed):
        pass


@PROPERTY
@given(data=st.data())
def test_writes_invalidate_every_query_they_change_and_only_overlapping_ones(props_backend, data):
    backend = props_backend.backend
    app = backend.app
    docs = data.draw(st.lists(documents(), min_size=1, max_size=8))
    props_backend.mutation("items:reset", {"docs": docs})
    fn = app.registry.get("items:run")
    query_specs = data.draw(st.lists(specs(docs), min_size=1, max_size=5))
    for spec in query_specs:
        spec["consumer"] = data.draw(st.sampled_from([["collect"], ["take", 1], ["take", 2], ["first"], ["count"]]))

    subs = Subscriptions(app)
    recorder = _Recorder()

    async def subscribe_all() -> list:
        async with subs.current() as snapshot:
            return [subs.subscribe(fn, {"spec": spec}, None, None, recorder, snapshot) for spec in query_specs]

    lives = props_backend.run(subscribe_all())
    before = [live.outcome.value for live in lives]
    before_ts = [live.outcome.ts for live in lives]
    read_sets = [live.outcome.read_set for live in lives]
    assert all(live.outcome.ok for live in lives), [live.outcome.error for live in lives]

    # One random write, one commit: insert, replace, or delete.
    stored = backend.table("items")
    action = data.draw(st.sampled_from(["insert", "patch", "delete"]))
    captured = []

    def capture(ts, keys):
        captured.append(keys)

    app.write_log.add_listener(capture)
    if action == "insert":
        props_backend.mutation("items:insert", {"doc": data.draw(documents())})
    else:
        target = data.draw(st.sampled_from(stored))
        if action == "delete":
            props_backend.mutation("items:reset_keep", {"delete": [target["_id"]]})
        else:
            props_backend.mutation("items:replace", {"id": target["_id"], "doc": data.draw(documents())})
    app.write_log.remove_listener(capture)
    writes = [w for keys in captured for w in keys]
    props_backend.run(subs.settled())
    # A query marked stale by the commit is rerun by the flush: its result is from a later snapshot.
    stale_at_commit = {n for n, (live, ts) in enumerate(zip(lives, before_ts)) if live.outcome.ts != ts}

    for n, (live, old, read_set) in enumerate(zip(lives, before, read_sets)):
        with app.persistence.snapshot() as snapshot:
            after = app.runner.execute_query(live.fn, live.args, None, snapshot).value
        overlapping = any(read_set.contains(index_id, key) for index_id, key in writes)
        assert (n in stale_at_commit) == overlapping, "marked stale exactly when a written key is in a read interval"
        if after != old:
            assert n in stale_at_commit, f"result changed from {old} to {after} but the query was not invalidated"
    for live in lives:
        subs.unsubscribe(live, recorder)
    subs.close()
