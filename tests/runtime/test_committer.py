"""The committer: batches behave like their mutations run one by one, and concurrent
committers on one database (worker processes) never produce a non-serializable history."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from prefmem.backend import Backend
from prefmem.persistence.engines import is_postgres, open_persistence
from prefmem.testing import TestBackend
from tests.runtime.conftest import SyncBackend

pytestmark = pytest.mark.engines

APPS = Path(__file__).resolve().parent.parent / "apps"
CHAT = APPS / "chat"
COUNTERS = APPS / "counters"


async def _burst(backend, channel: str, plan: list[bool]) -> list:
    """Submit one mutation per plan entry in the same loop turn (one batch): True succeeds,
    False writes and then raises."""
    app = backend.app
    ok_fn = app.registry.get("messages:send")
    bad_fn = app.registry.get("messages:send_then_fail")
    futures = [app.committer.submit(ok_fn if ok else bad_fn, {"channel": channel, "body": f"m{i}"}, None)
               for i, ok in enumerate(plan)]
    return list(await asyncio.gather(*futures))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.booleans(), min_size=1, max_size=12))
def test_a_batch_keeps_exactly_the_writes_of_its_successful_mutations(plan):
    sync = SyncBackend(CHAT)
    try:
        backend = sync.backend
        channel = sync.mutation("messages:create_channel", {"name": "batch"})
        commits_before = backend.app.committer.commits
        outcomes = sync.run(_burst(backend, channel, plan))
        assert backend.app.committer.commits == commits_before + (1 if any(plan) else 0)  # one group commit
        assert [o.ok for o in outcomes] == plan
        assert all("boom after writing" in o.error for o, ok in zip(outcomes, plan) if not ok)
        stored = [m for m in backend.table("messages") if m["channel"] == channel]
        # Exactly the successful ones, once each, in submission order, with the ids they returned.
        assert [m["body"] for m in stored] == [f"m{i}" for i, ok in enumerate(plan) if ok]
        assert [m["_id"] for m in stored] == [o.value for o in outcomes if o.ok]
        assert len({o.ts for o in outcomes}) == 1
    finally:
        sync.close()


async def test_a_mutation_reads_the_writes_of_those_before_it_in_its_batch():
    async with TestBackend(COUNTERS / "functions", COUNTERS / "schema.py") as backend:
        app = backend.app
        fn = app.registry.get("counters:increment")
        outcomes = await asyncio.gather(*(app.committer.submit(fn, {"name": "c"}, None) for _ in range(20)))
        assert [o.value for o in outcomes] == list(range(1, 21))
        assert app.committer.commits == 1 and app.committer.reexecuted == 0


# ---------------------------------------------------------------------------- many committers

def _prepare(db: Path | str, app_dir: Path) -> None:
    """What the serving parent does before starting workers: check the schema, make indexes."""
    Backend(functions=app_dir / "functions", schema=app_dir / "schema.py", db=db).open().close()


def _workers(db: Path | str, app_dir: Path, n: int = 2) -> list[Backend]:
    """``n`` backends sharing one database, as worker processes (or PostgreSQL nodes) do:
    each its own connections and commit lock, so they exclude each other as processes would."""
    _prepare(db, app_dir)
    return [Backend(functions=app_dir / "functions", schema=app_dir / "schema.py", db=db, shared=True).open()
            for _ in range(n)]


class _Gate:
    """Holds the database's commit lock (SQLite: the ``flock``; PostgreSQL: the head row), so
    that every worker executes its batch at the same snapshot and then waits to commit: the
    most overlap two committers can have."""

    def __init__(self, db: Path | str) -> None:
        self._db = db

    async def __aenter__(self) -> None:
        if is_postgres(self._db):
            import psycopg

            self._conn = psycopg.connect(str(self._db), autocommit=True)
            self._conn.execute("BEGIN")
            self._conn.execute("SELECT ts FROM head FOR UPDATE")
            return
        import fcntl
        import os

        self._fd = os.open(f"{self._db}.commit-lock", os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    async def __aexit__(self, *exc: object) -> None:
        for _ in range(20):  # the committers run their batches (synchronously) and block on the lock
            await asyncio.sleep(0)
        if is_postgres(self._db):
            self._conn.execute("ROLLBACK")
            self._conn.close()
            return
        import fcntl
        import os

        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


async def _submit(app, path: str, args: dict):
    return app.committer.submit(app.registry.get(path), args, None)


async def test_two_committers_incrementing_one_counter_lose_no_update(database):
    db = database
    workers = _workers(db, COUNTERS)
    try:
        apps = [w.app for w in workers]
        await apps[0].call("counters:increment", {"name": "c"})
        seen = []
        for _ in range(20):  # rounds of ten increments on each worker, all at one snapshot
            async with _Gate(db):
                futures = [await _submit(app, "counters:increment", {"name": "c"}) for app in apps for _ in range(10)]
            outcomes = await asyncio.gather(*futures)
            assert all(o.ok for o in outcomes), [o.error for o in outcomes]
            seen += [o.value for o in outcomes]
        state = (await apps[1].call("counters:state", {})).value
        assert state["counters"]["c"] == 401
        assert sorted(seen) == list(range(2, 402))  # every increment saw a distinct value
        assert sum(app.committer.reexecuted for app in apps) == 20 * 10  # every round, one side re-ran
        assert sum(app.committer.conflicts for app in apps) == 20  # ... its batch, once
    finally:
        for w in workers:
            w.close()


async def test_write_skew_never_commits_on_both_sides(database):
    db = database
    workers = _workers(db, COUNTERS)
    try:
        a, b = (w.app for w in workers)
        for round_ in range(20):
            alice, bob = f"alice{round_}", f"bob{round_}"
            await a.call("counters:set_oncall", {"names": [alice, bob]})
            async with _Gate(db):
                futures = [await _submit(a, "counters:go_off_call", {"me": alice, "other": bob}),
                           await _submit(b, "counters:go_off_call", {"me": bob, "other": alice})]
            left = await asyncio.gather(*futures)
            assert [o.ok for o in left] == [True, True]
            state = (await b.call("counters:state", {})).value["oncall"]
            assert state[alice] or state[bob], "both went off call: write skew"
            assert sorted(o.value for o in left) == [False, True]
    finally:
        for w in workers:
            w.close()


_OPS = st.one_of(
    st.tuples(st.just("counters:increment"), st.fixed_dictionaries({"name": st.sampled_from(["x", "y"])})),
    st.tuples(st.just("counters:copy"), st.fixed_dictionaries({"source": st.sampled_from(["x", "y"]),
                                                              "target": st.sampled_from(["x", "y"])})),
    st.tuples(st.just("counters:append"), st.fixed_dictionaries({"entry": st.sampled_from(["p", "q", "r"])})),
)
# Rounds: in each, every worker gets a list of mutations submitted in one loop turn (one batch each).
_ROUNDS = st.lists(st.tuples(st.lists(_OPS, max_size=4), st.lists(_OPS, max_size=4)), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=_ROUNDS)
def test_concurrent_committers_equal_a_serial_run_in_commit_order(rounds, new_database):
    """Whatever the interleaving, every mutation's result and the final state are those of
    running the same mutations one by one in commit-timestamp order."""
    with new_database() as db:
        _concurrent_committers_equal_a_serial_run(rounds, db)


def _concurrent_committers_equal_a_serial_run(rounds, db) -> None:
    async def concurrently() -> list[tuple[int, int, int, str, dict, object]]:
        workers = _workers(db, COUNTERS)
        try:
            done = []
            for round_no, per_worker in enumerate(rounds):
                futures = []
                async with _Gate(db):
                    for w, ops in enumerate(per_worker):
                        for i, (path, args) in enumerate(ops):
                            futures.append(((w, round_no, i, path, args), await _submit(workers[w].app, path, args)))
                outcomes = await asyncio.gather(*(f for _, f in futures))
                for (key, _), outcome in zip(futures, outcomes):
                    assert outcome.ok, outcome.error
                    done.append((outcome.ts, key, outcome.value))
            final = (await workers[0].app.call("counters:state", {})).value
            return done, final
        finally:
            for w in workers:
                w.close()

    done, final = asyncio.run(concurrently())

    async def serially() -> tuple[list, dict]:
        # A worker's batch shares one ts; within it, submission order is the serial order.
        async with TestBackend(COUNTERS / "functions", COUNTERS / "schema.py") as backend:
            values = []
            for _ts, (_w, _r, _i, path, args), _value in sorted(done, key=lambda d: (d[0], d[1])):
                values.append(await backend.mutation(path, args))
            return values, await backend.query("counters:state", {})

    values, serial_final = asyncio.run(serially())
    assert [d[2] for d in sorted(done, key=lambda d: (d[0], d[1]))] == values
    assert final == serial_final


# ---------------------------------------------------------------------------- replies

@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.floats() | st.text() | st.binary(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(min_size=1), inner, max_size=3),
                    max_leaves=8))
def test_a_stored_mutation_reply_round_trips_exactly(value):
    """Replays after a restart answer from the stored reply: floats stay floats, bytes bytes."""
    import math

    from prefmem.database import replies
    from prefmem.values import compare

    key = replies.ReplayKey("s", 5, "alice", "m:f", {"a": 1.0})
    other = replies.ReplayKey("s", 3, "alice", "m:f", {"a": 1.0})
    stored = replies.encode_group(7, [(other, "other", []), (key, value, ["a line"])])
    back = replies.find([stored], key)
    assert back is not None and back.ts == 7 and back.log_lines == ["a line"]
    assert compare(back.value, value) == 0 and type(back.value) is type(value)
    if isinstance(value, float) and not math.isnan(value):
        assert math.copysign(1.0, back.value) == math.copysign(1.0, value)
    assert replies.find([stored], replies.ReplayKey("s", 4, "alice", "m:f", {"a": 1.0})) is None


def test_a_reused_request_id_with_another_identity_function_or_arguments_gets_no_reply():
    from prefmem.database import replies

    key = replies.ReplayKey("s", 1, "issuer|alice", "m:f", {"a": 1.0})
    stored = replies.encode_group(7, [(key, "secret", [])])
    assert replies.find([stored], replies.ReplayKey("s", 1, "issuer|alice", "m:f", {"a": 1.0})).value == "secret"
    for wrong in (replies.ReplayKey("s", 1, "issuer|mallory", "m:f", {"a": 1.0}),
                  replies.ReplayKey("s", 1, "issuer|alice", "m:g", {"a": 1.0}),
                  replies.ReplayKey("s", 1, "issuer|alice", "m:f", {"a": 2.0})):
        with pytest.raises(replies.ReplyMismatch):
            replies.find([stored], wrong)


def test_replies_stored_by_an_earlier_version_are_not_trusted():
    """They carry no binding: a replay of one runs as a new request rather than failing."""
    import msgspec

    from prefmem.database import replies

    legacy = msgspec.msgpack.encode([(1, "old reply", ["a line"])])
    assert replies.find([legacy], replies.ReplayKey("s", 1, "", "m:f", {})) is None


async def test_a_replay_is_answered_from_the_stored_reply_and_not_run_again():
    from prefmem.database.replies import ReplayKey

    async with TestBackend(COUNTERS / "functions", COUNTERS / "schema.py") as backend:
        app = backend.app
        fn = app.registry.get("counters:increment")
        key = ReplayKey("session", 1, "", fn.path, {"name": "c"})
        first = await app.committer.submit(fn, {"name": "c"}, None, key)
        again = await app.committer.submit(fn, {"name": "c"}, None, key, lookup=True)
        assert first.value == again.value == 1
        assert (await backend.query("counters:state", {}))["counters"] == {"c": 1}
        # The same request id from someone else is refused, not answered and not run.
        mallory = ReplayKey("session", 1, "issuer|mallory", fn.path, {"name": "c"})
        refused = await app.committer.submit(fn, {"name": "c"}, None, mallory, lookup=True)
        assert not refused.ok and "already used by another mutation" in refused.error
        assert (await backend.query("counters:state", {}))["counters"] == {"c": 1}


async def test_a_replay_racing_its_original_on_another_worker_runs_once(database):
    """The original and its replay run on two workers at one snapshot; whichever commits
    second conflicts (on the counter and the reply point), re-executes and is answered
    from the other's reply. Each worker's batch also holds another session's increment,
    which has no reply to find and runs once."""
    from prefmem.database.replies import ReplayKey

    workers = _workers(database, COUNTERS)
    try:
        a, b = (w.app for w in workers)
        fn = a.registry.get("counters:increment")
        for round_ in range(1, 11):
            key = ReplayKey("session", round_, "", fn.path, {"name": "c"})
            async with _Gate(database):

                def original() -> list:
                    return [a.committer.submit(fn, {"name": "c"}, None, key),
                            a.committer.submit(fn, {"name": "d"}, None, ReplayKey("a", round_, "", fn.path,
                                                                                  {"name": "d"}))]

                def replay() -> list:
                    return [b.committer.submit(fn, {"name": "c"}, None, key, lookup=True),
                            b.committer.submit(fn, {"name": "d"}, None, ReplayKey("b", round_, "", fn.path,
                                                                                  {"name": "d"}))]

                # The worker whose batch queued first takes the lock first: both orders.
                if round_ % 2:
                    on_a = original()
                    on_b = replay()
                else:
                    on_b = replay()
                    on_a = original()
            first, d_a, replayed, d_b = await asyncio.gather(*on_a, *on_b)
            assert first.value == replayed.value == round_
            assert sorted([d_a.value, d_b.value]) == [2 * round_ - 1, 2 * round_]
        assert (await a.call("counters:state", {})).value["counters"] == {"c": 10, "d": 20}
    finally:
        for w in workers:
            w.close()


async def test_a_replay_committed_elsewhere_before_its_original_runs_answers_the_original(tmp_path):
    """The original has arrived on one worker but its batch has not run yet when its replay
    commits on another (the client reconnected there): the original's snapshot already
    holds the reply, so no conflict can flag it; it must still take that reply, not run."""
    from prefmem.database.committer import _Request
    from prefmem.database.replies import ReplayKey

    workers = _workers(tmp_path / "db.sqlite3", COUNTERS)
    try:
        a, b = (w.app for w in workers)
        fn = a.registry.get("counters:increment")
        key = ReplayKey("session", 1, "", fn.path, {"name": "c"})
        future = asyncio.get_running_loop().create_future()
        # What submit makes on a shared file, the reply's point included.
        arrived = _Request(fn, {"name": "c"}, None, future, key, False, a.write_log.head_ts, key.point)
        replayed = await b.committer.submit(fn, {"name": "c"}, None, key, lookup=True)
        await a.committer._commit_batch([arrived])  # the original's batch, now
        assert replayed.value == future.result().value == 1
        assert (await a.call("counters:state", {})).value["counters"] == {"c": 1}
    finally:
        for w in workers:
            w.close()


async def _a_request_answered_elsewhere_meanwhile(db: Path, monkeypatch, *, lookup_here: bool):
    """One request (a blind insert: no other read of it conflicts) runs on worker a, which has
    executed it when the same request commits on worker b (``lookup``: the one that may be
    a replay). What a and b answered, and the ledger."""
    from prefmem.database.replies import ReplayKey

    workers = _workers(db, COUNTERS)
    try:
        a, b = (w.app for w in workers)
        fn = a.registry.get("counters:append_blind")
        key = ReplayKey("session", 1, "", fn.path, {"entry": "e"})
        begin_commit = a.persistence.begin_commit
        elsewhere = []

        async def the_other_commits_first():
            if not elsewhere:
                elsewhere.append(await b.committer.submit(fn, {"entry": "e"}, None, key, lookup=not lookup_here))
            return await begin_commit()

        monkeypatch.setattr(a.persistence, "begin_commit", the_other_commits_first)
        here = await a.committer.submit(fn, {"entry": "e"}, None, key, lookup=lookup_here)
        return here.value, elsewhere[0].value, (await a.call("counters:state", {})).value["ledger"]
    finally:
        for w in workers:
            w.close()


async def test_a_replay_that_found_no_reply_conflicts_with_its_original_committing_elsewhere(tmp_path, monkeypatch):
    """The replay read the reply's absence: it re-executes and takes the original's reply."""
    assert await _a_request_answered_elsewhere_meanwhile(tmp_path / "db.sqlite3", monkeypatch,
                                                         lookup_here=True) == ("e", "e", ["e"])


async def test_an_original_whose_replay_commits_elsewhere_after_its_snapshot_takes_that_reply(tmp_path, monkeypatch):
    """The original reads no reply point; the replies written since it arrived catch it."""
    assert await _a_request_answered_elsewhere_meanwhile(tmp_path / "db.sqlite3", monkeypatch,
                                                         lookup_here=False) == ("e", "e", ["e"])


class _Changes:
    """Changes holding only mutation replies."""

    def __init__(self, groups: list[tuple[str, int, bytes]]) -> None:
        self.documents, self.index_entries, self.search_entries = {}, {}, {}
        self._groups = groups

    def reply_groups(self, ts: int):
        return self._groups


async def _commit_replies(persistence, ts: int, groups: list[tuple[str, int, bytes]]) -> None:
    slot = await persistence.begin_commit()
    slot.write(ts, _Changes(groups), b"")
    slot.finish()


async def test_a_request_is_looked_up_in_the_first_row_at_or_after_it(database):
    persistence = open_persistence(database)
    ts = 10**18
    await _commit_replies(persistence, ts, [("s", 4, b"1-4"), ("t", 2, b"t")])  # requests 1..4 of s in one commit
    await _commit_replies(persistence, ts + 1, [("s", 9, b"7-9")])
    with persistence.snapshot() as snap:
        assert snap.mutation_replies("s", 1) == [b"1-4"]
        assert snap.mutation_replies("s", 4) == [b"1-4"]
        assert snap.mutation_replies("s", 5) == [b"7-9"]  # 5 and 6 may be failures: the reader checks
        assert snap.mutation_replies("s", 10) == []
        assert snap.mutation_replies("t", 1) == [b"t"]
    persistence.close()


async def test_mutation_replies_are_kept_one_to_two_periods_then_dropped(database):
    from prefmem.persistence.sqlite import MUTATION_RECORD_RETENTION_NS as PERIOD

    persistence = open_persistence(database)
    start = (10**18 // PERIOD + 1) * PERIOD  # the start of a period
    await _commit_replies(persistence, start + 10, [("s", 1, b"one")])
    await _commit_replies(persistence, start + PERIOD - 5, [("s", 2, b"two")])
    await _commit_replies(persistence, start + PERIOD + 3, [("s", 3, b"three")])  # the next period: both kept
    with persistence.snapshot() as snap:
        assert b"one" in snap.mutation_replies("s", 1) and b"two" in snap.mutation_replies("s", 2)
        assert snap.mutation_replies("s", 3) == [b"three"]
    persistence.close()
    persistence = open_persistence(database)  # which table holds which period survives
    await _commit_replies(persistence, start + 2 * PERIOD + 1, [("s", 4, b"four")])  # the period after: one goes
    with persistence.snapshot() as snap:
        kept = snap.mutation_replies("s", 0)  # the first row at or after request 0, in each table
    assert b"one" not in kept and b"two" not in kept and b"three" in kept and b"four" in kept
    await _commit_replies(persistence, start + 2 * PERIOD + 9, [("s", 5, b"five")])  # same period: nothing dropped
    with persistence.snapshot() as snap:
        assert snap.mutation_replies("s", 0) == kept
    persistence.close()


async def test_an_aborted_commit_does_not_move_the_reply_periods(database):
    from prefmem.persistence.sqlite import MUTATION_RECORD_RETENTION_NS as PERIOD

    persistence = open_persistence(database)
    start = (10**18 // PERIOD + 1) * PERIOD
    await _commit_replies(persistence, start + 1, [("s", 1, b"one")])
    slot = await persistence.begin_commit()
    slot.write(start + 2 * PERIOD, _Changes([("s", 2, b"two")]), b"")  # would empty the first period's table...
    slot.abort()  # ...but never happened
    with persistence.snapshot() as snap:
        assert snap.mutation_replies("s", 1) == [b"one"]
    await _commit_replies(persistence, start + 2 * PERIOD + 5, [("s", 3, b"three")])  # this one does
    with persistence.snapshot() as snap:
        assert snap.mutation_replies("s", 1) == [b"three"]  # only the new row is left
    persistence.close()


# ---------------------------------------------------------------------------- the write buffer

_DOCS = st.sampled_from(["a", "b", "c", "d"])
_BOUNDS = st.sampled_from([b"", b"a", b"b\x00", b"c", b"\xff"])
_BUFFER_OPS = st.lists(st.one_of(
    # A put keeps the document's key (None: most patches) or moves it to another.
    st.tuples(st.just("put"), _DOCS, st.one_of(st.none(), _DOCS.map(str.encode)), st.sampled_from([b"1", b"2", b"3"])),
    st.tuples(st.just("delete"), _DOCS),
    st.tuples(st.just("get"), _DOCS),
    st.tuples(st.just("scan"), _BOUNDS, _BOUNDS, st.booleans(), st.integers(min_value=1, max_value=5)),
    st.tuples(st.just("mark"),),
    st.tuples(st.just("rollback"),),
    st.tuples(st.just("commit"),),
), max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_BUFFER_OPS)
# A key removed in the buffer, then taken by another document: that put is not an insert's.
@example(ops=[("put", "a", None, b"1"), ("commit",), ("mark",), ("delete", "a"), ("put", "b", b"a", b"1"),
              ("rollback",)])
def test_a_buffered_view_reads_exactly_what_a_model_of_its_writes_says(ops, new_database):
    """Committed rows, buffered writes over them and rolled-back writes: reads see exactly
    the model's state. Writes are issued the way ``Transaction.write_document`` does."""
    with new_database() as db:
        _buffered_view_reads_the_model(ops, db)


def _buffered_view_reads_the_model(ops, db) -> None:
    from prefmem.database.write_buffer import WriteBuffer

    persistence = open_persistence(db)
    committed: dict[str, tuple[bytes, bytes]] = {}  # doc -> (key, value)
    model = dict(committed)
    buffer, marks, written = WriteBuffer(), [], set()
    ts = [10**18]

    async def commit() -> None:
        slot = await persistence.begin_commit()
        ts[0] += 1
        slot.write(ts[0], buffer, b"")
        slot.finish()

    try:
        for op in ops:
            if op[0] == "put":
                _, doc, key, value = op
                if key is None:
                    key = model[doc][0] if doc in model else doc.encode()
                if any(k == key and d != doc for d, (k, _v) in model.items()):
                    continue  # keys are unique in an index, as encoded keys (value + id) are
                old = model.get(doc)
                changes = []
                if old is not None and old[0] != key:
                    changes.append((7, old[0], None))
                if old is None or old[0] != key:
                    changes.append((7, key, doc))
                # An insert of an id the buffer never saw (ids are never reused) takes the
                # insert path, whose single undo record covers its index keys.
                new = old is None and doc not in buffer.documents and (7, key) not in written
                buffer.put_document(doc, "t", 0.0, value, changes, new=new)
                written.update((7, k) for _i, k, _d in changes)
                model[doc] = (key, value)
            elif op[0] == "delete":
                _, doc = op
                if doc in model:
                    buffer.put_document(doc, "t", 0.0, None, [(7, model[doc][0], None)], new=False)
                    written.add((7, model[doc][0]))  # its removal is buffered: no insert takes the key as new
                    del model[doc]
            elif op[0] == "mark":
                marks.append((buffer.mark(), dict(model), set(written)))
            elif op[0] == "rollback":
                if marks:
                    mark, model, written = marks.pop()
                    buffer.rollback(mark)
            elif op[0] in ("get", "scan"):
                with persistence.snapshot() as base:
                    view = buffer.view(base)
                    if op[0] == "get":
                        got = view.get(op[1])
                        assert (got.value if got is not None else None) == (model[op[1]][1] if op[1] in model else None)
                    else:
                        _, lo, hi, reverse, limit = op
                        want = sorted(((k, v, d) for d, (k, v) in model.items() if lo <= k < hi),
                                      reverse=reverse)[:limit]
                        assert view.scan(7, lo, hi, reverse, limit) == want
            else:
                asyncio.run(commit())
                buffer, marks, written = WriteBuffer(), [], set()
        asyncio.run(commit())
        with persistence.snapshot() as snap:
            assert snap.scan(7, b"", b"\xff\xff\xff", False, 100) == sorted((k, v, d) for d, (k, v) in model.items())
    finally:
        persistence.close()


# ---------------------------------------------------------------------------- the WAL (SQLite)

def _wal_frames(path) -> int:
    """Frames in the WAL now (a PASSIVE checkpoint on another connection reports them)."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    finally:
        conn.close()


@pytest.mark.sqlite_only
async def test_the_committer_keeps_the_wal_short_by_checkpointing_in_the_background(tmp_path):
    """SQLite's own checkpoint (inside a COMMIT, on the event loop) is off; the committer's
    must keep the WAL from growing with every commit."""
    db = tmp_path / "wal.sqlite3"
    async with TestBackend(CHAT / "functions", CHAT / "schema.py", db=db) as backend:
        persistence = backend.app.persistence
        persistence.checkpoint_every = 8
        channel = await backend.mutation("messages:create_channel", {"name": "wal"})
        for i in range(300):  # one commit each
            await backend.mutation("messages:send", {"channel": channel, "body": f"m{i}"})
        for _ in range(500):  # let the copy in flight (if any) finish
            if persistence._copying is None or persistence._copying.done():
                break
            await asyncio.sleep(0.01)
        # The next commit finishes a finished copy's checkpoint; the one after it starts the WAL over.
        await backend.mutation("messages:send", {"channel": channel, "body": "finish"})
        await backend.mutation("messages:send", {"channel": channel, "body": "restart"})
        frames = _wal_frames(db)
        # ~10 frames a commit: at most about one checkpoint period (8 commits) and the two
        # above are left; without the committer's checkpoints all 300 commits are (~3,000).
        assert 0 < frames < 150
        assert backend.app.committer.commits > 300


@pytest.mark.sqlite_only
async def test_commits_go_on_while_the_wal_is_copied(tmp_path):
    """The bulk of a checkpoint runs beside the commits; only its short finish holds them."""
    import threading

    async with TestBackend(CHAT / "functions", CHAT / "schema.py", db=tmp_path / "wal.sqlite3") as backend:
        committer = backend.app.committer
        persistence = backend.app.persistence
        persistence.checkpoint_every = 2
        release, started = threading.Event(), threading.Event()
        copy_wal = persistence.copy_wal

        def slow_copy() -> None:
            started.set()
            assert release.wait(10)
            copy_wal()

        persistence.copy_wal = slow_copy
        channel = await backend.mutation("messages:create_channel", {"name": "wal"})
        await backend.mutation("messages:send", {"channel": channel, "body": "a"})
        assert await asyncio.to_thread(started.wait, 10)
        commits = committer.commits
        for i in range(5):  # all commit while the copy is stuck
            await asyncio.wait_for(backend.mutation("messages:send", {"channel": channel, "body": f"b{i}"}), 5)
        assert committer.commits == commits + 5 and persistence._copying is not None
        release.set()
        await asyncio.wait_for(asyncio.shield(persistence._copying), 10)
        await backend.mutation("messages:send", {"channel": channel, "body": "c"})  # finishes the checkpoint
        assert persistence._copying is None


@pytest.mark.sqlite_only
async def test_a_failed_checkpoint_is_logged_and_commits_go_on(tmp_path, caplog):
    async with TestBackend(CHAT / "functions", CHAT / "schema.py", db=tmp_path / "wal.sqlite3") as backend:
        persistence = backend.app.persistence
        persistence.checkpoint_every = 1

        def broken() -> None:
            raise OSError("disk on fire")

        persistence.copy_wal = broken
        channel = await backend.mutation("messages:create_channel", {"name": "wal"})
        for i in range(5):
            await asyncio.wait_for(backend.mutation("messages:send", {"channel": channel, "body": f"m{i}"}), 5)
        for _ in range(200):
            if "WAL checkpoint failed: disk on fire" in caplog.text:
                break
            await asyncio.sleep(0.01)
        assert "WAL checkpoint failed: disk on fire" in caplog.text
        assert len([m for m in backend.table("messages") if m["channel"] == channel]) == 5


@pytest.mark.sqlite_only
async def test_a_cancelled_wal_copy_does_not_end_the_committer(tmp_path):
    async with TestBackend(CHAT / "functions", CHAT / "schema.py", db=tmp_path / "wal.sqlite3") as backend:
        committer = backend.app.committer
        persistence = backend.app.persistence
        channel = await backend.mutation("messages:create_channel", {"name": "wal"})
        cancelled = asyncio.get_running_loop().create_future()
        cancelled.cancel()
        persistence._copying = cancelled
        await backend.mutation("messages:send", {"channel": channel, "body": "after"})
        await asyncio.sleep(0)
        assert persistence._copying is None and not committer._task.done()


async def test_a_process_reads_the_others_commits_from_the_shared_log(database):
    """``log_since``: what a following process reads after a wake-up, in one go."""
    workers = _workers(database, COUNTERS)
    try:
        a, b = (w.app for w in workers)
        before = b.write_log.head_ts
        first = (await a.mutation(a.registry.get("counters:increment"), {"name": "c"}, None)).ts
        second = (await a.mutation(a.registry.get("counters:increment"), {"name": "c"}, None)).ts
        records = b.persistence.log_since(before)
        assert records.ts == second and [ts for ts, _ in records.log_after(before)] == [first, second]
        assert records.log_after(first) == records.records[1:]
        b.catch_up()
        assert b.write_log.head_ts == second and [ts for ts, _ in b.write_log.entries_after(before)] == [first, second]
    finally:
        for w in workers:
            w.close()
