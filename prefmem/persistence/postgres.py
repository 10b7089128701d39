"""PostgreSQL: one database (or one schema of it) shared by any number of prefmem nodes.

The tables are SQLite's (``documents``, ``index_entries``, ``indexes``, the two
``mutation_replies`` tables, ``write_log``), plus ``head``, one row holding the last commit
timestamp, the write log's floor and the reply tables' periods, ``secrets`` (the keys
every node must share) and ``files`` (uploaded bytes, see ``prefmem.files.pg_files``).
Search indexes are ``pg_search``'s tables and vector indexes ``pg_vector``'s, written in
the commit's own transaction. The layout is created on first use, under an advisory lock
(two nodes creating the same table at once would collide in PostgreSQL's catalog).

- **Snapshots** are ``REPEATABLE READ READ ONLY`` transactions on the node's reader
  connection; the statement that fixes the snapshot reads the head row, so ``ts`` is the
  last commit the snapshot sees. Pinned snapshots get a connection of their own.
- **Commits** are serial across the deployment: ``begin_commit`` locks the head row
  (``SELECT ... FOR UPDATE``, the measured choice, bench/README.md "pg_drivers"), and
  holds it until the commit's transaction ends. Everything a commit writes (documents,
  index, search and vector entries, replies, its write-log record, the head) is sent in
  one pipeline with the ``COMMIT``: one round trip for the lock, one for the rest.
- **Other nodes** learn of a commit from ``write_log``, the truth; a ``NOTIFY`` in the
  commit's own transaction wakes them (delivered when it commits, never for a rollback),
  and the application's one-second poll covers a lost notification.
- **Leadership** (the scheduler and crons) is a session advisory lock held by a connection
  of its own: it ends with the node, however the node ends.

Durability (``Durability``): ``normal`` commits with ``synchronous_commit = off``: the
commit is acknowledged once PostgreSQL has it in memory, before its WAL reaches disk, so a
killed prefmem node loses nothing, but a crash of PostgreSQL itself (or of its machine) can
lose the commits of the last few hundred milliseconds (``wal_writer_delay`` × 3 at most).
``full`` commits with ``synchronous_commit = on``: acknowledged after the WAL flush (and
after standbys, per the server's own ``synchronous_standby_names``).

Lock keys and the notification channel are named after the schema (``current_schema()``),
so deployments in different schemas of one database never meet.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import socket
import threading
import time
import weakref
from typing import Any, Callable, ContextManager, Iterator

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from prefmem.database.search import doc_rowid
from prefmem.database.vector import VectorRequest, vector_of
from prefmem.persistence import pg_search
from prefmem.persistence.base import (Changes, CreationTimes, Durability, LogRecords, ReadTransaction, ScanRow,
                                      SearchHit, StoredDocument, decode_document)
from prefmem.persistence.lock_wait import wait_in_thread
from prefmem.persistence.pg_vector import VectorTable, pgvector_available
from prefmem.persistence.sqlite import MUTATION_RECORD_RETENTION_NS, PINNED_MAX_AGE_S, WRITE_LOG_RETENTION_NS
from prefmem.schema import VectorIndexDef
from prefmem.values import encode_key, lookup_path

log = logging.getLogger("prefmem.persistence")

SCHEMA_VERSION = 1

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS documents (
    id text COLLATE "C" PRIMARY KEY,
    tbl text NOT NULL,
    creation_time float8 NOT NULL,
    ts bigint NOT NULL,
    value bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS index_entries (
    index_id integer NOT NULL,
    key bytea NOT NULL,
    doc_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (index_id, key)
);
CREATE TABLE IF NOT EXISTS indexes (
    index_id serial PRIMARY KEY,
    tbl text NOT NULL,
    name text NOT NULL,
    fields text NOT NULL,
    UNIQUE (tbl, name)
);
CREATE TABLE IF NOT EXISTS head (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    ts bigint NOT NULL,
    log_floor bigint NOT NULL,
    replies_period_0 bigint NOT NULL,
    replies_period_1 bigint NOT NULL,
    schema_version integer NOT NULL
);
INSERT INTO head (ts, log_floor, replies_period_0, replies_period_1, schema_version)
    VALUES (0, 0, -1, -1, %(version)s) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS write_log (
    ts bigint PRIMARY KEY,
    keys bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS mutation_replies_0 (
    session_id text COLLATE "C" NOT NULL,
    last_request_id bigint NOT NULL,
    ts bigint NOT NULL,
    replies bytea NOT NULL,
    PRIMARY KEY (session_id, last_request_id)
);
CREATE TABLE IF NOT EXISTS mutation_replies_1 (LIKE mutation_replies_0 INCLUDING ALL);
CREATE TABLE IF NOT EXISTS secrets (
    name text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    storage_id text COLLATE "C" NOT NULL,
    seq integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (storage_id, seq)
);
"""

_PRUNE_LOG_EVERY = 256  # commits of this node between prunings of the shared write log

# A node frozen inside a transaction (stopped in a debugger, swapped out) would hold the
# head row, and with it every other node's commits, for ever: PostgreSQL ends such a session
# after this long, which rolls its transaction back and frees the lock.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000

# A snapshot keeps the documents of its short scans (a ``unique()``, a ``first()``) for a
# ``get`` of the same id, the usual read-then-patch, which then costs no round trip. Large
# scans are not kept: the cache is for that pattern, not a copy of a big read.
_KEPT_SCAN_ROWS = 8  # at most this many rows in a scan whose documents are kept
_KEPT_DOCUMENTS = 1024  # per snapshot

# A commit writes each table in one statement over arrays (``unnest``), not a statement per
# row: psycopg's cost is per statement, and a commit carries hundreds of rows under load.
# The keys of one commit are distinct (its changes are dicts), as ``ON CONFLICT`` requires.
_DOCUMENT_PUT = ("INSERT INTO documents (id, tbl, creation_time, ts, value) SELECT u.id, u.tbl, u.creation_time, "
                 "%s, u.value FROM unnest(%s::text[], %s::text[], %s::float8[], %s::bytea[]) "
                 "AS u(id, tbl, creation_time, value) "
                 "ON CONFLICT (id) DO UPDATE SET tbl = EXCLUDED.tbl, creation_time = EXCLUDED.creation_time, "
                 "ts = EXCLUDED.ts, value = EXCLUDED.value")
_DOCUMENT_DELETE = "DELETE FROM documents WHERE id = ANY(%s::text[])"
_ENTRY_PUT = ("INSERT INTO index_entries (index_id, key, doc_id) SELECT * FROM unnest(%s::int[], %s::bytea[], "
              "%s::text[]) ON CONFLICT (index_id, key) DO UPDATE SET doc_id = EXCLUDED.doc_id")
_ENTRY_DELETE = ("DELETE FROM index_entries e USING unnest(%s::int[], %s::bytea[]) AS u(index_id, key) "
                 "WHERE e.index_id = u.index_id AND e.key = u.key")
_SCAN = {reverse: ("SELECT e.key, d.value, e.doc_id, d.tbl, d.creation_time "
                   "FROM index_entries e JOIN documents d ON d.id = e.doc_id "
                   "WHERE e.index_id = %s AND e.key >= %s AND e.key < %s ORDER BY e.key "
                   + ("DESC" if reverse else "ASC") + " LIMIT %s") for reverse in (False, True)}


def resolved_conninfo(url: str) -> str:
    """The URL with its host resolved once, here: psycopg resolves a host name in Python
    (``socket.getaddrinfo``) on every connect, and a reconnect can happen while a function
    runs, whose determinism guard refuses name lookups."""
    params = psycopg.conninfo.conninfo_to_dict(url)
    host = str(params.get("host") or "")
    if host and not host.startswith("/") and "," not in host and not params.get("hostaddr"):
        try:
            ipaddress.ip_address(host)
            params["hostaddr"] = host
        except ValueError:
            port = str(params.get("port") or 5432)
            params["hostaddr"] = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)[0][4][0]
    return psycopg.conninfo.make_conninfo("", **params)


def _connect(conninfo: str, **settings: str) -> psycopg.Connection:
    conn = psycopg.connect(conninfo, autocommit=True, prepare_threshold=2)
    conn.execute(f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_TIMEOUT_MS}")
    for name, value in settings.items():
        conn.execute(sql.SQL("SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
    return conn


def _row(cursor: psycopg.Cursor) -> tuple[Any, ...]:
    """The row of a statement that always returns one: an aggregate, a function's value,
    the head row (made with the tables, never deleted), or a row inserted just before
    unless it was there already."""
    row = cursor.fetchone()
    assert row is not None
    return row


def _rollback_quietly(conn: psycopg.Connection) -> None:
    if conn.closed or conn.broken:
        return
    try:
        if conn.info.transaction_status != TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
    except psycopg.Error:
        conn.close()


class PostgresPersistence(CreationTimes):
    """A PostgreSQL database (``url``), always shared: other nodes may commit to it."""

    shared = True

    def __init__(self, url: str, durability: Durability | str = Durability.NORMAL, *, create: bool = True) -> None:
        """``create``: lay the tables out if the database has none yet (else ``LookupError``)."""
        self.url = url
        self.durability = Durability(durability)
        self.conninfo = resolved_conninfo(url)
        # The schema work connection: layout, index creation and backfills, iteration, secrets.
        self._admin = _connect(self.conninfo)
        self.namespace = _row(self._admin.execute("SELECT current_schema()"))[0]
        if self.namespace is None:
            self._admin.close()
            raise LookupError(f"{self._safe_url()}: the search_path names no schema that exists")
        if not create and _row(self._admin.execute("SELECT to_regclass('head')"))[0] is None:
            self._admin.close()
            raise LookupError(f"no prefmem data in {self._safe_url()} (schema {self.namespace})")
        self.channel = f"prefmem.{self.namespace}"
        with self._admin.transaction():
            self._advisory_xact_lock(self._admin, "layout")
            self._admin.execute(SCHEMA_SQL.replace("%(version)s", str(SCHEMA_VERSION)))
        self._writer = self._connect_writer()
        self._reader = _connect(self.conninfo)
        self._reader_cursor = self._reader.cursor(binary=True)
        self._write_lock = threading.Lock()
        self._leader: psycopg.Connection | None = None
        self._listener: psycopg.Connection | None = None
        self._listen_retry: asyncio.TimerHandle | None = None
        self._preparing = False  # inside ``preparing()``: schema work joins one transaction
        self._prepare_tx = False  # that transaction is open (and holds the head row)
        row = _row(self._admin.execute("SELECT ts, schema_version FROM head"))
        if row[1] > SCHEMA_VERSION:
            raise RuntimeError(f"the database {self._safe_url()} was written by a newer prefmem (layout "
                               f"{row[1]}, this one knows {SCHEMA_VERSION})")
        self._last_ts: int = row[0]
        self._last_creation_time: float = _row(self._admin.execute(
            "SELECT coalesce(max(creation_time), 0) FROM documents"))[0]
        self._pgvector = pgvector_available(self._admin)
        self._vectors: dict[int, VectorTable] = {}
        self._vectors_by_table: dict[str, list[tuple[VectorTable, VectorIndexDef]]] = {}
        self._pinned: weakref.WeakSet[PostgresSnapshot] = weakref.WeakSet()
        self._commits = 0

    def _safe_url(self) -> str:
        from prefmem.persistence.engines import describe

        return describe(self.url)

    def _connect_writer(self) -> psycopg.Connection:
        synchronous = "on" if self.durability is Durability.FULL else "off"
        conn = _connect(self.conninfo, synchronous_commit=synchronous)
        # Read here, not by the listener: the writer may be busy in the committer's thread.
        self._writer_pid = conn.info.backend_pid
        return conn

    def _advisory_xact_lock(self, conn: psycopg.Connection, purpose: str) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"prefmem.{self.namespace}.{purpose}",))

    # -- what the committer asks ----------------------------------------------------------

    # The committer runs ``finish`` in a worker thread: it waits for a network round trip
    # (and, in ``full``, a WAL flush) that would otherwise stall the event loop.
    finish_in_thread = True

    def last_ts(self) -> int:
        return self._last_ts

    def _ready_reader(self) -> psycopg.Cursor:
        """The reader connection's cursor, connected again if the connection was lost."""
        if self._reader.broken or self._reader.closed:
            self._reader = _connect(self.conninfo)
            self._reader_cursor = self._reader.cursor(binary=True)
        return self._reader_cursor

    def snapshot(self) -> "PostgresSnapshot":
        cursor = self._ready_reader()
        return PostgresSnapshot(self, self._reader, cursor, own_connection=False)

    def log_since(self, ts: int) -> LogRecords:
        """The head and the log records after ``ts`` in one statement (one round trip, and
        one consistent view: a statement sees a snapshot of its own)."""
        cur = self._ready_reader()
        cur.execute("SELECT h.ts, h.log_floor, l.ts, l.keys FROM head h "
                    "LEFT JOIN write_log l ON l.ts > %s AND l.ts <= h.ts ORDER BY l.ts", (ts,))
        rows = cur.fetchall()
        return LogRecords(rows[0][0], rows[0][1], [(t, keys) for _h, _f, t, keys in rows if t is not None])

    def pinned_snapshot(self) -> "PostgresSnapshot":
        """A snapshot on a connection of its own; ended (``revoked``) by ``maintain`` once it
        is older than ``PINNED_MAX_AGE_S``: an old snapshot holds back PostgreSQL's vacuum."""
        conn = _connect(self.conninfo)
        snapshot = PostgresSnapshot(self, conn, conn.cursor(binary=True), own_connection=True)
        self._pinned.add(snapshot)
        return snapshot

    async def begin_commit(self) -> "PostgresCommit":
        if not self._write_lock.acquire(blocking=False):
            await wait_in_thread(self._write_lock.acquire, self._write_lock.release)
        try:
            if self._writer.broken or self._writer.closed:
                self._writer = self._connect_writer()
            row = self._lock_head(wait=False)
        except psycopg.errors.LockNotAvailable:
            # Another node commits: wait for it in a thread, so the event loop goes on. If
            # this wait is cancelled, the thread lets go of the head row and the process lock.
            row = await wait_in_thread(lambda: self._lock_head(wait=True), self._let_go, undo=self._release)
        except BaseException:
            self._let_go()
            raise
        return PostgresCommit(self, row)

    def _let_go(self) -> None:
        _rollback_quietly(self._writer)
        self._release()

    def _lock_head(self, wait: bool) -> tuple[int, int, int, int]:
        """BEGIN and lock the head row, in one round trip (a simple query of two statements)."""
        with self._writer.cursor() as cur:
            try:
                cur.execute("BEGIN; SELECT ts, log_floor, replies_period_0, replies_period_1 FROM head FOR UPDATE"
                            + ("" if wait else " NOWAIT"))
                cur.nextset()
                return _row(cur)
            except BaseException:
                _rollback_quietly(self._writer)
                raise

    def _release(self) -> None:
        self._write_lock.release()

    # -- other nodes ----------------------------------------------------------------------

    def notify_peers(self, ts: int) -> None:
        """Nothing to do: the commit's own transaction carried its ``NOTIFY``."""

    def listen(self, on_wake: Callable[[], None]) -> None:
        """Call ``on_wake`` on the running loop when another node has committed: a
        ``LISTEN`` connection watched by the loop itself (no thread). Notifications from
        this node's own writer are ignored. If the connection is lost, it is opened again
        a second later; the application's poll covers the gap."""
        loop = asyncio.get_running_loop()
        try:
            conn = _connect(self.conninfo)
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except psycopg.Error as err:
            log.warning("LISTEN failed (%s); commits of other nodes are seen by polling until it works", err)
            self._listen_retry = loop.call_later(1.0, self.listen, on_wake)
            return
        self._listener = conn
        pgconn = conn.pgconn

        def readable() -> None:
            woken = False
            try:
                pgconn.consume_input()
                while (note := pgconn.notifies()) is not None:
                    woken = woken or note.be_pid != self._writer_pid
            except psycopg.Error:
                loop.remove_reader(conn.fileno())
                conn.close()
                self._listener = None
                self._listen_retry = loop.call_later(1.0, self.listen, on_wake)
                woken = True
            if woken:
                on_wake()

        loop.add_reader(conn.fileno(), readable)

    def legacy_auth(self) -> None:
        """The password provider kept its accounts in tables of its own only on SQLite."""
        return None

    def drop_legacy_auth(self) -> None:
        pass

    def try_lead(self) -> bool:
        """Become the node that runs scheduled functions and crons, if none is: a session
        advisory lock on a connection of its own, which PostgreSQL releases when the node's
        connection ends, however the node ends."""
        if self._leader is not None and not self._leader.broken:
            return True
        if self._leader is not None:
            self._leader.close()
            self._leader = None
        conn = _connect(self.conninfo)
        got = _row(conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))",
                                (f"prefmem.{self.namespace}.leader",)))[0]
        if got:
            self._leader = conn
        else:
            conn.close()
        return bool(got)

    def stop_leading(self) -> None:
        if self._leader is not None:
            self._leader.close()
            self._leader = None

    # -- secrets --------------------------------------------------------------------------

    def secret(self, name: str, make: Callable[[], str]) -> str:
        """The deployment's secret ``name``, made by ``make`` the first time any node asks:
        every node of the deployment gets the same one."""
        self._admin.execute("INSERT INTO secrets (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                            (name, make()))
        return _row(self._admin.execute("SELECT value FROM secrets WHERE name = %s", (name,)))[0]

    def stored_secret(self, name: str) -> str | None:
        row = self._admin.execute("SELECT value FROM secrets WHERE name = %s", (name,)).fetchone()
        return None if row is None else row[0]

    # -- indexes: start-up and schema work --------------------------------------------------

    class _Preparing:
        def __init__(self, owner: "PostgresPersistence") -> None:
            self.owner = owner

        def __enter__(self) -> None:
            owner = self.owner
            owner._admin.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"prefmem.{owner.namespace}.prepare",))
            owner._preparing = True

        def __exit__(self, exc_type: Any, *exc: object) -> None:
            owner = self.owner
            owner._preparing = False
            try:
                if owner._prepare_tx:
                    owner._prepare_tx = False
                    owner._admin.execute("ROLLBACK" if exc_type is not None else "COMMIT")
            finally:
                owner._admin.execute("SELECT pg_advisory_unlock(hashtext(%s))",
                                     (f"prefmem.{owner.namespace}.prepare",))

    def preparing(self) -> "PostgresPersistence._Preparing":
        """Start-up schema work, one node at a time (an advisory lock). Its changes (new and
        dropped indexes, backfills) are one transaction that holds the head row, so no
        commit of a running node falls between a backfill's read and its write."""
        return self._Preparing(self)

    def _schema_work(self) -> psycopg.Connection:
        """The admin connection, inside the preparation's transaction if one is running."""
        if self._preparing and not self._prepare_tx:
            self._admin.execute("BEGIN")
            self._admin.execute("SELECT ts FROM head FOR UPDATE")
            self._prepare_tx = True
        return self._admin

    def index_ids(self) -> dict[tuple[str, str], tuple[int, str]]:
        conn = self._admin if self._prepare_tx else self._reader
        rows = conn.execute("SELECT tbl, name, index_id, fields FROM indexes").fetchall()
        return {(t, n): (i, f) for t, n, i, f in rows}

    def create_index(self, table: str, name: str, fields_json: str) -> int:
        """Register an index (or find the one another node registered meanwhile)."""
        conn = self._schema_work()
        conn.execute("INSERT INTO indexes (tbl, name, fields) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                     (table, name, fields_json))
        return int(_row(conn.execute("SELECT index_id FROM indexes WHERE tbl = %s AND name = %s",
                                     (table, name)))[0])

    def fill_index(self, index_id: int, entries: Iterator[tuple[bytes, str]]) -> None:
        conn = self._schema_work()
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO index_entries (index_id, key, doc_id) VALUES (%s, %s, %s)",
                            [(index_id, key, doc_id) for key, doc_id in entries])

    def create_search_table(self, index_id: int, filters: int) -> None:
        pg_search.create(self._schema_work(), index_id, filters)

    def fill_search(self, index_id: int, rows: Iterator[tuple]) -> None:
        """Backfill a new search index: rows of (rowid, text, *filter keys, doc_id)."""
        conn = self._schema_work()
        for row in rows:
            pg_search.put(conn, index_id, row[-1], row[1], list(row[2:-1]))

    def create_vector_table(self, index_id: int, table: str, index: VectorIndexDef) -> None:
        VectorTable(index_id, index.dimensions, index.filter_fields, self._pgvector).create(self._schema_work())

    def fill_vectors(self, index_id: int, table: str, index: VectorIndexDef, documents: Iterator[dict]) -> None:
        vectors = VectorTable(index_id, index.dimensions, index.filter_fields, self._pgvector)
        conn = self._schema_work()
        for doc in documents:
            _put_vector(conn, vectors, index, doc["_id"], doc)

    def use_vector_index(self, index_id: int, table: str, index: VectorIndexDef) -> None:
        """Keep this vector index's table current with every commit of ``table``."""
        vectors = VectorTable(index_id, index.dimensions, index.filter_fields, self._pgvector)
        self._vectors[index_id] = vectors
        self._vectors_by_table.setdefault(table, []).append((vectors, index))

    def drop_index(self, index_id: int) -> None:
        conn = self._schema_work()
        pg_search.drop(conn, index_id)
        VectorTable(index_id, 2, (), False).drop(conn)
        conn.execute("DELETE FROM index_entries WHERE index_id = %s", (index_id,))
        conn.execute("DELETE FROM indexes WHERE index_id = %s", (index_id,))

    def iter_index(self, index_id: int, batch: int = 1000) -> Iterator[tuple[bytes, bytes]]:
        last = b""
        while True:
            rows = self._admin.execute(
                "SELECT e.key, d.value FROM index_entries e JOIN documents d ON d.id = e.doc_id "
                "WHERE e.index_id = %s AND e.key > %s ORDER BY e.key LIMIT %s", (index_id, last, batch),
                binary=True).fetchall()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    def count_index(self, index_id: int) -> int:
        return _row(self._admin.execute("SELECT count(*) FROM index_entries WHERE index_id = %s",
                                        (index_id,)))[0]

    # -- housekeeping -----------------------------------------------------------------------

    async def maintain(self) -> None:
        """End pinned snapshots older than ``PINNED_MAX_AGE_S`` (they hold back vacuum).
        PostgreSQL checkpoints and vacuums on its own."""
        if self._pinned:
            cutoff = time.monotonic() - PINNED_MAX_AGE_S
            for snapshot in list(self._pinned):
                if snapshot.opened_at < cutoff:
                    snapshot.revoke()
                    self._pinned.discard(snapshot)

    def sizes(self) -> tuple[int, int]:
        """(database bytes, write-ahead log bytes) for the dashboard: the database's size;
        PostgreSQL's WAL is the server's, not this deployment's."""
        return _row(self._admin.execute("SELECT pg_database_size(current_database())"))[0], 0

    def close(self) -> None:
        with self._write_lock:
            if self._listener is not None:
                try:
                    asyncio.get_running_loop().remove_reader(self._listener.fileno())
                except (RuntimeError, ValueError, OSError):
                    pass
            if self._listen_retry is not None:
                self._listen_retry.cancel()
            for snapshot in list(self._pinned):
                snapshot.close()
            for conn in (self._listener, self._leader, self._reader, self._writer, self._admin):
                if conn is not None:
                    conn.close()
            self._listener = self._leader = None


def _put_vector(conn: psycopg.Connection, vectors: VectorTable, index: VectorIndexDef, doc_id: str,
                doc: dict | None) -> None:
    if doc is None:
        vectors.delete(conn, doc_id)
        return
    vectors.put(conn, doc_id, encode_key(doc["_creationTime"], doc_id), vector_of(doc, index),
                [encode_key(lookup_path(doc, field)) for field in index.filter_fields])


class PostgresSnapshot(ReadTransaction):
    """A ``REPEATABLE READ READ ONLY`` transaction: every read sees the database as of ``ts``."""

    def __init__(self, owner: PostgresPersistence, conn: psycopg.Connection, cursor: psycopg.Cursor, *,
                 own_connection: bool) -> None:
        super().__init__(conn, own_connection=own_connection)
        self._owner = owner
        self._cur = cursor
        self._kept: dict[str, StoredDocument] = {}
        # One round trip: without parameters psycopg sends both statements as one simple
        # query, and the snapshot is fixed by the SELECT, which reads its timestamp.
        with conn.cursor() as text:
            text.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT ts, log_floor FROM head")
            text.nextset()
            self.ts, self._log_floor = _row(text)

    def _end(self) -> None:
        if self._conn.broken:
            return
        pgconn = self._conn.pgconn
        if pgconn.transaction_status == TransactionStatus.ACTIVE:
            # The function was stopped (its time limit) inside a read, between sending the
            # statement and reading its result: read it, or the COMMIT cannot be sent.
            while pgconn.get_result() is not None:
                pass
        self._conn.execute("COMMIT")

    def get(self, doc_id: str) -> StoredDocument | None:
        kept = self._kept.get(doc_id)
        if kept is not None:
            return kept
        cur = self._cur
        cur.execute("SELECT tbl, creation_time, value FROM documents WHERE id = %s", (doc_id,))
        row = cur.fetchone()
        if row is None:
            return None
        return StoredDocument(doc_id, row[0], row[1], row[2])

    def scan(self, index_id: int, lo: bytes, hi: bytes, reverse: bool, limit: int) -> list[ScanRow]:
        cur = self._cur
        cur.execute(_SCAN[reverse], (index_id, lo, hi, min(limit, 2**62)))
        rows = cur.fetchall()
        kept = self._kept
        if len(rows) <= _KEPT_SCAN_ROWS and len(kept) < _KEPT_DOCUMENTS:
            for _key, value, doc_id, table, creation_time in rows:
                kept[doc_id] = StoredDocument(doc_id, table, creation_time, value)
        return [(key, value, doc_id) for key, value, doc_id, _table, _creation_time in rows]

    def count(self, index_id: int) -> int:
        cur = self._cur
        cur.execute("SELECT count(*) FROM index_entries WHERE index_id = %s", (index_id,))
        return _row(cur)[0]

    def search(self, index_id: int, terms: list[str], filters: list[tuple[int, bytes]], limit: int) -> list[SearchHit]:
        hits = pg_search.search(self._conn, index_id, terms, filters, limit)
        if not hits:
            return []
        cur = self._cur
        cur.execute("SELECT id, value FROM documents WHERE id = ANY(%s)", ([doc_id for doc_id, _ in hits],))
        values: dict[str, bytes] = dict(cur.fetchall())
        return [(doc_id, values[doc_id]) for doc_id, _score in hits if doc_id in values]

    def vector_search(self, index_id: int, asked: VectorRequest) -> list[dict] | None:
        vectors = self._owner._vectors.get(index_id)
        return None if vectors is None else vectors.search(self._conn, asked)

    def mutation_replies(self, session_id: str, request_id: int) -> list[bytes]:
        out = []
        cur = self._cur
        for table in ("mutation_replies_0", "mutation_replies_1"):
            cur.execute(f"SELECT replies FROM {table} WHERE session_id = %s AND last_request_id >= %s "
                        "ORDER BY last_request_id LIMIT 1", (session_id, request_id))
            row = cur.fetchone()
            if row is not None:
                out.append(row[0])
        return out

    def log_after(self, ts: int) -> list[tuple[int, bytes]]:
        cur = self._cur
        cur.execute("SELECT ts, keys FROM write_log WHERE ts > %s ORDER BY ts", (ts,))
        return cur.fetchall()

    def log_floor(self) -> int:
        return self._log_floor


class PostgresCommit:
    """The head row, locked, in a transaction on the writer connection. ``write`` queues
    every statement in a pipeline; ``finish`` adds the ``COMMIT`` and waits for them all."""

    def __init__(self, owner: PostgresPersistence, head: tuple[int, int, int, int]) -> None:
        self._owner = owner
        self._conn = owner._writer
        self._open = True
        ts, self._log_floor, period_0, period_1 = head
        owner._last_ts = max(owner._last_ts, ts)
        self.head_ts = ts
        self._periods = [period_0, period_1]
        self._ts = 0
        self._pipeline: ContextManager[psycopg.Pipeline] | None = None

    def log_after(self, ts: int) -> list[tuple[int, bytes]]:
        return self._conn.execute("SELECT ts, keys FROM write_log WHERE ts > %s ORDER BY ts", (ts,),
                                  binary=True).fetchall()

    def log_floor(self) -> int:
        return self._log_floor

    def write(self, ts: int, changes: Changes, log_record: bytes) -> None:
        assert ts > self.head_ts
        self._ts = ts
        owner = self._owner
        conn = self._conn
        self._pipeline = conn.pipeline()
        self._pipeline.__enter__()
        cur = conn.cursor()
        put_ids: list[str] = []
        put_tables: list[str] = []
        put_times: list[float] = []
        put_values: list[bytes] = []
        deletes: list[str] = []
        vectors = owner._vectors_by_table
        vector_docs: list[tuple[str, str, bytes | None]] = []
        for doc_id, (table, creation_time, value) in changes.documents.items():
            if value is None:
                deletes.append(doc_id)
            else:
                put_ids.append(doc_id)
                put_tables.append(table)
                put_times.append(float(creation_time))  # an integral one may be an int
                put_values.append(value)
            if table in vectors:
                vector_docs.append((doc_id, table, value))
        if deletes:
            cur.execute(_DOCUMENT_DELETE, (deletes,))
        if put_ids:
            cur.execute(_DOCUMENT_PUT, (ts, put_ids, put_tables, put_times, put_values))
        put_entries: tuple[list[int], list[bytes], list[str]] = ([], [], [])
        deleted_entries: tuple[list[int], list[bytes]] = ([], [])
        for index_id, entries in changes.index_entries.items():
            for key, entry_doc in entries.items():
                if entry_doc is None:
                    deleted_entries[0].append(index_id)
                    deleted_entries[1].append(key)
                else:
                    put_entries[0].append(index_id)
                    put_entries[1].append(key)
                    put_entries[2].append(entry_doc)
        if deleted_entries[0]:
            cur.execute(_ENTRY_DELETE, deleted_entries)
        if put_entries[0]:
            cur.execute(_ENTRY_PUT, put_entries)
        if changes.search_entries:
            rowids = {doc_rowid(doc_id): doc_id for doc_id in changes.documents}
            for index_id, rows in changes.search_entries.items():
                for rowid, entry in rows.items():
                    if entry is None:
                        pg_search.delete(conn, index_id, rowids[rowid])
                    else:
                        text, filter_keys, doc_id = entry
                        pg_search.put(conn, index_id, doc_id, text, filter_keys)
        for doc_id, table, value in vector_docs:
            doc = decode_document(value) if value is not None else None
            for vector_table, index in vectors[table]:
                _put_vector(conn, vector_table, index, doc_id, doc)
        groups = list(changes.reply_groups(ts))
        head: dict[str, int] = {"ts": ts}
        if groups:
            self._write_replies(cur, ts, groups, head)
        cur.execute("INSERT INTO write_log (ts, keys) VALUES (%s, %s)", (ts, log_record))
        if owner._commits % _PRUNE_LOG_EVERY == 0:
            floor = ts - WRITE_LOG_RETENTION_NS
            if floor > self._log_floor:
                cur.execute("DELETE FROM write_log WHERE ts <= %s", (floor,))
                head["log_floor"] = floor
        cur.execute(sql.SQL("UPDATE head SET {}").format(sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)) for column in head)), head)
        cur.execute("SELECT pg_notify(%s, '')", (owner.channel,))

    def _write_replies(self, cur: psycopg.Cursor, ts: int, groups: list[tuple[str, int, bytes]],
                       head: dict[str, int]) -> None:
        """As ``SqliteCommit._write_replies``: two tables by alternate period; the first
        commit of a period (whichever node makes it) empties the period before last."""
        period = ts // MUTATION_RECORD_RETENTION_NS
        slot = period % 2
        if self._periods[slot] != period:
            cur.execute(f"DELETE FROM mutation_replies_{slot}")
            head[f"replies_period_{slot}"] = period
        cur.executemany(f"INSERT INTO mutation_replies_{slot} (session_id, last_request_id, ts, replies) "
                        "VALUES (%s, %s, %s, %s) ON CONFLICT (session_id, last_request_id) DO UPDATE SET "
                        "ts = EXCLUDED.ts, replies = EXCLUDED.replies",
                        [(sid, last, ts, data) for sid, last, data in groups])

    def finish(self) -> None:
        assert self._open
        try:
            self._conn.execute("COMMIT")
            if self._pipeline is not None:  # sends what ``write`` queued with the COMMIT, and waits
                pipeline, self._pipeline = self._pipeline, None
                pipeline.__exit__(None, None, None)
        except BaseException:
            self.abort()
            raise
        self._open = False
        owner = self._owner
        if self._ts:
            owner._last_ts = self._ts
            owner._commits += 1
        owner._release()

    def abort(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            if self._pipeline is not None:
                pipeline, self._pipeline = self._pipeline, None
                try:
                    pipeline.__exit__(RuntimeError, RuntimeError("aborted"), None)
                except psycopg.Error:
                    pass
            _rollback_quietly(self._conn)
        finally:
            self._owner._release()
