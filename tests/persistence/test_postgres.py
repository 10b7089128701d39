"""What only the PostgreSQL engine has: nodes that start together, wake each other, elect one
leader, share keys and file bytes, and settings that say what durability means there.

(Everything both engines share, the runtime suite checks on both: tests marked ``engines``.)
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from prefmem.files import pg_files
from prefmem.files.pg_files import PostgresFiles
from prefmem.persistence import postgres
from prefmem.persistence.postgres import PostgresPersistence
from prefmem.testing import fresh_schema
from tests.helpers.commits import Changes, commit

APPS = Path(__file__).resolve().parents[1] / "apps"
COUNTERS = APPS / "counters"


@pytest.fixture
def url(postgres_url):
    schema_url, drop = fresh_schema(postgres_url)
    yield schema_url
    drop()


_OPEN_NODE = """
import json, sys
from prefmem.backend import Backend
backend = Backend(functions=sys.argv[1], schema=sys.argv[2], db=sys.argv[3]).open()
print(json.dumps(sorted([*key, *value] for key, value in backend.persistence.index_ids().items())))
backend.close()
"""


def test_nodes_starting_at_once_prepare_the_database_once(url):
    """Four nodes (processes) start together on an empty database: each lays out the tables
    and creates the app's indexes, one at a time, and all agree on the result."""
    nodes = [subprocess.Popen([sys.executable, "-c", _OPEN_NODE, str(COUNTERS / "functions"),
                               str(COUNTERS / "schema.py"), url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outputs = [node.communicate(timeout=120) for node in nodes]
    assert all(node.returncode == 0 for node in nodes), [err for _out, err in outputs]
    seen = [json.loads(out) for out, _err in outputs]
    assert all(ids == seen[0] for ids in seen) and seen[0]
    assert len({index_id for _table, _name, index_id, _fields in seen[0]}) == len(seen[0])  # none made twice


async def test_a_commit_wakes_the_other_nodes(url):
    a, b = PostgresPersistence(url), PostgresPersistence(url)
    woken = {"a": asyncio.Event(), "b": asyncio.Event()}
    try:
        a.listen(woken["a"].set)
        b.listen(woken["b"].set)
        ts = await commit(a)
        await asyncio.wait_for(woken["b"].wait(), 10)
        with b.snapshot() as snapshot:
            assert snapshot.ts == ts and [t for t, _ in snapshot.log_after(0)] == [ts]
        await commit(b)
        await asyncio.wait_for(woken["a"].wait(), 10)
    finally:
        a.close()
        b.close()


async def test_a_node_is_not_woken_by_its_own_commits(url):
    """Its own NOTIFYs come from its writer's backend, which the listener recognizes: after
    commits of its own, a marker notification from another session is the first wake-up.
    (The pauses let the loop read the node's own notifications on their own, before the
    marker, so that a wrong wake-up would show; they cannot make a right one fail.)"""
    a = PostgresPersistence(url)
    wakes: list[int] = []
    marker = asyncio.Event()
    try:
        a.listen(lambda: (wakes.append(1), marker.set()))
        for _ in range(3):
            await commit(a)
            await asyncio.sleep(0.05)
        with psycopg.connect(url, autocommit=True) as other:
            other.execute("SELECT pg_notify(%s, '')", (a.channel,))
        await asyncio.wait_for(marker.wait(), 10)
        await asyncio.sleep(0)
        assert wakes == [1]
    finally:
        a.close()


def test_one_node_leads_and_another_takes_over_when_it_goes(url):
    a, b = PostgresPersistence(url), PostgresPersistence(url)
    try:
        assert a.try_lead() and a.try_lead()  # leading again is a no-op
        assert not b.try_lead()
        a.stop_leading()
        assert b.try_lead() and not a.try_lead()
        b.close()  # the node ends: its connection, and with it the lock, goes
        assert a.try_lead()
    finally:
        a.close()
        b.close()


def test_deployments_in_two_schemas_of_one_database_never_meet(postgres_url):
    (one, drop_one), (two, drop_two) = fresh_schema(postgres_url), fresh_schema(postgres_url)
    a, b = PostgresPersistence(one), PostgresPersistence(two)
    try:
        assert a.try_lead() and b.try_lead()  # each its own leader
        assert a.channel != b.channel
        asyncio.run(commit(a))
        with b.snapshot() as snapshot:
            assert snapshot.ts == 0
    finally:
        a.close()
        b.close()
        drop_one()
        drop_two()


def test_every_node_gets_the_same_secrets(url):
    a, b = PostgresPersistence(url), PostgresPersistence(url)
    try:
        first = a.secret("admin_key", lambda: "made by a")
        assert first == "made by a" and b.secret("admin_key", lambda: "made by b") == "made by a"
        assert b.stored_secret("admin_key") == "made by a" and b.stored_secret("nothing") is None
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("durability, setting", [("normal", "off"), ("full", "on")])
def test_durability_is_synchronous_commit(url, durability, setting):
    persistence = PostgresPersistence(url, durability)
    try:
        assert persistence._writer.execute("SHOW synchronous_commit").fetchone()[0] == setting
    finally:
        persistence.close()


async def _until_waiting(url: str) -> None:
    """Until a session of this database waits for a lock (the head row, held by the test).
    Asked on a connection of its own: within a transaction, the activity view stays as first read."""
    with psycopg.connect(url, autocommit=True) as watcher:
        for _ in range(1000):
            row = watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                  "AND datname = current_database()").fetchone()
            if row is not None and row[0]:
                return
            await asyncio.sleep(0.005)
    raise AssertionError("begin_commit never waited for the head row")


async def test_a_commit_waiting_for_another_node_does_not_block_the_event_loop(url):
    """While another node holds the head row, begin_commit waits in a thread: the loop runs."""
    a = PostgresPersistence(url)
    holder = psycopg.connect(url, autocommit=True)
    try:
        holder.execute("BEGIN")
        holder.execute("SELECT ts FROM head FOR UPDATE")
        waiting = asyncio.ensure_future(commit(a))
        await _until_waiting(url)
        for _ in range(50):
            await asyncio.sleep(0)  # the loop keeps turning
        assert not waiting.done()
        holder.execute("ROLLBACK")
        assert await asyncio.wait_for(waiting, 10) == 1
    finally:
        holder.close()
        a.close()


async def test_a_commit_cancelled_while_waiting_lets_go_of_the_head_row(url):
    a, b = PostgresPersistence(url), PostgresPersistence(url)
    holder = psycopg.connect(url, autocommit=True)
    try:
        holder.execute("BEGIN")
        holder.execute("SELECT ts FROM head FOR UPDATE")
        waiting = asyncio.ensure_future(a.begin_commit())
        await _until_waiting(url)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        holder.execute("ROLLBACK")
        # a's thread takes the row and lets it go again; then both nodes commit as usual.
        assert await asyncio.wait_for(commit(b), 10) == 1
        assert await asyncio.wait_for(commit(a), 10) == 2
    finally:
        holder.close()
        a.close()
        b.close()


async def test_pinned_snapshots_end_once_they_are_too_old(url, monkeypatch):
    persistence = PostgresPersistence(url)
    try:
        pinned = persistence.pinned_snapshot()
        await persistence.maintain()
        assert not pinned.revoked
        monkeypatch.setattr(postgres, "PINNED_MAX_AGE_S", -1.0)
        await persistence.maintain()
        assert pinned.revoked
    finally:
        persistence.close()


def test_file_bytes_are_stored_in_chunks_and_streamed_back(url, monkeypatch, tmp_path):
    monkeypatch.setattr(pg_files, "CHUNK_BYTES", 1000)
    persistence = PostgresPersistence(url)
    files, other_node = PostgresFiles(persistence.conninfo), PostgresFiles(persistence.conninfo)
    data = bytes(range(256)) * 20  # 5,120 bytes: six chunks

    async def chunks_of(payload: bytes):
        for i in range(0, len(payload), 777):
            yield payload[i:i + 777]

    def chunks():
        return chunks_of(data)

    try:
        temp, sha256, size = asyncio.run(files.receive(chunks()))
        assert size == len(data)
        files.keep(temp, "abc123")
        assert not temp.exists()  # the spooled copy is gone
        stored = other_node.open("abc123")
        assert stored is not None and stored.size == len(data)
        assert [len(c) for c in stored.chunks] == [1000] * 5 + [120]
        assert other_node.read("abc123") == data
        files.remove("abc123")
        assert other_node.open("abc123") is None and other_node.read("abc123") is None
        empty, _sha256, _size = asyncio.run(files.receive(chunks_of(b"")))
        files.keep(empty, "empty1")
        assert other_node.read("empty1") == b"" and other_node.open("empty1").size == 0  # exists, and is empty
        with pytest.raises(Exception, match="not a storage id"):
            files.open("../etc")
    finally:
        files.close()
        other_node.close()
        persistence.close()


async def test_a_commit_writes_documents_and_entries_of_every_kind_in_one_statement_each(url):
    """Whole-number creation times arrive as ``int`` beside fractional ones; deletes and puts of
    documents and index entries land together."""
    persistence = PostgresPersistence(url)
    try:
        first = Changes()
        first.documents = {"a": ("t", 1, b"A"), "b": ("t", 1.5, b"B"), "c": ("t", 2.25, b"C")}
        first.index_entries = {7: {b"ka": "a", b"kb": "b", b"kc": "c"}}
        await commit(persistence, first)
        second = Changes()
        second.documents = {"a": ("t", 1, b"A2"), "c": ("t", 2.25, None), "d": ("u", 3, b"D")}
        second.index_entries = {7: {b"kc": None, b"kd": "d"}, 8: {b"x": "a"}}
        await commit(persistence, second)
        with persistence.snapshot() as snapshot:
            assert [(row.table, row.creation_time, row.value) for row in map(snapshot.get, "abd")] == \
                [("t", 1.0, b"A2"), ("t", 1.5, b"B"), ("u", 3.0, b"D")]
            assert snapshot.get("c") is None
            assert [(key, value, doc_id) for key, value, doc_id in snapshot.scan(7, b"", b"\xff", False, 10)] == \
                [(b"ka", b"A2", "a"), (b"kb", b"B", "b"), (b"kd", b"D", "d")]
            assert snapshot.scan(8, b"", b"\xff", False, 10) == [(b"x", b"A2", "a")]
    finally:
        persistence.close()


async def test_a_get_after_a_short_scan_reads_the_scanned_document_without_a_statement(url, monkeypatch):
    persistence = PostgresPersistence(url)
    try:
        changes = Changes()
        changes.documents = {f"d{n}": ("t", float(n), b"v%d" % n) for n in range(20)}
        changes.index_entries = {1: {b"k%02d" % n: f"d{n}" for n in range(20)}}
        await commit(persistence, changes)
        with persistence.snapshot() as snapshot:
            snapshot.scan(1, b"k00", b"k02", False, 10)  # short: d0 and d1 are kept
            snapshot.scan(1, b"k00", b"k20", False, 20)  # long: nothing more is kept
            statements = []
            cursor = type(snapshot._cur)
            original = cursor.execute
            monkeypatch.setattr(cursor, "execute", lambda self, *a, **k: (statements.append(a[0]), original(self, *a, **k))[1])
            assert snapshot.get("d1").value == b"v1"
            assert statements == []
            assert snapshot.get("d15").value == b"v15"
            assert len(statements) == 1
    finally:
        persistence.close()


async def test_snapshots_ended_back_to_back_leave_the_reader_usable(url):
    """Snapshots share the node's reader connection: two ended one after the other leave it
    ready for the next snapshot, the log and a commit."""
    persistence = PostgresPersistence(url)
    try:
        ts = await commit(persistence)
        first, second = persistence.snapshot(), persistence.snapshot()
        first.close()
        second.close()
        for _ in range(3):
            with persistence.snapshot() as snapshot:
                assert snapshot.ts == ts
        assert persistence.log_since(0).ts == ts
        assert await commit(persistence) == ts + 1
        with persistence.snapshot() as snapshot:
            assert snapshot.ts == ts + 1
    finally:
        persistence.close()
