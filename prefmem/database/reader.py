"""``ctx.db``: the query builder and the reader/writer objects handlers see.

The consumers are ``async def`` so that handlers ``await`` them as in Convex, but they
never suspend: all storage work is synchronous SQLite. That is what lets the runner detect
a handler that awaits anything else (see ``prefmem.runner``).
"""

from __future__ import annotations

import base64
from typing import Any, AsyncIterator, Callable

from prefmem.database.catalog import Index
from prefmem.database.consumers import LimitedConsumers
from prefmem.database.expressions import compile_filter
from prefmem.database.ranges import build_range
from prefmem.database.search import SearchQuery
from prefmem.database.transaction import UNSET, RangeScan, Transaction  # noqa: F401  (UNSET re-exported)
from prefmem.errors import InvalidQuery
from prefmem import ids




# ---------------------------------------------------------------------------- cursors

def encode_cursor(index_id: int, key: bytes) -> str:
    raw = index_id.to_bytes(4, "big") + key
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: Any, index: Index, what: str = "cursor") -> bytes:
    if not isinstance(cursor, str):
        raise InvalidQuery(f"paginate: {what} must be a string or None, got {type(cursor).__name__}")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except ValueError:
        raise InvalidQuery(f"paginate: {what} {cursor!r} is not a cursor this server made") from None
    if len(raw) < 4:
        raise InvalidQuery(f"paginate: {what} {cursor!r} is not a cursor this server made")
    if int.from_bytes(raw[:4], "big") != index.index_id:
        raise InvalidQuery(f"paginate: {what} belongs to a different query (cursors are only valid for the "
                           "query that returned them)")
    return raw[4:]


# ---------------------------------------------------------------------------- queries

class Query(LimitedConsumers):
    """``ctx.db.query(table)`` and its chain: index, order, filters, then a consumer."""

    def __init__(self, tx: Transaction, table: str, system: bool) -> None:
        tx.catalog.check_table(table, system=system, reader=tx.reader)
        self._tx = tx
        self._table = table
        self._index_name = "by_creation_time"
        self._range_fn: Any = None
        self._order = "asc"
        self._filters: list[Callable[[dict], bool]] = []
        self._source_set = False
        self._order_set = False

    # -- building -----------------------------------------------------------------------

    def with_index(self, name: str, range_fn: Callable | None = None) -> "Query":
        if self._source_set:
            raise InvalidQuery(f"query({self._table!r}): with_index after the index was already chosen")
        if self._order_set or self._filters:
            raise InvalidQuery(f"query({self._table!r}): with_index must come before order and filter")
        self._source_set = True
        self._index_name = name
        self._range_fn = range_fn
        self._index()  # unknown index names fail at the call, not at the consumer
        return self

    def full_table_scan(self) -> "Query":
        if self._source_set:
            raise InvalidQuery(f"query({self._table!r}): full_table_scan after the index was already chosen")
        self._source_set = True
        return self

    def with_search_index(self, name: str, search_fn: Callable) -> SearchQuery:
        if self._source_set or self._order_set or self._filters:
            raise InvalidQuery(f"query({self._table!r}): with_search_index must be the first step of the query")
        index = self._tx.catalog.search_index(self._table, name)
        if index is None:
            self._refuse_if_staged(name)
            known = sorted(ix.name for ix in self._tx.catalog.search_indexes_of(self._table))
            raise InvalidQuery(f"search index {self._table}.{name} does not exist "
                               f"(search indexes: {', '.join(known) or 'none'})")
        return SearchQuery(self._tx, index, search_fn)

    def order(self, order: str) -> "Query":
        if order not in ("asc", "desc"):
            raise InvalidQuery(f"order must be 'asc' or 'desc', got {order!r}")
        if self._order_set:
            raise InvalidQuery(f"query({self._table!r}): order was already set")
        if self._filters:
            raise InvalidQuery(f"query({self._table!r}): order must come before filter")
        self._order_set = True
        self._order = order
        return self

    def filter(self, fn: Callable) -> "Query":
        self._filters.append(compile_filter(fn))
        return self

    # -- running ------------------------------------------------------------------------

    def _index(self) -> Index:
        index = self._tx.catalog.index(self._table, self._index_name)
        if index is None:
            self._refuse_if_staged(self._index_name)
            known = sorted(ix.name for ix in self._tx.catalog.indexes_of(self._table))
            if self._tx.catalog.has_table(self._table) and not known:
                # A table the schema names but nothing has been stored in yet.
                known = ["by_creation_time", "by_id"]
            raise InvalidQuery(f"index {self._table}.{self._index_name} does not exist "
                               f"(indexes: {', '.join(known) or 'none: the table does not exist yet'})")
        return index

    def _refuse_if_staged(self, name: str) -> None:
        tdef = self._tx.catalog.table_def(self._table)
        if tdef is not None:
            tdef.refuse_if_staged(self._table, name)

    def _never_written(self) -> bool:
        """A table no document was ever stored in has no indexes yet: it reads as empty."""
        return self._index_name in ("by_creation_time", "by_id") and \
            self._tx.catalog.index(self._table, self._index_name) is None

    def _interval(self, index: Index) -> tuple[bytes, bytes]:
        return build_range(index.name, index.user_fields, self._range_fn)

    def _describe(self) -> str:
        return repr(self._table)

    def _matches(self, doc: dict) -> bool:
        return all(f(doc) for f in self._filters)

    def _scan(self, lo: bytes | None = None, hi: bytes | None = None) -> RangeScan | None:
        if self._never_written():
            return None
        index = self._index()
        range_lo, range_hi = self._interval(index)
        lo = range_lo if lo is None else max(lo, range_lo)
        hi = range_hi if hi is None else min(hi, range_hi)
        return self._tx.scan_range(index, lo, hi, self._order == "desc")

    def _run(self, limit: int | None) -> list[dict]:
        scan = self._scan()
        if scan is None:
            return []
        out: list[dict] = []
        if limit == 0:
            return out
        try:
            for _key, doc in scan:
                if self._matches(doc):
                    out.append(doc)
                    if limit is not None and len(out) >= limit:
                        break
        finally:
            scan.finish()
        return out

    async def collect(self) -> list[dict]:
        return self._run(None)

    async def count(self) -> int:
        scan = self._scan()
        if scan is None:
            return 0
        total = 0
        try:
            for _key, doc in scan:
                if self._matches(doc):
                    total += 1
        finally:
            scan.finish()
        return total

    async def __aiter__(self) -> AsyncIterator[dict]:
        scan = self._scan()
        if scan is None:
            return
        try:
            for _key, doc in scan:
                if self._matches(doc):
                    yield doc
        finally:
            scan.finish()

    async def paginate(self, opts: Any) -> dict:
        return self._paginate(opts)

    def _paginate(self, opts: Any) -> dict:
        if not isinstance(opts, dict):
            raise InvalidQuery("paginate takes {'numItems': n, 'cursor': str | None}")
        num_items = opts.get("numItems")
        if isinstance(num_items, float) and num_items.is_integer():
            num_items = int(num_items)
        if isinstance(num_items, bool) or not isinstance(num_items, int) or num_items < 0:
            raise InvalidQuery(f"paginate: numItems must be a non-negative integer, got {num_items!r}")
        if self._never_written():
            return {"page": [], "isDone": True, "continueCursor": ""}
        index = self._index()
        range_lo, range_hi = self._interval(index)
        reverse = self._order == "desc"
        cursor = opts.get("cursor")
        end_cursor = opts.get("endCursor")
        if end_cursor is None and self._tx.journal_in is not None:
            end_cursor = self._tx.journal_in
        lo, hi = range_lo, range_hi
        if cursor is not None:
            position = decode_cursor(cursor, index)
            if reverse:
                hi = min(hi, position)
            else:
                lo = max(lo, position + b"\x00")
        end_position: bytes | None = None
        if end_cursor is not None:
            end_position = decode_cursor(end_cursor, index, "endCursor")
            if reverse:
                lo = max(lo, end_position)
            else:
                hi = min(hi, end_position + b"\x00")
        page: list[dict] = []
        scan = self._tx.scan_range(index, lo, hi, reverse)
        try:
            if end_position is not None or num_items > 0:
                for _key, doc in scan:
                    if self._matches(doc):
                        page.append(doc)
                        if end_position is None and len(page) >= num_items:
                            break
        finally:
            scan.finish()
        if end_position is not None:
            # A pinned page ends where it ended the first time; it is done only if that was the end.
            done = (end_position <= range_lo) if reverse else (end_position >= range_hi)
            continue_key = end_position
        elif scan.exhausted or (scan.last_key is not None and self._at_end(index, scan, lo, hi, reverse)):
            done = True
            continue_key = range_lo if reverse else range_hi
            # The whole rest of the range was consumed, so the page depends on all of it.
            self._tx.record_range(index.index_id, lo, hi)
        else:
            done = False
            continue_key = scan.last_key if scan.last_key is not None else (hi if reverse else lo)
        continue_cursor = encode_cursor(index.index_id, continue_key)
        self._tx.journal_out = continue_cursor
        return {"page": page, "isDone": done, "continueCursor": continue_cursor}

    def _at_end(self, index: Index, scan: RangeScan, lo: bytes, hi: bytes, reverse: bool) -> bool:
        """Whether nothing follows the last row handed out (one extra row is peeked)."""
        assert scan.last_key is not None
        if reverse:
            rest = self._tx.snapshot.scan(index.index_id, lo, scan.last_key, True, 1)
        else:
            rest = self._tx.snapshot.scan(index.index_id, scan.last_key + b"\x00", hi, False, 1)
        return not rest


class DatabaseReader:
    """``ctx.db`` in a query."""

    def __init__(self, tx: Transaction, system: bool = False) -> None:
        self._tx = tx
        self._system = system

    @property
    def system(self) -> "DatabaseReader":
        if self._system:
            return self
        return DatabaseReader(self._tx, system=True)

    async def get(self, doc_id: Any) -> dict | None:
        return self._tx.get(doc_id, system=self._system)

    def query(self, table: str) -> Query:
        return Query(self._tx, table, self._system)

    def normalize_id(self, table: str, text: Any) -> str | None:
        return text if ids.id_table_matches(text, table) else None


class DatabaseWriter(DatabaseReader):
    """``ctx.db`` in a mutation: the reader plus writes."""

    async def insert(self, table: str, document: dict) -> str:
        return self._tx.insert(table, document, system=self._system)

    async def patch(self, doc_id: str, fields: dict) -> None:
        self._tx.patch(doc_id, fields, system=self._system)

    async def replace(self, doc_id: str, document: dict) -> None:
        self._tx.replace(doc_id, document, system=self._system)

    async def delete(self, doc_id: str) -> None:
        self._tx.delete(doc_id, system=self._system)


def system_writer(db: DatabaseWriter) -> DatabaseWriter:
    """A writer of system tables in ``db``'s transaction, for the runtime's own rooms.

    Application code only ever reads system tables (``ctx.db.system``).
    """
    if not isinstance(db, DatabaseWriter):
        raise InvalidQuery("system tables can only be written inside a mutation")
    return DatabaseWriter(db._tx, system=True)
