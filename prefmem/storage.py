"""Documents and index entries in one SQLite file.

The narrow interface the rest of the runtime sees: read documents and index ranges at a
snapshot (``Snapshot``), and write a batch of document and index-entry changes that
commits at a new timestamp (``WriteBatch``). Nothing above this module writes SQL.

Concurrency is SQLite's WAL: one writer connection, which alone assigns commit
timestamps, and one reader connection whose read transactions are the snapshots. The
writer runs several mutations in one SQLite transaction, each inside its own savepoint,
and commits them together: with ``synchronous=FULL`` that is group commit, one fsync for
the whole batch.

Durability levels (``Durability``):
- ``normal`` (default): WAL with ``synchronous=NORMAL``. A commit is in the WAL file
  before it is acknowledged, so a crashed or SIGKILLed process loses nothing; a power cut
  or kernel crash can lose the last commits.
- ``full``: ``synchronous=FULL``, an fsync per commit batch. Acknowledged commits also
  survive power loss, at the price of one fsync per batch.
"""

from __future__ import annotations

import bisect
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Iterator

import msgspec

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()

encode_document = _encoder.encode
decode_document = _decoder.decode


class Durability(str, Enum):
    NORMAL = "normal"
    FULL = "full"


SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    tbl TEXT NOT NULL,
    creation_time REAL NOT NULL,
    ts INTEGER NOT NULL,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_entries (
    index_id INTEGER NOT NULL,
    key BLOB NOT NULL,
    doc_id TEXT NOT NULL,
    PRIMARY KEY (index_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS indexes (
    index_id INTEGER PRIMARY KEY,
    tbl TEXT NOT NULL,
    name TEXT NOT NULL,
    fields TEXT NOT NULL,
    UNIQUE (tbl, name)
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value
);
""" + "".join(f"""
CREATE TABLE IF NOT EXISTS mutation_replies_{slot} (
    session_id TEXT NOT NULL,
    last_request_id INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    replies BLOB NOT NULL,
    PRIMARY KEY (session_id, last_request_id)
) WITHOUT ROWID;""" for slot in (0, 1)) + """
-- earlier layouts of the replies (one row per mutation)
DROP TABLE IF EXISTS mutation_records;
DROP TABLE IF EXISTS mutation_records_0;
DROP TABLE IF EXISTS mutation_records_1;
"""

# How long a committed mutation's reply is kept for a client that replays it on a new
# socket (npm does, after any disconnect, for mutations it saw no Transition for).
# Reconnects come within seconds; a server restart within minutes.
#
# A batch stores one row per session: the replies to that session's requests in it, keyed
# by the last request id, so a request's row is the first at or after its id. Rows go to
# one of two tables by alternate period of this length; a batch that starts a period
# empties the table of the period before last, whose rows are all at least one period
# old. So each reply is kept for one to two periods, without an index on age.
MUTATION_RECORD_RETENTION_NS = 15 * 60 * 1_000_000_000


@dataclass(frozen=True)
class StoredDocument:
    id: str
    table: str
    creation_time: float
    value: bytes  # msgpack of the whole document, system fields included

    def decode(self) -> dict:
        return decode_document(self.value)


def _connect(path: str, durability: Durability) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durability is Durability.FULL else 'NORMAL'}")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA cache_size=-65536")
    # No checkpoint inside a COMMIT: copying thousands of pages back and an fsync there
    # stalled the event loop for 15-30 ms. The committer calls ``Storage.checkpoint`` from a
    # worker thread instead; a connection's last close checkpoints whatever is left.
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


def _create_private(path: str) -> None:
    """Create the database file readable by its owner only, if it does not exist yet.

    It holds password hashes and sign-in sessions; SQLite gives its WAL and shared-memory
    files the database file's mode, so they are private too. An existing file keeps its mode.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


class Storage:
    """The SQLite file. Owns the writer connection and hands out snapshots."""

    def __init__(self, path: str | Path, durability: Durability | str = Durability.NORMAL) -> None:
        self.path = str(path)
        self.durability = Durability(durability)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            _create_private(self.path)
        self._writer = _connect(self.path, self.durability)
        self._writer.executescript(SCHEMA_SQL)
        self._reader = _connect(self.path, self.durability)
        self._checkpointer: sqlite3.Connection | None = None  # made by the first copy_wal
        self._checkpoint_lock = threading.Lock()
        self._write_lock = threading.Lock()
        row = self._writer.execute("SELECT value FROM meta WHERE key='ts'").fetchone()
        self.last_ts: int = row[0] if row else 0
        row = self._writer.execute("SELECT max(creation_time) FROM documents").fetchone()
        self.last_creation_time: float = row[0] or 0.0
        # The period whose replies each mutation_replies table holds (-1: none yet).
        self.replies_period = [-1, -1]
        for key, value in self._writer.execute("SELECT key, value FROM meta WHERE key IN ('replies_period_0', "
                                               "'replies_period_1')"):
            self.replies_period[int(key[-1])] = value

    # -- metadata -----------------------------------------------------------------------

    def index_ids(self) -> dict[tuple[str, str], tuple[int, str]]:
        """``(table, index) -> (index_id, fields JSON)`` for every stored index."""
        rows = self._writer.execute("SELECT tbl, name, index_id, fields FROM indexes").fetchall()
        return {(t, n): (i, f) for t, n, i, f in rows}

    def create_index(self, table: str, name: str, fields_json: str) -> int:
        with self._write_lock:
            cur = self._writer.execute("INSERT INTO indexes (tbl, name, fields) VALUES (?, ?, ?)",
                                       (table, name, fields_json))
            return int(cur.lastrowid)

    def fill_index(self, index_id: int, entries: Iterator[tuple[bytes, str]]) -> None:
        """Backfill a new index in one transaction."""
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                self._writer.executemany("INSERT INTO index_entries (index_id, key, doc_id) VALUES (?, ?, ?)",
                                         ((index_id, key, doc_id) for key, doc_id in entries))
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    def create_search_table(self, index_id: int, filters: int) -> None:
        """An FTS5 table for a search index: the text, one column per filter field's key."""
        columns = "".join(f", f{i} UNINDEXED" for i in range(filters))
        with self._write_lock:
            self._writer.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS search_{int(index_id)} USING fts5("
                                 f"body{columns}, doc_id UNINDEXED, tokenize='unicode61 remove_diacritics 2')")

    def fill_search(self, index_id: int, rows: Iterator[tuple]) -> None:
        """Backfill a new search index: rows of (rowid, text, *filter keys, doc_id)."""
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                for row in rows:
                    marks = ", ".join("?" * len(row))
                    self._writer.execute(f"INSERT INTO search_{int(index_id)} (rowid, {_search_columns(len(row) - 3)}) "
                                         f"VALUES ({marks})", row)
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    def drop_index(self, index_id: int) -> None:
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            self._writer.execute(f"DROP TABLE IF EXISTS search_{int(index_id)}")
            self._writer.execute("DELETE FROM index_entries WHERE index_id=?", (index_id,))
            self._writer.execute("DELETE FROM indexes WHERE index_id=?", (index_id,))
            self._writer.execute("COMMIT")

    def iter_index(self, index_id: int, batch: int = 1000) -> Iterator[tuple[bytes, bytes]]:
        """Every ``(key, document value)`` of an index in key order, in batches, on the writer's connection."""
        last = b""
        while True:
            rows = self._writer.execute(
                "SELECT e.key, d.value FROM index_entries e JOIN documents d ON d.id = e.doc_id "
                "WHERE e.index_id=? AND e.key>? ORDER BY e.key LIMIT ?", (index_id, last, batch)).fetchall()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    def count_index(self, index_id: int) -> int:
        return self._writer.execute("SELECT count(*) FROM index_entries WHERE index_id=?", (index_id,)).fetchone()[0]

    # -- reads --------------------------------------------------------------------------

    def snapshot(self) -> "Snapshot":
        """Open a read transaction on the reader connection; close it when done."""
        return Snapshot(self._reader, own_transaction=True)

    def pinned_snapshot(self) -> "Snapshot":
        """A snapshot on a connection of its own, to be held open across requests."""
        return Snapshot(_connect(self.path, self.durability), own_transaction=True, own_connection=True)

    def mutation_replies(self, session_id: str, request_id: int) -> list[tuple[bytes, int]]:
        """``(replies, commit ts)`` of the stored rows that would hold a sync session's
        reply to ``request_id``, if it committed and is still kept (at most one per table)."""
        out = []
        for table in ("mutation_replies_0", "mutation_replies_1"):
            row = self._reader.execute(f"SELECT replies, ts FROM {table} WHERE session_id=? AND last_request_id>=? "
                                       "ORDER BY last_request_id LIMIT 1", (session_id, request_id)).fetchone()
            if row is not None:
                out.append((row[0], row[1]))
        return out

    # -- writes -------------------------------------------------------------------------

    def write_batch(self) -> "WriteBatch":
        return WriteBatch(self)

    def next_ts(self) -> int:
        ts = max(time.time_ns(), self.last_ts + 1)
        return ts

    def copy_wal(self) -> None:
        """Copy the WAL's pages back into the database file while commits go on.

        On a connection of its own, in a worker thread (the sqlite3 module releases the
        GIL): the bulk of a checkpoint, its page copies and fsync, delays no commit. The
        WAL cannot start over yet, as commits keep appending: ``checkpoint`` finishes it.
        """
        with self._checkpoint_lock:  # not closed under it
            if self._checkpointer is None:
                self._checkpointer = _connect(self.path, self.durability)
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def checkpoint(self) -> None:
        """Finish a checkpoint: copy what the WAL gained since ``copy_wal``, holding the
        write lock so that nothing is appended meanwhile; the next write then starts the
        WAL over. PASSIVE, so it never waits for a reader."""
        with self._write_lock:
            self._writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def close(self) -> None:
        with self._checkpoint_lock, self._write_lock:
            for conn in (self._checkpointer, self._reader, self._writer):
                if conn is None:
                    continue
                try:
                    conn.close()
                except sqlite3.Error:
                    pass


def _search_columns(filters: int) -> str:
    return ", ".join(["body", *(f"f{i}" for i in range(filters)), "doc_id"])


class Snapshot:
    """Reads at one point in time: a read transaction, or the writer's open transaction."""

    def __init__(self, conn: sqlite3.Connection, own_transaction: bool, own_connection: bool = False,
                 ts: int | None = None) -> None:
        self._conn = conn
        self._own = own_transaction
        self._own_connection = own_connection
        if own_transaction:
            conn.execute("BEGIN")
        if ts is None:
            # The first read fixes a WAL snapshot; reading the timestamp is that first read.
            row = conn.execute("SELECT value FROM meta WHERE key='ts'").fetchone()
            ts = row[0] if row else 0
        self.ts: int = ts

    def close(self) -> None:
        if self._own:
            self._own = False
            self._conn.execute("COMMIT")
        if self._own_connection:
            self._own_connection = False
            self._conn.close()

    def __enter__(self) -> "Snapshot":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, doc_id: str) -> StoredDocument | None:
        row = self._conn.execute("SELECT tbl, creation_time, value FROM documents WHERE id=?", (doc_id,)).fetchone()
        if row is None:
            return None
        return StoredDocument(doc_id, row[0], row[1], row[2])

    def scan(self, index_id: int, lo: bytes, hi: bytes, reverse: bool, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` ``(key, document value)`` pairs with ``lo <= key < hi``, in key order."""
        return self._scan("e.key, d.value", index_id, lo, hi, reverse, limit)

    def _scan(self, columns: str, index_id: int, lo: bytes, hi: bytes, reverse: bool, limit: int) -> list[tuple]:
        order = "DESC" if reverse else "ASC"
        return self._conn.execute(
            f"SELECT {columns} FROM index_entries e JOIN documents d ON d.id = e.doc_id "
            f"WHERE e.index_id=? AND e.key>=? AND e.key<? ORDER BY e.key {order} LIMIT ?",
            (index_id, lo, hi, limit)).fetchall()


    def search(self, index_id: int, match: str, filters: list[tuple[int, bytes]], limit: int) -> list[bytes]:
        """Document values matching an FTS5 expression and filter keys, best BM25 rank first."""
        clauses = "".join(f" AND s.f{int(position)}=?" for position, _ in filters)
        return [row[0] for row in self._conn.execute(
            f"SELECT d.value FROM search_{int(index_id)} s JOIN documents d ON d.id = s.doc_id "
            f"WHERE search_{int(index_id)} MATCH ?{clauses} ORDER BY bm25(search_{int(index_id)}), s.doc_id LIMIT ?",
            (match, *(key for _, key in filters), limit))]


class _BatchSnapshot(Snapshot):
    """The write batch's own view: it sees every write of the batch so far.

    Document and index-entry writes wait in the batch and go to SQLite in one
    ``executemany`` each at the commit (a statement per row costs about as much as the
    row). A read hands them over only when it has to: a scan whose range holds a waiting
    entry. Otherwise a waiting document version is read from the batch itself, so the
    common mutation that inserts and then queries another index (W1's signal) does not
    cost two ``executemany`` calls of one row each.
    """

    def __init__(self, batch: "WriteBatch", conn: sqlite3.Connection, ts: int) -> None:
        super().__init__(conn, own_transaction=False, ts=ts)
        self._batch = batch

    def get(self, doc_id: str) -> StoredDocument | None:
        waiting = self._batch.waiting_documents().get(doc_id)
        if waiting is not None:
            return StoredDocument(doc_id, waiting[1], waiting[2], waiting[4])
        return super().get(doc_id)

    def scan(self, index_id: int, lo: bytes, hi: bytes, reverse: bool, limit: int) -> list[tuple[bytes, bytes]]:
        batch = self._batch
        if batch.waiting_entry_in(index_id, lo, hi):
            batch.flush()
        waiting = batch.waiting_documents()
        if not waiting:
            return super().scan(index_id, lo, hi, reverse, limit)
        # An entry already in SQLite may name a document whose newer version waits.
        rows = self._scan("e.key, d.value, e.doc_id", index_id, lo, hi, reverse, limit)
        return [(key, waiting[doc_id][4] if doc_id in waiting else value) for key, value, doc_id in rows]

    def search(self, index_id: int, match: str, filters: list[tuple[int, bytes]], limit: int) -> list[bytes]:
        self._batch.flush()
        return super().search(index_id, match, filters, limit)


class WriteBatch:
    """One SQLite write transaction holding a batch of mutations, each in a savepoint.

    Reads made through ``snapshot`` see the batch's own uncommitted writes, which is how a
    mutation reads what it wrote.
    """

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        storage._write_lock.acquire()
        self._conn = storage._writer
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            storage._write_lock.release()
            raise
        # Writes waiting for ``flush``: the latest version of each document by id, and the
        # index entries in the order they were made. Their keys are listed per index, and
        # sorted, only when a read asks (``waiting_entry_in``): most batches never read.
        self._documents: dict[str, tuple[str, str, float, int, bytes]] = {}
        self._entries: list[tuple[int, bytes, str]] = []
        self._entry_keys: dict[int, list[bytes]] = {}
        self._keys_listed = 0  # how many of _entries are in _entry_keys
        self._unsorted: set[int] = set()
        self._new_replies_period: tuple[int, int] | None = None  # (table, period) this batch started
        # The writer holds the lock, so the last committed timestamp is known without a read.
        self.snapshot = _BatchSnapshot(self, self._conn, storage.last_ts)
        self._open = True
        self._savepoints = 0
        self.ts = storage.next_ts()

    # -- savepoints: one per mutation ---------------------------------------------------

    def begin_mutation(self, isolated: bool) -> None:
        """Start a mutation; ``isolated`` puts it in a savepoint of its own.

        The committer runs mutations bare first (a savepoint and its release cost as much
        as the mutation's own insert) and isolates them only when replaying a batch in
        which one failed.
        """
        self._isolated = isolated
        if isolated:
            self.flush()
            self._conn.execute("SAVEPOINT mutation")
            self._savepoints += 1

    def end_mutation(self, keep: bool) -> None:
        """Finish a mutation. A bare mutation that failed leaves its writes: ``restart`` next."""
        if not self._isolated:
            return
        self.flush()
        if not keep:
            self._conn.execute("ROLLBACK TO mutation")
        self._conn.execute("RELEASE mutation")
        self._savepoints -= 1

    def restart(self) -> None:
        """Drop everything written so far and begin again, at the same commit timestamp."""
        self._discard()
        self._conn.execute("ROLLBACK")
        self._conn.execute("BEGIN IMMEDIATE")

    # -- document writes ----------------------------------------------------------------

    def flush(self) -> None:
        """Hand the waiting writes to SQLite; deletes and savepoints come after them.

        Blobs are bound as bytearray: CPython 3.11's sqlite3 runs every ``bytes`` parameter
        through its adapter registry (a dict lookup and two attribute lookups), which costs
        more than copying a small key; a bytearray binds directly.
        """
        if self._documents:
            self._conn.executemany(
                "INSERT OR REPLACE INTO documents (id, tbl, creation_time, ts, value) VALUES (?, ?, ?, ?, ?)",
                [(doc_id, table, creation, ts, bytearray(value))
                 for doc_id, table, creation, ts, value in self._documents.values()])
            self._documents.clear()
        if self._entries:
            self._conn.executemany("INSERT INTO index_entries (index_id, key, doc_id) VALUES (?, ?, ?)",
                                   [(index_id, bytearray(key), doc_id) for index_id, key, doc_id in self._entries])
            self._forget_entries()

    def _forget_entries(self) -> None:
        self._entries.clear()
        self._entry_keys.clear()
        self._keys_listed = 0
        self._unsorted.clear()

    def _discard(self) -> None:
        self._documents.clear()
        self._forget_entries()

    def waiting_documents(self) -> dict[str, tuple[str, str, float, int, bytes]]:
        """The latest version of each document written in this batch and not yet handed to SQLite."""
        return self._documents

    def waiting_entry_in(self, index_id: int, lo: bytes, hi: bytes) -> bool:
        """Whether an index entry waiting for ``flush`` falls in ``[lo, hi)`` of ``index_id``."""
        entries = self._entries
        if self._keys_listed < len(entries):
            lists, unsorted = self._entry_keys, self._unsorted
            for entry_index, key, _doc_id in entries[self._keys_listed:]:
                lists.setdefault(entry_index, []).append(key)
                unsorted.add(entry_index)
            self._keys_listed = len(entries)
        keys = self._entry_keys.get(index_id)
        if not keys:
            return False
        if index_id in self._unsorted:
            keys.sort()
            self._unsorted.discard(index_id)
        at = bisect.bisect_left(keys, lo)
        return at < len(keys) and keys[at] < hi

    def put_document(self, doc_id: str, table: str, creation_time: float, value: bytes) -> None:
        self._documents[doc_id] = (doc_id, table, creation_time, self.ts, value)

    def delete_document(self, doc_id: str) -> None:
        self.flush()
        self._conn.execute("DELETE FROM documents WHERE id=?", (doc_id,))

    def put_index_entries(self, entries: list[tuple[int, bytes, str]]) -> None:
        self._entries.extend(entries)

    def delete_index_entries(self, entries: list[tuple[int, bytes]]) -> None:
        self.flush()
        self._conn.executemany("DELETE FROM index_entries WHERE index_id=? AND key=?", entries)

    def put_search(self, index_id: int, rowid: int, text: str, filter_keys: list[bytes], doc_id: str) -> None:
        marks = ", ".join("?" * (len(filter_keys) + 3))
        self._conn.execute(f"INSERT INTO search_{int(index_id)} (rowid, {_search_columns(len(filter_keys))}) "
                           f"VALUES ({marks})", (rowid, text, *filter_keys, doc_id))

    def delete_search(self, index_id: int, rowid: int) -> None:
        self._conn.execute(f"DELETE FROM search_{int(index_id)} WHERE rowid=?", (rowid,))

    def create_index(self, table: str, name: str, fields_json: str) -> int:
        """Register an index inside this transaction (a table's first insert creates it)."""
        cur = self._conn.execute("INSERT INTO indexes (tbl, name, fields) VALUES (?, ?, ?)", (table, name, fields_json))
        return int(cur.lastrowid)

    def put_mutation_replies(self, rows: list[tuple[str, int, bytes]]) -> None:
        """Keep committed mutations' replies, ``(session id, its last request id, replies)``
        per session, in the batch's own transaction: a reply is on disk exactly when its
        writes are, so a replay after a crash is answered, not rerun."""
        period = self.ts // MUTATION_RECORD_RETENTION_NS
        slot = period % 2
        if self._storage.replies_period[slot] != period:
            # The first batch of a period: this table holds the period before last.
            self._conn.execute(f"DELETE FROM mutation_replies_{slot}")
            self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                               (f"replies_period_{slot}", period))
            self._new_replies_period = (slot, period)
        self._conn.executemany(f"INSERT OR REPLACE INTO mutation_replies_{slot} (session_id, last_request_id, ts, "
                               "replies) VALUES (?, ?, ?, ?)", [(sid, last, self.ts, data) for sid, last, data in rows])

    def note_creation_time(self, creation_time: float) -> None:
        self._storage.last_creation_time = creation_time

    # -- finishing ----------------------------------------------------------------------

    def commit(self) -> int:
        """Commit the batch at ``self.ts``. Safe to call from a worker thread."""
        assert self._open and self._savepoints == 0
        try:
            self.flush()
            self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('ts', ?)", (self.ts,))
            self._conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise
        self._open = False
        self._storage.last_ts = self.ts
        if self._new_replies_period is not None:
            slot, period = self._new_replies_period
            self._storage.replies_period[slot] = period
        self._storage._write_lock.release()
        return self.ts

    def rollback(self) -> None:
        if not self._open:
            return
        self._open = False
        self._discard()
        try:
            self._conn.execute("ROLLBACK")
        finally:
            self._storage._write_lock.release()
