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

from dataclasses import dataclass
from enum import Enum
from typing import Callable, Iterable, Iterator, Protocol

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


class Snapshot(Protocol):
    """Reads as of ``ts``; close it promptly (an open snapshot can hold back housekeeping)."""

    ts: int

    def get(self, doc_id: str) -> StoredDocument | None: ...

    def scan(self, index_id: int, lo: bytes, hi: bytes, reverse: bool, limit: int) -> list[ScanRow]:
        """Up to ``limit`` rows with ``lo <= key < hi`` in key order (descending if ``reverse``)."""

    def count(self, index_id: int) -> int:
        """How many entries an index holds (a table's document count, by its ``by_id``)."""

    def search(self, index_id: int, terms: list[str], filters: list[tuple[int, bytes]], limit: int) -> list[SearchHit]:
        """Documents containing any of ``terms`` (the last one also as a prefix) whose
        filter fields have the given keys, in relevance order (BM25), best first."""

    def mutation_replies(self, session_id: str, request_id: int) -> list[bytes]:
        """Stored reply groups that may hold ``request_id``'s reply (see ``Replies``)."""

    def log_after(self, ts: int) -> list[tuple[int, bytes]]:
        """Write-log records ``(ts, encoded keys)`` committed after ``ts``, up to this
        snapshot, oldest first; empty where the persistence keeps no shared log."""

    def close(self) -> None: ...


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

    def write(self, ts: int, changes: Changes, log_record: bytes) -> None: ...

    def finish(self) -> None:
        """Make the writes durable and visible. May run in a worker thread."""

    def abort(self) -> None: ...


class Persistence(Protocol):
    durability: Durability
    shared: bool  # other processes commit to the same database

    def snapshot(self) -> Snapshot:
        """The latest state. Use it within one synchronous stretch (no ``await`` while open)."""

    def pinned_snapshot(self) -> Snapshot:
        """A snapshot that may be held across awaits (its own connection)."""

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

    def index_ids(self) -> dict[tuple[str, str], tuple[int, str]]: ...

    def create_index(self, table: str, name: str, fields_json: str) -> int: ...

    def fill_index(self, index_id: int, entries: Iterator[tuple[bytes, str]]) -> None: ...

    def create_search_table(self, index_id: int, filters: int) -> None: ...

    def fill_search(self, index_id: int, rows: Iterator[tuple]) -> None: ...

    def drop_index(self, index_id: int) -> None: ...

    def iter_index(self, index_id: int, batch: int = 1000) -> Iterator[tuple[bytes, bytes]]: ...

    def count_index(self, index_id: int) -> int: ...

    def close(self) -> None: ...
