"""What the database room needs from wherever documents are kept, and nothing more.

The committer and the transactions above talk to a persistence through four things:

- a ``Snapshot``: documents and index ranges exactly as of one commit timestamp;
- a ``CommitSlot``: the right to commit, held by one committer at a time in the whole
  deployment, with the timestamp of the last commit and what other processes committed
  since a given timestamp (their write-log records);
- ``Changes``: the final state of every document, index entry, search entry and mutation
  reply one commit writes, persisted atomically with its write-log record;
- start-up metadata: which indexes exist, creating and backfilling new ones.

Everything else (SQL, files, locks, how processes wake each other) stays below this line,
so SQLite and PostgreSQL can each do it their own way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, ContextManager, Iterable, Iterator, Protocol, Self

from prefmem.values import decode_stored, encode_stored

# Documents are stored in the values room's encoding (int64s as an extension type).
encode_document = encode_stored
decode_document = decode_stored


class Durability(str, Enum):
    """``normal``: an acknowledged commit survives the process being killed; ``full``: it
    also survives power loss (a flush to stable storage per commit batch)."""

    NORMAL = "normal"
    FULL = "full"


@dataclass(frozen=True, slots=True)
class StoredDocument:
    id: str
    table: str
    creation_time: float
    value: bytes  # msgpack of the whole document, system fields included

    def decode(self) -> dict:
        return decode_document(self.value)


# One index row as a range scan returns it: (key, document value, document id).
ScanRow = tuple[bytes, bytes, str]
# One search hit: (document id, document value).
SearchHit = tuple[str, bytes]
# A search entry: (text, filter keys, document id), or None for "no entry".
SearchEntry = tuple[str, list[bytes], str]


class Reads(Protocol):
    """What a function execution reads from: a ``Snapshot``, or a mutation batch's view of
    one with the batch's writes laid over it (``write_buffer.BufferedSnapshot``), which
    offers no more than this."""

    @property
    def ts(self) -> int: ...

    def get(self, doc_id: str) -> StoredDocument | None: ...

    def scan(self, index_id: int, lo: bytes, hi: bytes, reverse: bool, limit: int) -> list[ScanRow]:
        """Up to ``limit`` rows with ``lo <= key < hi`` in key order (descending if ``reverse``)."""

    def search(self, index_id: int, terms: list[str], filters: list[tuple[int, bytes]], limit: int) -> list[SearchHit]:
        """Documents containing any of ``terms`` (the last one also as a prefix) whose
        filter fields have the given keys, in relevance order (BM25), best first."""

    def mutation_replies(self, session_id: str, request_id: int) -> list[bytes]:
        """Stored reply groups that may hold ``request_id``'s reply (see ``Replies``)."""


class Snapshot(Reads, Protocol):
    """Reads as of ``ts``; close it promptly (an open snapshot can hold back housekeeping),
    most simply as a context manager. ``revoked``: the persistence ended it early (a pinned
    snapshot held too long)."""

    ts: int
    revoked: bool

    def count(self, index_id: int) -> int:
        """How many entries an index holds (a table's document count, by its ``by_id``)."""

    def vector_search(self, index_id: int, asked: Any) -> list[dict] | None:
        """``[{"_id", "_score"}]`` for a ``vector.VectorRequest`` from the engine's own table
        of vector index ``index_id``, exactly as the exact scan would answer; None where the
        engine keeps none (the caller then scans the table)."""

    def log_after(self, ts: int) -> list[tuple[int, bytes]]:
        """Write-log records ``(ts, encoded keys)`` committed after ``ts``, up to this
        snapshot, oldest first; empty where the persistence keeps no shared log."""

    def log_floor(self) -> int:
        """Records at or below this timestamp may have been pruned from the shared log."""

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


# Keeps _creationTime strictly increasing; exactly representable at today's magnitudes.
CREATION_TIME_STEP = 2.0**-8


class CreationTimes:
    """``_creationTime``s for inserts, strictly increasing within a process; both engines
    start from the largest stored one (``_last_creation_time``)."""

    _last_creation_time: float

    def next_creation_time(self, now_ms: float) -> float:
        """A ``_creationTime`` for an insert: now, or just above the last one given."""
        creation_time = max(float(now_ms), self._last_creation_time + CREATION_TIME_STEP)
        self._last_creation_time = creation_time
        return creation_time

    def note_creation_time(self, creation_time: float) -> None:
        """Documents with creation times up to this one exist (imported): give later ones."""
        if creation_time > self._last_creation_time:
            self._last_creation_time = creation_time


class ReadTransaction:
    """What both engines' snapshots share: a read transaction on a connection (the
    persistence's, or one of its own), ended by ``close``, or early by the persistence
    (``revoke``: a pinned snapshot held too long). Subclasses begin the transaction and
    set ``ts``; ``_end`` ends it."""

    ts: int

    def __init__(self, conn: Any, *, own_connection: bool) -> None:
        self._conn = conn
        self._own_connection = own_connection
        self._open = True
        self.revoked = False
        self.opened_at = time.monotonic()

    def _end(self) -> None:
        self._conn.execute("COMMIT")

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                self._end()
            finally:
                if self._own_connection:
                    self._conn.close()

    def revoke(self) -> None:
        self.revoked = True
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class LogRecords:
    """The shared write log read at one moment: the last commit ``ts``, the ``floor`` below
    which records may be pruned, and the records after some timestamp up to ``ts``. Read by
    ``write_log.catch_up`` as a snapshot would be."""

    ts: int
    floor: int
    records: list[tuple[int, bytes]]

    def log_floor(self) -> int:
        return self.floor

    def log_after(self, ts: int) -> list[tuple[int, bytes]]:
        return [record for record in self.records if record[0] > ts]


class Changes(Protocol):
    """The final state of everything one commit touched (a ``WriteBuffer`` is one)."""

    documents: dict[str, tuple[str, float, bytes | None]]  # id -> (table, creation time, value | None)
    index_entries: dict[int, dict[bytes, str | None]]  # index id -> key -> document id | None
    search_entries: dict[int, dict[int, SearchEntry | None]]  # index id -> rowid -> entry | None

    def reply_groups(self, ts: int) -> Iterable[tuple[str, int, bytes]]:
        """``(session id, its last request id, encoded replies)`` per session, committed at ``ts``."""


class CommitSlot(Protocol):
    """The commit lock of the whole deployment, held; ``finish`` or ``abort`` releases it."""

    head_ts: int  # the last committed timestamp anywhere

    def log_after(self, ts: int) -> list[tuple[int, bytes]]:
        """Records committed after ``ts`` (by any process), oldest first."""

    def log_floor(self) -> int: ...

    def write(self, ts: int, changes: Changes, log_record: bytes) -> None: ...

    def finish(self) -> None:
        """Make the writes durable and visible. May run in a worker thread."""

    def abort(self) -> None: ...


class Persistence(Protocol):
    durability: Durability
    shared: bool  # other processes commit to the same database

    @property
    def finish_in_thread(self) -> bool:
        """``CommitSlot.finish`` waits (a flush, a round trip): run it off the event loop."""

    def snapshot(self) -> Snapshot:
        """The latest state. Use it within one synchronous stretch (no ``await`` while open)."""

    def pinned_snapshot(self) -> Snapshot:
        """A snapshot that may be held across awaits (its own connection)."""

    def log_since(self, ts: int) -> LogRecords:
        """What other processes committed after ``ts``: cheaper than a snapshot where the
        engine can read it in one statement (a process following the others does it after
        every wake-up)."""

    async def begin_commit(self) -> CommitSlot: ...

    async def maintain(self) -> None:
        """Housekeeping after a commit (the committer calls it; cheap when there is none)."""

    def notify_peers(self, ts: int) -> None:
        """Tell other processes sharing the database that a commit at ``ts`` happened."""

    def listen(self, on_wake: Callable[[], None]) -> None:
        """Call ``on_wake`` on the running loop when another process has committed."""

    def legacy_auth(self) -> dict[str, list[tuple]] | None:
        """Password-provider rows kept in an earlier layout, to move into system tables."""

    def drop_legacy_auth(self) -> None: ...

    def try_lead(self) -> bool:
        """Become the one process of the deployment that runs the scheduler and crons."""

    def stop_leading(self) -> None: ...

    def last_ts(self) -> int: ...

    def next_creation_time(self, now_ms: float) -> float:
        """A ``_creationTime`` for an insert: now, or just above the last one given."""

    def note_creation_time(self, creation_time: float) -> None: ...

    def preparing(self) -> ContextManager[None]:
        """Around the start-up schema work (checks, new and dropped indexes, backfills):
        where several processes may start at once, one at a time."""

    def index_ids(self) -> dict[tuple[str, str], tuple[int, str]]: ...

    def create_index(self, table: str, name: str, fields_json: str) -> int: ...

    def fill_index(self, index_id: int, entries: Iterator[tuple[bytes, str]]) -> None: ...

    def create_search_table(self, index_id: int, filters: int) -> None: ...

    def fill_search(self, index_id: int, rows: Iterator[tuple]) -> None: ...

    def create_vector_table(self, index_id: int, table: str, index: Any) -> None:
        """Storage for a vector index (a ``schema.VectorIndexDef``), where the engine keeps any."""

    def fill_vectors(self, index_id: int, table: str, index: Any, documents: Iterator[dict]) -> None:
        """Backfill a new vector index from ``table``'s documents."""

    def use_vector_index(self, index_id: int, table: str, index: Any) -> None:
        """Keep a vector index's storage current with every commit of ``table``."""

    def drop_index(self, index_id: int) -> None: ...

    def iter_index(self, index_id: int, batch: int = 1000) -> Iterator[tuple[bytes, bytes]]: ...

    def count_index(self, index_id: int) -> int: ...

    def sizes(self) -> tuple[int, int]:
        """(database bytes, write-ahead log bytes), for the dashboard."""

    def close(self) -> None: ...
