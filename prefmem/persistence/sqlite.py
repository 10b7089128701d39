"""The embedded engine: documents, index entries and search entries in one SQLite file.

Tables: ``documents`` (latest version of each document), ``index_entries`` (every index's
keys as order-preserving bytes), ``indexes``, ``meta`` (``ts``: the last commit), one FTS5
table per search index, two ``mutation_replies`` tables (see ``_write_replies``) and, when
several processes share the file, ``write_log`` (each commit's written keys, so that every
process can invalidate its live queries and validate its commits against the others').

Snapshots are SQLite read transactions in WAL mode. One commit at a time: within a
process a lock, and across processes (``shared``) an ``flock`` on ``<db>.commit-lock``
taken before ``BEGIN IMMEDIATE``: SQLite's own busy handler waits by sleeping (1, 2, 5 ...
100 ms), which would put those sleeps between two workers' commits, while a blocked
``flock`` wakes the moment the lock is free.

Durability levels (``Durability``): ``normal`` is WAL with ``synchronous=NORMAL`` (a
commit is in the WAL before it is acknowledged, so a killed process loses nothing; a
power cut can lose the last commits); ``full`` adds an fsync per commit batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable, Iterator

from prefmem import processes
from prefmem.persistence.base import (Changes, CreationTimes, Durability, LogRecords, ReadTransaction, ScanRow,
                                      SearchHit, StoredDocument)
from prefmem.persistence.lock_wait import wait_in_thread
from prefmem.persistence.wakeup import Wakeups

log = logging.getLogger("prefmem.persistence")

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
CREATE TABLE IF NOT EXISTS write_log (
    ts INTEGER PRIMARY KEY,
    keys BLOB NOT NULL
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
# A commit stores one row per session: the replies to that session's requests in it,
# keyed by the last request id, so a request's row is the first at or after its id. Rows
# go to one of two tables by alternate period of this length; a commit that starts a
# period empties the table of the period before last, whose rows are all at least one
# period old. So each reply is kept for one to two periods, without an index on age.
MUTATION_RECORD_RETENTION_NS = 15 * 60 * 1_000_000_000

# How long the shared write log keeps a commit's keys: a process that has not read the
# log for longer than this (stopped in a debugger, swapped out) re-runs every live query.
WRITE_LOG_RETENTION_NS = 60 * 1_000_000_000
_PRUNE_LOG_EVERY = 256  # commits

# The WAL file is cut back to this size when it restarts after a checkpoint; without a
# limit it keeps the size of its largest burst for ever.
WAL_SIZE_LIMIT = 16 * 1024 * 1024

# A reader that stays open keeps SQLite from restarting the WAL, which then grows with
# every commit. Pinned snapshots (HTTP consistent reads) are ended when the WAL passes
# this size or they pass this age, whichever comes first: the WAL stays under about this
# size plus what is written while a checkpoint runs.
PINNED_WAL_LIMIT = 32 * 1024 * 1024
PINNED_MAX_AGE_S = 10.0


def _create_private(path: str) -> None:
    """Create the database file readable by its owner only: it holds password hashes and
    sessions. SQLite gives the -wal and -shm files the database file's permissions."""
    if path == ":memory:" or os.path.exists(path):
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass


def _connect(path: str, durability: Durability) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durability is Durability.FULL else 'NORMAL'}")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    # No checkpoint inside a COMMIT: copying thousands of pages back and an fsync there
    # stalled the event loop for 15-30 ms. ``copy_wal``/``checkpoint`` run beside the
    # commits instead; a connection's last close checkpoints whatever is left.
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


def _log_failed_copy(copying: asyncio.Future) -> None:
    if not copying.cancelled() and copying.exception() is not None:
        log.warning("WAL checkpoint failed: %s", copying.exception())


def _search_columns(filters: int) -> str:
    return ", ".join(["body", *(f"f{i}" for i in range(filters)), "doc_id"])


class SqlitePersistence(CreationTimes):
    """One SQLite file. ``shared``: other processes commit to it too (worker processes)."""

    def __init__(self, path: str | Path, durability: Durability | str = Durability.NORMAL, *,
                 shared: bool = False) -> None:
        self.path = str(path)
        self.durability = Durability(durability)
        self.shared = shared
        _create_private(self.path)
        self._writer = _connect(self.path, self.durability)
        self._writer.executescript(SCHEMA_SQL)
        self._reader = _connect(self.path, self.durability)
        self._checkpointer: sqlite3.Connection | None = None  # made by the first copy_wal
        self._checkpoint_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._lock_file: int | None = None
        self._wakeups: Wakeups | None = None
        self._leader_file: int | None = None
        if shared:
            self._lock_file = os.open(f"{self.path}.commit-lock", os.O_CREAT | os.O_RDWR, 0o600)
            self._wakeups = Wakeups(self.path)
        row = self._writer.execute("SELECT value FROM meta WHERE key='ts'").fetchone()
        self._last_ts: int = row[0] if row else 0
        row = self._writer.execute("SELECT max(creation_time) FROM documents").fetchone()
        self._last_creation_time: float = row[0] or 0.0
        # The period whose replies each mutation_replies table holds (-1: none yet); another
        # process may move them, so shared mode reads them under the commit lock.
        self._replies_period = [-1, -1]
        for key, value in self._writer.execute("SELECT key, value FROM meta WHERE key IN ('replies_period_0', "
                                               "'replies_period_1')"):
            self._replies_period[int(key[-1])] = value
        self._pinned: weakref.WeakSet[SqliteSnapshot] = weakref.WeakSet()
        self._commits = 0
        self._commits_at_checkpoint = 0
        self._copying: asyncio.Future | None = None  # a copy_wal running in a worker thread

    # -- what the committer asks ----------------------------------------------------------

    @property
    def finish_in_thread(self) -> bool:
        """A ``full`` commit waits for an fsync: the committer runs it off the event loop."""
        return self.durability is Durability.FULL

    def last_ts(self) -> int:
        """The last commit this process knows of (the snapshot's own ``ts`` is exact)."""
        return self._last_ts

    def snapshot(self) -> "SqliteSnapshot":
        return SqliteSnapshot(self._reader, own_connection=False)

    def log_since(self, ts: int) -> LogRecords:
        with self.snapshot() as snapshot:
            return LogRecords(snapshot.ts, snapshot.log_floor(), snapshot.log_after(ts))

    def pinned_snapshot(self) -> "SqliteSnapshot":
        """A snapshot on a connection of its own, which this persistence ends (``revoked``)
        when it holds the WAL back too long (see ``maintain``)."""
        snapshot = SqliteSnapshot(_connect(self.path, self.durability), own_connection=True)
        self._pinned.add(snapshot)
        return snapshot

    async def begin_commit(self) -> "SqliteCommit":
        if not self._write_lock.acquire(blocking=False):
            await wait_in_thread(self._write_lock.acquire, self._write_lock.release)
        lock_file = self._lock_file
        if lock_file is not None:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # Another process commits. The process lock stays held until the file lock is
                # ours (or, if this wait is cancelled, until the thread has let it go again).
                await wait_in_thread(lambda: fcntl.flock(lock_file, fcntl.LOCK_EX), self._release,
                                      undo=self._write_lock.release)
            except BaseException:
                self._write_lock.release()
                raise
        return SqliteCommit(self)  # which holds the locks from here on, and gives them back

    def _release(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        self._write_lock.release()

    class _Exclusive:
        """The commit lock taken synchronously, for rare schema work (a new table's indexes)."""

        def __init__(self, owner: "SqlitePersistence") -> None:
            self.owner = owner

        def __enter__(self) -> sqlite3.Connection:
            self.owner._write_lock.acquire()
            if self.owner._lock_file is not None:
                fcntl.flock(self.owner._lock_file, fcntl.LOCK_EX)
            return self.owner._writer

        def __exit__(self, *exc: object) -> None:
            self.owner._release()

    # -- an earlier layout ------------------------------------------------------------------

    _LEGACY_AUTH = {
        "users": "SELECT id, email, name, password_hash, created_at, updated_at FROM prefmem_auth_users",
        "sessions": "SELECT id, user_id, created_at, revoked_at, revoke_reason FROM prefmem_auth_sessions",
        "refresh_tokens": "SELECT token_hash, session_id, created_at, expires_at, used_at "
                          "FROM prefmem_auth_refresh_tokens",
        "lockouts": "SELECT kind, key, until FROM prefmem_auth_lockouts",
    }

    def legacy_auth(self) -> dict[str, list[tuple]] | None:
        """The password provider's rows from before its accounts became system tables (its
        own ``prefmem_auth_*`` tables), or None if this file has none."""
        names = {row[0] for row in self._reader.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "prefmem_auth_users" not in names:
            return None
        return {kind: self._reader.execute(sql).fetchall() if f"prefmem_auth_{kind}" in names else []
                for kind, sql in self._LEGACY_AUTH.items()}

    def drop_legacy_auth(self) -> None:
        """Once their rows are system documents."""
        self._in_transaction(lambda conn: [conn.execute(f"DROP TABLE IF EXISTS prefmem_auth_{kind}")
                                           for kind in self._LEGACY_AUTH])

    # -- other processes --------------------------------------------------------------------

    def notify_peers(self, ts: int) -> None:
        """After a commit: wake the other processes, which read it from the write log."""
        if self._wakeups is not None:
            self._wakeups.notify(ts)

    def listen(self, on_wake: Callable[[], None]) -> None:
        """Call ``on_wake`` when another process has committed."""
        if self._wakeups is not None:
            self._wakeups.listen(on_wake)

    def try_lead(self) -> bool:
        """Become the one process that runs scheduled functions and crons, if none is.
        The lock is the kernel's: it goes with the process, however that ends."""
        if not self.shared:
            return True
        if self._leader_file is None:
            self._leader_file = os.open(f"{self.path}.leader-lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(self._leader_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def stop_leading(self) -> None:
        if self._leader_file is not None:
            os.close(self._leader_file)  # closing the descriptor releases its lock
            self._leader_file = None

    # -- indexes: start-up and schema work --------------------------------------------------

    def preparing(self) -> contextlib.nullcontext:
        """Nothing to serialize: one process (the serve lock's holder) prepares a SQLite file."""
        return contextlib.nullcontext()

    def index_ids(self) -> dict[tuple[str, str], tuple[int, str]]:
        """``(table, index) -> (index_id, fields JSON)`` for every stored index."""
        rows = self._reader.execute("SELECT tbl, name, index_id, fields FROM indexes").fetchall()
        return {(t, n): (i, f) for t, n, i, f in rows}

    def create_index(self, table: str, name: str, fields_json: str) -> int:
        """Register an index (or find the one another process registered meanwhile)."""
        with self._Exclusive(self) as conn:
            conn.execute("INSERT OR IGNORE INTO indexes (tbl, name, fields) VALUES (?, ?, ?)",
                         (table, name, fields_json))
            return int(conn.execute("SELECT index_id FROM indexes WHERE tbl=? AND name=?",
                                    (table, name)).fetchone()[0])

    def _in_transaction(self, work) -> None:  # noqa: ANN001 — a callable taking the connection
        with self._Exclusive(self) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def fill_index(self, index_id: int, entries: Iterator[tuple[bytes, str]]) -> None:
        """Backfill a new index in one transaction."""
        self._in_transaction(lambda conn: conn.executemany(
            "INSERT INTO index_entries (index_id, key, doc_id) VALUES (?, ?, ?)",
            ((index_id, key, doc_id) for key, doc_id in entries)))

    def create_search_table(self, index_id: int, filters: int) -> None:
        """An FTS5 table for a search index: the text, one column per filter field's key."""
        columns = "".join(f", f{i} UNINDEXED" for i in range(filters))
        with self._Exclusive(self) as conn:
            conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS search_{int(index_id)} USING fts5("
                         f"body{columns}, doc_id UNINDEXED, tokenize='unicode61 remove_diacritics 2')")

    def fill_search(self, index_id: int, rows: Iterator[tuple]) -> None:
        """Backfill a new search index: rows of (rowid, text, *filter keys, doc_id)."""
        def work(conn: sqlite3.Connection) -> None:
            for row in rows:
                marks = ", ".join("?" * len(row))
                conn.execute(f"INSERT INTO search_{int(index_id)} (rowid, {_search_columns(len(row) - 3)}) "
                             f"VALUES ({marks})", row)
        self._in_transaction(work)

    # Vector search on SQLite is the exact scan over the table's documents: nothing to keep.

    def create_vector_table(self, index_id: int, table: str, index: Any) -> None:
        pass

    def fill_vectors(self, index_id: int, table: str, index: Any, documents: Iterator[dict]) -> None:
        pass

    def use_vector_index(self, index_id: int, table: str, index: Any) -> None:
        pass

    def drop_index(self, index_id: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(f"DROP TABLE IF EXISTS search_{int(index_id)}")
            conn.execute("DELETE FROM index_entries WHERE index_id=?", (index_id,))
            conn.execute("DELETE FROM indexes WHERE index_id=?", (index_id,))
        self._in_transaction(work)

    def iter_index(self, index_id: int, batch: int = 1000) -> Iterator[tuple[bytes, bytes]]:
        """Every ``(key, document value)`` of an index in key order, in batches."""
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

    # -- housekeeping -------------------------------------------------------------------------

    checkpoint_every = 128  # commits between WAL checkpoints

    async def maintain(self) -> None:
        """Keep the WAL short without stalling anything (the committer calls this after each
        commit): every ``checkpoint_every`` commits its pages are copied back in a worker
        thread while commits go on; the next call after that finishes the checkpoint, which
        then has only the few pages appended meanwhile to copy. Pinned snapshots that hold
        the WAL back are ended first."""
        if self._pinned and self._revoke_pins():
            self._commits_at_checkpoint = self._commits - self.checkpoint_every  # checkpoint now
        if self._copying is not None:
            if self._copying.done():
                copying, self._copying = self._copying, None
                # A failed copy was logged by _log_failed_copy and is tried again later.
                if not copying.cancelled() and copying.exception() is None:
                    try:
                        await asyncio.to_thread(self.checkpoint)
                    except Exception as err:  # noqa: BLE001 — best effort: the WAL grows until the next try
                        log.warning("WAL checkpoint failed: %s", err)
        elif self._commits - self._commits_at_checkpoint >= self.checkpoint_every:
            self._commits_at_checkpoint = self._commits
            self._copying = asyncio.ensure_future(asyncio.to_thread(self.copy_wal))
            self._copying.add_done_callback(_log_failed_copy)

    def _revoke_pins(self) -> bool:
        """End the pinned snapshots that are too old, or all of them if the WAL is too big."""
        too_big = self.wal_size() > PINNED_WAL_LIMIT
        cutoff = time.monotonic() - PINNED_MAX_AGE_S
        revoked = False
        for snapshot in list(self._pinned):
            if too_big or snapshot.opened_at < cutoff:
                snapshot.revoke()
                self._pinned.discard(snapshot)
                revoked = True
        return revoked

    def copy_wal(self) -> None:
        """Copy the WAL's pages back into the database file while commits go on.

        On a connection of its own, in a worker thread (the sqlite3 module releases the
        GIL): the bulk of a checkpoint, its page copies and fsync, delays no commit. The
        WAL cannot start over yet, as commits keep appending: ``checkpoint`` finishes it.
        """
        with self._checkpoint_lock:
            if self._checkpointer is None:
                self._checkpointer = _connect(self.path, self.durability)
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def checkpoint(self) -> None:
        """Finish a checkpoint: copy what the WAL gained since ``copy_wal`` with no commit
        in between, so that the next commit starts the WAL over. PASSIVE: it never waits
        for a reader (a reader still using the WAL only delays the restart)."""
        with self._Exclusive(self) as conn:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def sizes(self) -> tuple[int, int]:
        """(database file bytes, WAL bytes)."""
        try:
            size = os.path.getsize(self.path)
        except OSError:  # ":memory:"
            size = 0
        return size, self.wal_size()

    def wal_size(self) -> int:
        try:
            return os.path.getsize(f"{self.path}-wal")
        except OSError:
            return 0

    def close(self) -> None:
        with self._checkpoint_lock, self._write_lock:
            for conn in (self._checkpointer, self._reader, self._writer):
                if conn is None:
                    continue
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            if self._lock_file is not None:
                os.close(self._lock_file)
                self._lock_file = None
            if self._wakeups is not None:
                self._wakeups.close()
                self._wakeups = None
            self.stop_leading()


class ServeLock:
    """One deployment per database file: a server (with its workers), or an in-process
    command that writes. Two of them would each think their commits are the only ones.

    A server's worker processes inherit the lock (``fd``), so it is held until the last of
    them has exited: workers still finishing after their parent was killed keep a new
    deployment out, and the new one waits for them (``acquire``) instead of sharing the
    file and the port with them."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = f"{path}.serve-lock"
        self._fd: int | None = None
        self._clock, self._sleep = clock, sleep

    @property
    def fd(self) -> int | None:
        return self._fd

    def acquire(self, wait_for_orphans_s: float = 60.0) -> None:
        """Take the lock. If the process that took it has exited, what holds it now are its
        workers finishing their requests (``PREFMEM_SHUTDOWN_GRACE_S``, 5 s by default):
        wait up to ``wait_for_orphans_s`` for them."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)  # taken before the database exists
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        deadline = self._clock() + wait_for_orphans_s
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                orphans = holder.isdigit() and not processes.running(int(holder))
                if orphans and self._clock() < deadline:
                    if not said:
                        log.warning("prefmem: waiting for the workers of process %s, which exited, to stop", holder)
                        said = True
                    self._sleep(0.05)
                    continue
                os.close(fd)
                whose = (f"the workers of prefmem process {holder}, which exited; they are still stopping" if orphans
                         else f"prefmem process {holder}" if holder else "another process")
                raise ServeLockHeld(f"the database {self.path[:-len('.serve-lock')]} is in use by {whose}; stop it, "
                                    "or go through its server") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class ServeLockHeld(RuntimeError):
    pass


class SqliteSnapshot(ReadTransaction):
    """A read transaction: every read sees the database as of ``ts``."""

    def __init__(self, conn: sqlite3.Connection, *, own_connection: bool) -> None:
        super().__init__(conn, own_connection=own_connection)
        conn.execute("BEGIN")
        # The first read fixes the WAL snapshot; reading the timestamp is that first read.
        row = conn.execute("SELECT value FROM meta WHERE key='ts'").fetchone()
        self.ts: int = row[0] if row else 0

    def get(self, doc_id: str) -> StoredDocument | None:
        row = self._conn.execute("SELECT tbl, creation_time, value FROM documents WHERE id=?", (doc_id,)).fetchone()
        if row is None:
            return None
        return StoredDocument(doc_id, row[0], row[1], row[2])

    def scan(self, index_id: int, lo: bytes, hi: bytes, reverse: bool, limit: int) -> list[ScanRow]:
        order = "DESC" if reverse else "ASC"
        return self._conn.execute(
            f"SELECT e.key, d.value, e.doc_id FROM index_entries e JOIN documents d ON d.id = e.doc_id "
            f"WHERE e.index_id=? AND e.key>=? AND e.key<? ORDER BY e.key {order} LIMIT ?",
            (index_id, lo, hi, limit)).fetchall()

    def count(self, index_id: int) -> int:
        return self._conn.execute("SELECT count(*) FROM index_entries WHERE index_id=?", (index_id,)).fetchone()[0]

    def search(self, index_id: int, terms: list[str], filters: list[tuple[int, bytes]], limit: int) -> list[SearchHit]:
        if not terms:
            return []
        # Terms are tokens (letters and digits only), so quoting them is enough.
        match = " OR ".join([*(f'"{t}"' for t in terms), f'"{terms[-1]}"*'])
        clauses = "".join(f" AND s.f{int(position)}=?" for position, _ in filters)
        table = f"search_{int(index_id)}"
        return self._conn.execute(
            f"SELECT s.doc_id, d.value FROM {table} s JOIN documents d ON d.id = s.doc_id "
            f"WHERE {table} MATCH ?{clauses} ORDER BY bm25({table}), s.doc_id LIMIT ?",
            (match, *(key for _, key in filters), limit)).fetchall()

    def mutation_replies(self, session_id: str, request_id: int) -> list[bytes]:
        out = []
        for table in ("mutation_replies_0", "mutation_replies_1"):
            row = self._conn.execute(f"SELECT replies FROM {table} WHERE session_id=? AND last_request_id>=? "
                                     "ORDER BY last_request_id LIMIT 1", (session_id, request_id)).fetchone()
            if row is not None:
                out.append(row[0])
        return out

    def vector_search(self, index_id: int, asked: Any) -> None:
        """No vector tables here: the caller scans the table."""
        return None

    def log_after(self, ts: int) -> list[tuple[int, bytes]]:
        return self._conn.execute("SELECT ts, keys FROM write_log WHERE ts>? ORDER BY ts", (ts,)).fetchall()

    def log_floor(self) -> int:
        """Records at or below this timestamp may have been pruned from the shared log."""
        row = self._conn.execute("SELECT value FROM meta WHERE key='log_floor'").fetchone()
        return row[0] if row else 0


class SqliteCommit:
    """The commit lock, held, and one write transaction on the writer connection."""

    def __init__(self, owner: SqlitePersistence) -> None:
        self._owner = owner
        self._conn = owner._writer
        self._open = True
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            if owner.shared:
                # Another process may have committed since this one last did.
                row = self._conn.execute("SELECT value FROM meta WHERE key='ts'").fetchone()
                owner._last_ts = max(owner._last_ts, row[0] if row else 0)
        except BaseException:  # BEGIN refused (a read-only or full database): the locks go back
            self.abort()
            raise
        self.head_ts = owner._last_ts
        self._ts = 0
        self._new_period: tuple[int, int] | None = None  # (slot, period) this commit starts

    def log_after(self, ts: int) -> list[tuple[int, bytes]]:
        return self._conn.execute("SELECT ts, keys FROM write_log WHERE ts>? ORDER BY ts", (ts,)).fetchall()

    def log_floor(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key='log_floor'").fetchone()
        return row[0] if row else 0

    def write(self, ts: int, changes: Changes, log_record: bytes) -> None:
        """Write everything at ``ts`` (> ``head_ts``). Blobs are bound as bytearray: CPython
        3.11's sqlite3 runs every ``bytes`` parameter through its adapter registry, which
        costs more than copying a small key; a bytearray binds directly."""
        assert ts > self.head_ts
        self._ts = ts
        conn = self._conn
        puts, deletes = [], []
        for doc_id, (table, creation_time, value) in changes.documents.items():
            if value is None:
                deletes.append((doc_id,))
            else:
                puts.append((doc_id, table, creation_time, ts, bytearray(value)))
        if deletes:
            conn.executemany("DELETE FROM documents WHERE id=?", deletes)
        if puts:
            conn.executemany("INSERT OR REPLACE INTO documents (id, tbl, creation_time, ts, value) "
                             "VALUES (?, ?, ?, ?, ?)", puts)
        entry_puts: list[tuple[int, bytearray, str]] = []
        entry_deletes: list[tuple[int, bytearray]] = []
        for index_id, entries in changes.index_entries.items():
            for key, entry_doc in entries.items():
                if entry_doc is None:
                    entry_deletes.append((index_id, bytearray(key)))
                else:
                    entry_puts.append((index_id, bytearray(key), entry_doc))
        if entry_deletes:
            conn.executemany("DELETE FROM index_entries WHERE index_id=? AND key=?", entry_deletes)
        if entry_puts:
            conn.executemany("INSERT OR REPLACE INTO index_entries (index_id, key, doc_id) VALUES (?, ?, ?)",
                             entry_puts)
        for index_id, rows in changes.search_entries.items():
            table = f"search_{int(index_id)}"
            conn.executemany(f"DELETE FROM {table} WHERE rowid=?", [(rowid,) for rowid in rows])
            for rowid, entry in rows.items():
                if entry is not None:
                    text, filter_keys, doc_id = entry
                    marks = ", ".join("?" * (len(filter_keys) + 3))
                    conn.execute(f"INSERT INTO {table} (rowid, {_search_columns(len(filter_keys))}) "
                                 f"VALUES ({marks})", (rowid, text, *filter_keys, doc_id))
        groups = list(changes.reply_groups(ts))
        if groups:
            self._write_replies(ts, groups)
        if self._owner.shared:
            conn.execute("INSERT INTO write_log (ts, keys) VALUES (?, ?)", (ts, log_record))
            if self._owner._commits % _PRUNE_LOG_EVERY == 0:
                floor = ts - WRITE_LOG_RETENTION_NS
                conn.execute("DELETE FROM write_log WHERE ts<=?", (floor,))
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('log_floor', ?)", (floor,))
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('ts', ?)", (ts,))

    def _write_replies(self, ts: int, groups: list[tuple[str, int, bytes]]) -> None:
        """Keep committed mutations' replies in the commit's own transaction: a reply is on
        disk exactly when its writes are, so a replay after a crash is answered, not rerun."""
        conn = self._conn
        period = ts // MUTATION_RECORD_RETENTION_NS
        slot = period % 2
        current = self._owner._replies_period[slot]
        if self._owner.shared:
            row = conn.execute("SELECT value FROM meta WHERE key=?", (f"replies_period_{slot}",)).fetchone()
            current = row[0] if row is not None else -1
        if current != period:
            # The first commit of a period: this table holds the period before last.
            conn.execute(f"DELETE FROM mutation_replies_{slot}")
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (f"replies_period_{slot}", period))
            self._new_period = (slot, period)
        conn.executemany(f"INSERT OR REPLACE INTO mutation_replies_{slot} (session_id, last_request_id, ts, replies) "
                         "VALUES (?, ?, ?, ?)", [(sid, last, ts, data) for sid, last, data in groups])

    def finish(self) -> None:
        assert self._open
        try:
            self._conn.execute("COMMIT")
        except BaseException:
            self.abort()
            raise
        self._open = False
        owner = self._owner
        if self._ts:
            owner._last_ts = self._ts
            owner._commits += 1
        if self._new_period is not None:
            owner._replies_period[self._new_period[0]] = self._new_period[1]
        owner._release()

    def abort(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        finally:
            self._owner._release()
