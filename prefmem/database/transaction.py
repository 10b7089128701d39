"""One function execution's view of the database: snapshot reads, writes, accounting.

Every read goes through ``scan_range`` or ``get`` here, so this is the one place that
records the read set and counts reads against the limits; every write goes through
``write_document``, which keeps the index entries and the write set in step.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

from prefmem import ids
from prefmem.database.catalog import Catalog, Index
from prefmem.database.ranges import point
from prefmem.database.readset import ReadSet, WriteSet
from prefmem.database.search import doc_rowid, write_keys
from prefmem.database.write_buffer import WriteBuffer
from prefmem.errors import DocumentNotFound, InvalidQuery, LimitExceeded, ValidationError
from prefmem.limits import Limits
from prefmem.persistence.base import Reads, decode_document, encode_document
from prefmem.values import encode_key, python_number

# Rows fetched per storage call: small first, since most reads want a handful of rows.
_FIRST_CHUNK = 16
_MAX_CHUNK = 512


class _Unset:
    """``prefmem.UNSET``: a patch value that removes the field."""

    _instance: "_Unset | None" = None

    def __new__(cls) -> "_Unset":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()


def _where(where: str, subject: Any) -> str:
    return where if subject is None else where.format(subject)


class Transaction:
    """Reads at ``snapshot``; a mutation's writes go to ``buffer`` (which ``snapshot``, a
    ``BufferedSnapshot`` over it, reads back)."""

    def __init__(self, catalog: Catalog, snapshot: Reads, limits: Limits, *, now_ms: float,
                 buffer: WriteBuffer | None = None, deadline: float | None = None, reader: str | None = None) -> None:
        """``reader``: the path of the function the transaction runs (private tables)."""
        self.catalog = catalog
        self.reader = reader
        self.snapshot = snapshot
        self.limits = limits
        self.now_ms = now_ms
        self.buffer = buffer
        self.deadline = deadline
        self.read_set = ReadSet()
        self.write_set = WriteSet()
        self.documents_read = 0
        self.bytes_read = 0
        self.ranges_read = 0
        self.documents_written = 0
        self.bytes_written = 0
        self.journal_in: str | None = None
        self.journal_out: str | None = None

    # -- accounting ---------------------------------------------------------------------

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise LimitExceeded("query_mutation_time_ms",
                                f"the function ran longer than {self.limits.query_mutation_time_ms:g} ms")

    def record_range(self, index_id: int, lo: bytes, hi: bytes) -> None:
        """Every read goes through here, an empty one too: a loop of reads that find
        nothing must still stop at the deadline."""
        self.check_deadline()
        self.ranges_read += 1
        if self.ranges_read > self.limits.index_ranges_read:
            raise LimitExceeded("index_ranges_read", f"read more than {self.limits.index_ranges_read} index ranges "
                                "in one transaction")
        self.read_set.add(index_id, lo, hi)

    def _count_read(self, size: int) -> None:
        self.documents_read += 1
        self.bytes_read += size
        if self.documents_read > self.limits.documents_read:
            raise LimitExceeded("documents_read", f"read more than {self.limits.documents_read} documents in one "
                                "transaction; use an index or paginate")
        if self.bytes_read > self.limits.bytes_read:
            raise LimitExceeded("bytes_read", f"read more than {self.limits.bytes_read} bytes in one transaction")
        if self.documents_read % 64 == 0:
            self.check_deadline()

    # -- reads --------------------------------------------------------------------------

    def get(self, doc_id: Any, *, system: bool) -> dict | None:
        table = self.catalog.table_of_id(doc_id)
        if table is None:
            if isinstance(doc_id, str) and ids.table_number_of(doc_id) is not None:
                return None  # an id of a table that does not exist (yet): nothing to read
            raise InvalidQuery(f"db.get: {doc_id!r} is not a document id")
        if table.startswith("_") != system:
            raise InvalidQuery(f"db.get: {doc_id!r} is an id of {'a system' if not system else 'a user'} table "
                               f"{table!r}; use {'ctx.db.system' if not system else 'ctx.db'}.get")
        self.catalog.check_private(table, self.reader)
        by_id = self.catalog.index(table, "by_id")
        if by_id is not None:
            self.record_range(by_id.index_id, *point(encode_key(doc_id)))
        else:
            self.check_deadline()
        stored = self.snapshot.get(doc_id)
        if stored is None:
            return None
        self._count_read(len(stored.value))
        return decode_document(stored.value)

    def scan_range(self, index: Index, lo: bytes, hi: bytes, reverse: bool) -> "RangeScan":
        return RangeScan(self, index, lo, hi, reverse)

    # -- writes -------------------------------------------------------------------------

    def _writer(self) -> WriteBuffer:
        if self.buffer is None:
            raise InvalidQuery("this function cannot write: only mutations write to the database")
        return self.buffer

    def _validate(self, table: str, body: dict, where: str, subject: Any = None) -> tuple[dict, bool]:
        """The body to store, checked against the table's schema, failing in Convex's words,
        and whether its numbers are already as they read back (the validator typed every
        one), so storing it needs no walk over it (``write_document``'s ``as_read``).
        ``where`` names the write in prefmem's own errors; with a ``subject`` it is a
        template for it, filled only on failure."""
        validator = self.catalog.write_validator(table)
        if not self.limits.covers(validator):
            self.limits.check_shape(body)  # "Set[...] is not a supported Convex type (present at path ...)"
        for name in body:
            if isinstance(name, str) and name.startswith("_"):  # other keys: the shape walk or validator says
                raise ValidationError(f"{_where(where, subject)}: field {name!r} starts with '_', which is "
                                      "reserved for system fields")
        if validator is not None:
            try:
                body = validator.check(body, "")
            except ValidationError as err:
                raise ValidationError(f'Failed to insert or update a document in table "{table}" because it does '
                                      f"not match the schema: {err}") from None
            return body, validator.normalizes_numbers
        return body, False


    def insert(self, table: str, body: Any, *, system: bool) -> str:
        self._writer()
        self.catalog.check_table(table, system=system, reader=self.reader)
        if not isinstance(body, dict):
            raise ValidationError(f"db.insert into {table!r}: the document must be a dict, got {type(body).__name__}")
        body, as_read = self._validate(table, body, "db.insert into {!r}", table)
        self.catalog.ensure_table(table)
        doc_id = ids.new_id(table)
        creation_time = self.catalog.persistence.next_creation_time(self.now_ms)
        if creation_time.is_integer():  # rarely: as it reads back, an int
            creation_time = python_number(creation_time)
        doc = {"_id": doc_id, "_creationTime": creation_time, **body}
        self.write_document(table, doc_id, None, doc, as_read=as_read)
        return doc_id

    def _existing(self, doc_id: Any, op: str, system: bool) -> tuple[str, dict]:
        table = self.catalog.table_of_id(doc_id)
        if table is None or table.startswith("_") != system:
            raise InvalidQuery(f"db.{op}: {doc_id!r} is not an id of a {'system' if system else 'user'} table")
        self.catalog.check_private(table, self.reader)
        # The old version is read (without counting as a range read): a commit that changes
        # it meanwhile conflicts with this one.
        by_id = self.catalog.index(table, "by_id")
        if by_id is not None:
            self.read_set.add(by_id.index_id, *point(encode_key(doc_id)))
        stored = self.snapshot.get(doc_id)
        if stored is None:
            raise DocumentNotFound(f"db.{op}: document {doc_id} does not exist")
        self._count_read(len(stored.value))
        return table, decode_document(stored.value)

    def patch(self, doc_id: Any, fields: Any, *, system: bool) -> None:
        self._writer()
        if not isinstance(fields, dict):
            raise ValidationError(f"db.patch: the fields must be a dict, got {type(fields).__name__}")
        table, old = self._existing(doc_id, "patch", system)
        body = {k: v for k, v in old.items() if not k.startswith("_")}
        for name, value in fields.items():
            if name in ("_id", "_creationTime"):
                if value != old[name]:
                    raise ValidationError(f"db.patch: system field {name!r} cannot be changed")
                continue
            if value is UNSET:
                body.pop(name, None)
            else:
                body[name] = value
        body, as_read = self._validate(table, body, "db.patch of {}", doc_id)
        new = {"_id": old["_id"], "_creationTime": old["_creationTime"], **body}
        self.write_document(table, doc_id, old, new, as_read=as_read)

    def replace(self, doc_id: Any, body: Any, *, system: bool) -> None:
        self._writer()
        if not isinstance(body, dict):
            raise ValidationError(f"db.replace: the document must be a dict, got {type(body).__name__}")
        table, old = self._existing(doc_id, "replace", system)
        body = dict(body)
        for name in ("_id", "_creationTime"):
            if name in body:
                if body.pop(name) != old[name]:
                    raise ValidationError(f"db.replace: system field {name!r} cannot be changed")
        body, as_read = self._validate(table, body, "db.replace of {}", doc_id)
        new = {"_id": old["_id"], "_creationTime": old["_creationTime"], **body}
        self.write_document(table, doc_id, old, new, as_read=as_read)

    def delete(self, doc_id: Any, *, system: bool) -> None:
        self._writer()
        table, old = self._existing(doc_id, "delete", system)
        self.write_document(table, doc_id, old, None)

    def write_document(self, table: str, doc_id: str, old: dict | None, new: dict | None, *,
                       as_read: bool = False) -> None:
        """Write one document version and keep every index of its table in step. ``as_read``:
        ``new``'s numbers are already as they read back (``encode_stored``)."""
        buffer = self._writer()
        self.check_deadline()
        limits = self.limits
        encoded = None
        if new is not None:
            encoded = encode_document(new, as_read=as_read)
            if len(encoded) > limits.document_size:
                raise LimitExceeded("document_size", f"document in {table!r} is {len(encoded)} bytes, over "
                                    f"{limits.document_size}")
        self.documents_written += 1
        self.bytes_written += len(encoded) if encoded is not None else 0
        if self.documents_written > limits.documents_written:
            raise LimitExceeded("documents_written", f"wrote more than {limits.documents_written} documents "
                                "in one transaction")
        if self.bytes_written > limits.bytes_written:
            raise LimitExceeded("bytes_written", f"wrote more than {limits.bytes_written} bytes in one transaction")
        indexes, searches = self.catalog.indexes_and_search(table)
        written = self.write_set.keys
        old_parts: dict[str, bytes] = {}
        new_parts: dict[str, bytes] = {}
        entries: list[tuple[int, bytes, str | None]] = []
        for index in indexes:
            index_id = index.index_id
            old_key = index.key_of(old, old_parts) if old is not None else None
            new_key = index.key_of(new, new_parts) if new is not None else None
            if old_key == new_key:
                # The entry stays, but the document behind it changed: readers of it are stale.
                assert new_key is not None  # a write has an old version, a new one or both
                written.append((index_id, new_key))
                continue
            if old_key is not None:
                written.append((index_id, old_key))
                entries.append((index_id, old_key, None))
            if new_key is not None:
                written.append((index_id, new_key))
                entries.append((index_id, new_key, doc_id))
        buffer.put_document(doc_id, table, (new or old)["_creationTime"], encoded, entries,  # type: ignore[index]
                            new=old is None)
        for search in searches:
            entry = (search.text_of(new), search.filter_keys(new), doc_id) if new is not None else None
            buffer.put_search_entry(search.index_id, doc_rowid(doc_id), entry)
            for key in write_keys(search, old) | write_keys(search, new):
                written.append((search.index_id, key))
        self.write_set.documents += 1


class RangeScan:
    """Streams one index range in key order, and on ``finish`` records what it consumed.

    Only the prefix actually handed out enters the read set: ``take(3)`` over a large range
    depends on three rows, not on the whole range.
    """

    def __init__(self, tx: Transaction, index: Index, lo: bytes, hi: bytes, reverse: bool) -> None:
        self.tx = tx
        self.index = index
        self.lo, self.hi = lo, hi
        self.reverse = reverse
        self.last_key: bytes | None = None
        self.exhausted = False
        self._finished = False

    def __iter__(self) -> Iterator[tuple[bytes, dict]]:
        tx, index = self.tx, self.index
        lo, hi = self.lo, self.hi
        chunk = _FIRST_CHUNK
        while lo < hi:
            rows = tx.snapshot.scan(index.index_id, lo, hi, self.reverse, chunk)
            for key, value, _doc_id in rows:
                tx._count_read(len(value))
                self.last_key = key
                yield key, decode_document(value)
            if len(rows) < chunk:
                break
            if self.reverse:
                hi = rows[-1][0]
            else:
                lo = rows[-1][0] + b"\x00"
            chunk = min(chunk * 4, _MAX_CHUNK)
        self.exhausted = True

    def finish(self) -> None:
        """Record the consumed interval in the read set (idempotent)."""
        if self._finished:
            return
        self._finished = True
        if self.exhausted:
            lo, hi = self.lo, self.hi
        elif self.last_key is None:
            return
        elif self.reverse:
            lo, hi = self.last_key, self.hi
        else:
            lo, hi = self.lo, self.last_key + b"\x00"
        self.tx.record_range(self.index.index_id, lo, hi)
