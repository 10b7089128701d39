"""Group commit: a batch of mutations behaves exactly like the same mutations run one by one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.runtime._reference import values
from tests.runtime.conftest import SyncBackend

APP = Path(__file__).resolve().parent.parent / "apps" / "chat"


async def _burst(backend, channel: str, plan: list[bool]) -> list:
    """Submit one mutation per plan entry in the same loop turn (one batch): True succeeds,
    False writes and then raises."""
    runner = backend.runner
    ok_fn = runner.registry.get("messages:send")
    bad_fn = runner.registry.get("messages:send_then_fail")
    futures = [runner.committer.submit(ok_fn if ok else bad_fn, {"channel": channel, "body": f"m{i}"}, None)
               for i, ok in enumerate(plan)]
    return list(await asyncio.gather(*futures))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.booleans(), min_size=1, max_size=12))
def test_a_batch_keeps_exactly_the_writes_of_its_successful_mutations(plan):
    sync = SyncBackend(APP)
    try:
        backend = sync.backend
        channel = sync.mutation("messages:create_channel", {"name": "batch"})
        commits_before = backend.runner.committer.commits
        outcomes = sync.run(_burst(backend, channel, plan))
        assert backend.runner.committer.commits == commits_before + 1  # one group commit
        assert [o.ok for o in outcomes] == plan
        assert all("boom after writing" in o.error for o, ok in zip(outcomes, plan) if not ok)
        stored = [m for m in backend.table("messages") if m["channel"] == channel]
        # Exactly the successful ones, once each, in submission order, with the ids they returned.
        assert [m["body"] for m in stored] == [f"m{i}" for i, ok in enumerate(plan) if ok]
        assert [m["_id"] for m in stored] == [o.value for o in outcomes if o.ok]
        assert len({o.ts for o in outcomes}) == 1
    finally:
        sync.close()


@settings(max_examples=300, deadline=None)
@given(values())
def test_a_stored_mutation_reply_round_trips_exactly(value):
    """Replays after a restart answer from the stored record: ints stay ints, bytes bytes."""
    import math as _math

    from prefmem.runner import Outcome
    from prefmem.values import compare

    stored = Outcome.encode_replies([(3, Outcome(value="other")), (5, Outcome(value=value, log_lines=["a line"]))])
    back = Outcome.from_replies(stored, 7, 5)
    assert back.ts == 7 and back.log_lines == ["a line"] and back.ok
    assert compare(back.value, value) == 0 and type(back.value) is type(value)
    if isinstance(value, float) and not _math.isnan(value):
        assert _math.copysign(1.0, back.value) == _math.copysign(1.0, value)
    assert Outcome.from_replies(stored, 7, 4) is None


def _commit_replies(storage, ts: int, rows: list[tuple[str, int, bytes]]) -> None:
    """One batch committed at exactly ``ts`` that stores ``rows`` of mutation replies."""
    storage.last_ts = ts - 1  # a batch's ts is the next after the last commit's (clock permitting)
    batch = storage.write_batch()
    assert batch.ts == ts
    batch.put_mutation_replies(rows)
    batch.commit()


def test_a_request_is_looked_up_in_the_first_row_at_or_after_it(tmp_path):
    from prefmem.storage import Storage

    storage = Storage(tmp_path / "records.sqlite3")
    ts = storage.next_ts() + 10**12
    _commit_replies(storage, ts, [("s", 4, b"1-4"), ("t", 2, b"t")])  # requests 1..4 of s in one batch
    _commit_replies(storage, ts + 1, [("s", 9, b"7-9")])
    assert storage.mutation_replies("s", 1) == [(b"1-4", ts)]
    assert storage.mutation_replies("s", 4) == [(b"1-4", ts)]
    assert storage.mutation_replies("s", 5) == [(b"7-9", ts + 1)]  # 5 and 6 may be failures: the reader checks
    assert storage.mutation_replies("s", 10) == []
    assert storage.mutation_replies("t", 1) == [(b"t", ts)]
    storage.close()


def test_mutation_replies_are_kept_one_to_two_periods_then_dropped(tmp_path):
    from prefmem.storage import MUTATION_RECORD_RETENTION_NS as PERIOD, Storage

    storage = Storage(tmp_path / "records.sqlite3")
    start = (storage.next_ts() // PERIOD + 1) * PERIOD  # the start of a period, in the future
    _commit_replies(storage, start + 10, [("s", 1, b"one")])
    _commit_replies(storage, start + PERIOD - 5, [("s", 2, b"two")])
    _commit_replies(storage, start + PERIOD + 3, [("s", 3, b"three")])  # the next period: both kept
    assert (b"one", start + 10) in storage.mutation_replies("s", 1)
    assert (b"two", start + PERIOD - 5) in storage.mutation_replies("s", 2)
    assert storage.mutation_replies("s", 3) == [(b"three", start + PERIOD + 3)]
    storage.close()
    storage = Storage(tmp_path / "records.sqlite3")  # which table holds which period survives a restart
    _commit_replies(storage, start + 2 * PERIOD + 1, [("s", 4, b"four")])  # the period after: the first goes
    kept = storage.mutation_replies("s", 0)  # the first row at or after request 0, in each table
    assert (b"one", start + 10) not in kept and (b"two", start + PERIOD - 5) not in kept
    assert (b"three", start + PERIOD + 3) in kept and (b"four", start + 2 * PERIOD + 1) in kept
    _commit_replies(storage, start + 2 * PERIOD + 9, [("s", 5, b"five")])  # same period: nothing dropped
    assert storage.mutation_replies("s", 0) == kept
    storage.close()


def test_a_rolled_back_batch_does_not_move_the_reply_periods(tmp_path):
    from prefmem.storage import MUTATION_RECORD_RETENTION_NS as PERIOD, Storage

    storage = Storage(tmp_path / "records.sqlite3")
    start = (storage.next_ts() // PERIOD + 1) * PERIOD
    _commit_replies(storage, start + 1, [("s", 1, b"one")])
    storage.last_ts = start + 2 * PERIOD
    batch = storage.write_batch()
    batch.put_mutation_replies([("s", 2, b"two")])  # would empty the first period's table...
    batch.rollback()  # ...but never happened
    assert storage.mutation_replies("s", 1) == [(b"one", start + 1)]
    _commit_replies(storage, start + 2 * PERIOD + 5, [("s", 3, b"three")])  # this one does
    assert storage.mutation_replies("s", 1) == [(b"three", start + 2 * PERIOD + 5)]  # only the new row is left
    storage.close()


def test_a_batch_reads_its_own_waiting_inserts_and_a_restart_drops_them(tmp_path):
    from prefmem.storage import Storage

    storage = Storage(tmp_path / "batch.sqlite3")
    batch = storage.write_batch()
    batch.put_document("d1", "t", 1.0, b"v1")
    batch.put_index_entries([(7, b"k1", "d1")])
    assert batch.snapshot.get("d1").value == b"v1"  # a read sees the waiting rows (from the batch itself)
    assert batch.snapshot.scan(7, b"", b"\xff", False, 10) == [(b"k1", b"v1")]  # its range holds k1: flushed
    batch.put_document("d2", "t", 2.0, b"v2")
    batch.put_index_entries([(7, b"k2", "d2")])
    batch.delete_index_entries([(7, b"k2")])  # a delete comes after the inserts made before it
    batch.delete_document("d2")
    batch.put_document("d3", "t", 3.0, b"v3")
    batch.restart()  # dropped, whether handed over or still waiting
    batch.put_document("d4", "t", 4.0, b"v4")
    batch.put_index_entries([(7, b"k4", "d4")])
    batch.commit()
    with storage.snapshot() as snap:
        assert [snap.get(d) is not None for d in ("d1", "d2", "d3", "d4")] == [False, False, False, True]
        assert snap.scan(7, b"", b"\xff", False, 10) == [(b"k4", b"v4")]
    storage.close()


def test_a_read_hands_waiting_writes_to_sqlite_only_when_its_range_holds_one(tmp_path):
    """Insert-then-query mutations (W1's signal) must not pay two one-row executemany calls."""
    from prefmem.storage import Storage

    storage = Storage(tmp_path / "lazy.sqlite3")
    batch = storage.write_batch()
    batch.put_document("d1", "t", 1.0, b"v1")
    batch.put_index_entries([(7, b"k1", "d1")])
    batch.commit()
    batch = storage.write_batch()
    batch.put_document("d1", "t", 1.0, b"v1b")  # a patch: same entry, newer value, still waiting
    batch.put_document("d2", "t", 2.0, b"v2")
    batch.put_index_entries([(7, b"k5", "d2")])
    assert batch.snapshot.get("d1").value == b"v1b"
    assert batch.snapshot.scan(7, b"", b"k3", False, 10) == [(b"k1", b"v1b")]  # overlaid, not flushed
    assert batch.snapshot.scan(8, b"", b"\xff", False, 10) == []
    assert set(batch.waiting_documents()) == {"d1", "d2"}
    assert batch.snapshot.scan(7, b"", b"\xff", True, 10) == [(b"k5", b"v2"), (b"k1", b"v1b")]  # holds k5: flushed
    assert batch.waiting_documents() == {}
    batch.commit()
    with storage.snapshot() as snap:
        assert snap.scan(7, b"", b"\xff", False, 10) == [(b"k1", b"v1b"), (b"k5", b"v2")]
    storage.close()


_DOCS = st.sampled_from(["a", "b", "c", "d"])
_BOUNDS = st.sampled_from([b"", b"a", b"b\x00", b"c", b"\xff"])
_OPS = st.lists(st.one_of(
    # A put keeps the document's key (None: most patches) or moves it to another.
    st.tuples(st.just("put"), _DOCS, st.one_of(st.none(), _DOCS.map(str.encode)), st.sampled_from([b"1", b"2", b"3"])),
    st.tuples(st.just("delete"), _DOCS),
    st.tuples(st.just("get"), _DOCS),
    st.tuples(st.just("scan"), _BOUNDS, _BOUNDS, st.booleans(), st.integers(min_value=1, max_value=5)),
    st.tuples(st.just("commit"),),
), max_size=30)


@settings(max_examples=300, deadline=None)
@given(ops=_OPS)
# A committed document patched in the next batch: the scan must overlay the waiting version.
@example(ops=[("put", "a", None, b"1"), ("commit",), ("put", "a", None, b"2"), ("scan", b"", b"\xff", False, 5)])
def test_a_batch_reads_exactly_what_a_model_of_its_writes_says(ops, tmp_path_factory):
    """Whatever mix of waiting and handed-over writes, reads see every write of the batch.

    The writes are issued the way ``Transaction.write_document`` issues them: a changed key
    deletes the old entry, a delete removes entry and document."""
    from prefmem.storage import Storage

    storage = Storage(tmp_path_factory.mktemp("lazy") / "model.sqlite3")
    model: dict[str, tuple[bytes, bytes]] = {}  # doc -> (key, value)
    batch = storage.write_batch()
    try:
        for op in ops:
            if op[0] == "put":
                _, doc, key, value = op
                if key is None:
                    key = model[doc][0] if doc in model else doc.encode()
                if any(k == key and d != doc for d, (k, _v) in model.items()):
                    continue  # keys are unique in an index, as encoded keys (value + id) are
                old = model.get(doc)
                if old is not None and old[0] != key:
                    batch.delete_index_entries([(7, old[0])])
                if old is None or old[0] != key:
                    batch.put_index_entries([(7, key, doc)])
                batch.put_document(doc, "t", 0.0, value)
                model[doc] = (key, value)
            elif op[0] == "delete":
                _, doc = op
                if doc in model:
                    batch.delete_index_entries([(7, model[doc][0])])
                    batch.delete_document(doc)
                    del model[doc]
            elif op[0] == "get":
                _, doc = op
                got = batch.snapshot.get(doc)
                assert (got.value if got is not None else None) == (model[doc][1] if doc in model else None)
            elif op[0] == "scan":
                _, lo, hi, reverse, limit = op
                want = sorted(((k, v) for k, v in model.values() if lo <= k < hi), reverse=reverse)[:limit]
                assert batch.snapshot.scan(7, lo, hi, reverse, limit) == want
            else:
                batch.commit()
                batch = storage.write_batch()
        batch.commit()
        with storage.snapshot() as snap:
            assert snap.scan(7, b"", b"\xff\xff\xff", False, 100) == sorted(model.values())
    finally:
        batch.rollback()
        storage.close()


def _wal_frames(path) -> int:
    """Frames in the WAL now (a PASSIVE checkpoint on another connection reports them)."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    finally:
        conn.close()


async def test_the_committer_keeps_the_wal_short_by_checkpointing_in_the_background(tmp_path):
    """SQLite's own checkpoint (inside a COMMIT, on the event loop) is off; the committer's
    must keep the WAL from growing with every commit."""
    from prefmem.testing import TestBackend

    db = tmp_path / "wal.sqlite3"
    async with TestBackend(APP / "functions", APP / "schema.py", db=db) as backend:
        committer = backend.runner.committer
        committer.checkpoint_every = 8
        channel = await backend.mutation("messages:create_channel", {"name": "wal"})
        for i in range(300):  # one commit each
            await backend.mutation("messages:send", {"channel": channel, "body": f"m{i}"})
        for _ in range(500):  # let the copy in flight (if any) finish
            if committer._copying is None or committer._copying.done():
                break
            await asyncio.sleep(0.01)
        # The next commit finishes a finished copy's checkpoint; the one after it starts the WAL over.
        await backend.mutation("messages:send", {"channel": channel, "body": "finish"})
        await backend.mutation("messages:send", {"channel": channel, "body": "restart"})
        frames = _wal_frames(db)
        # ~10 frames a commit: at most about one checkpoint period (8 commits) and the two
        # above are left; without the committer's checkpoints all 300 commits are (~3,000).
        assert 0 < frames < 150
        assert committer.commits > 300


async def test_commits_go_on_while_the_wal_is_copied(tmp_path):
    """The bulk of a checkpoint runs beside the commits; only its short finish holds them."""
    import threading

    from prefmem.testing import TestBackend

    async with TestBackend(APP / "functions", APP / "schema.py", db=tmp_path / "wal.sqlite3") as backend:
        committer = backend.runner.committer
        storage = backend.runner.storage
        committer.checkpoint_every = 2
        release, started = threading.Event(), threading.Event()
        copy_wal = storage.copy_wal

        def slow_copy() -> None:
            started.set()
            assert release.wait(10)
            copy_wal()

        storage.copy_wal = slow_copy
        channel = await backend.mutation("messages:create_channel", {"name": "wal"})
        await backend.mutation("messages:send", {"channel": channel, "body": "a"})
        assert await asyncio.to_thread(started.wait, 10)
        commits = committer.commits
        for i in range(5):  # all commit while the copy is stuck
            await asyncio.wait_for(backend.mutation("messages:send", {"channel": channel, "body": f"b{i}"}), 5)
        assert committer.commits == commits + 5 and committer._copying is not None
        release.set()
        await asyncio.wait_for(asyncio.shield(committer._copying), 10)
        await backend.mutation("messages:send", {"channel": channel, "body": "c"})  # finishes the checkpoint
        assert committer._copying is None


async def test_a_failed_checkpoint_is_logged_and_commits_go_on(tmp_path, caplog):
    from prefmem.testing import TestBackend

    async with TestBackend(APP / "functions", APP / "schema.py", db=tmp_path / "wal.sqlite3") as backend:
        committer = backend.runner.committer
        committer.checkpoint_every = 1

        def broken() -> None:
            raise OSError("disk on fire")

        backend.runner.storage.copy_wal = broken
        channel = await backend.mutation("messages:create_channel", {"name": "wal"})
        for i in range(5):
            await asyncio.wait_for(backend.mutation("messages:send", {"channel": channel, "body": f"m{i}"}), 5)
        for _ in range(200):
            if "WAL checkpoint failed: disk on fire" in caplog.text:
                break
            await asyncio.sleep(0.01)
        assert "WAL checkpoint failed: disk on fire" in caplog.text
        assert len([m for m in backend.table("messages") if m["channel"] == channel]) == 5


async def test_a_cancelled_wal_copy_does_not_end_the_committer(tmp_path):
    from prefmem.testing import TestBackend

    async with TestBackend(APP / "functions", APP / "schema.py", db=tmp_path / "wal.sqlite3") as backend:
        committer = backend.runner.committer
        channel = await backend.mutation("messages:create_channel", {"name": "wal"})
        cancelled = asyncio.get_running_loop().create_future()
        cancelled.cancel()
        committer._copying = cancelled
        await backend.mutation("messages:send", {"channel": channel, "body": "after"})
        await asyncio.sleep(0)
        assert committer._copying is None and not committer._task.done()
