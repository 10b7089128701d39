"""Writing documents that arrive with their system fields: what ``prefmem import`` needs.

A function's insert gets a fresh ``_id`` and ``_creationTime``; an imported snapshot must
keep the ones it carries, or references between documents (``v.id`` fields) and creation
order would not survive an export/import round trip. Everything else is what a mutation's
write does: the document check of ``Transaction._validate`` and the index maintenance of
``Transaction.write_document``. The whole import is one commit, so a refused import (any
document failing its check) writes nothing, ``--replace`` deletions included.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from typing import Any

from typing import TYPE_CHECKING

from prefmem import ids
from prefmem.database.transaction import Transaction
from prefmem.database.write_buffer import WriteBuffer
from prefmem.errors import PrefmemError
from prefmem.limits import Limits
from prefmem.persistence.base import decode_document
from prefmem.values import python_number

if TYPE_CHECKING:
    from prefmem.application import Application

_SYSTEM_FIELDS = ("_id", "_creationTime")
_SCAN_CHUNK = 512


class ImportRefused(PrefmemError):
    """Some imported documents failed their checks; nothing was written. Lists the problems."""

    def __init__(self, problems: list[str], total: int) -> None:
        self.problems = problems
        self.total = total
        more = f"\n  ... and {total - len(problems)} more" if total > len(problems) else ""
        super().__init__(f"import refused, nothing was imported: {total} problem{'s' if total != 1 else ''}:\n  "
                         + "\n  ".join(problems) + more)


class DocumentImporter:
    """One import, as one write transaction.

    ``begin_table`` before a table's documents, ``add`` each document with a location for
    messages (``"messages/documents.jsonl line 3"``), then ``commit``. Problems are
    collected rather than raised, so one run reports every bad document (up to
    ``max_problems`` of them); ``commit`` raises ``ImportRefused`` and writes nothing if
    there were any. Leaving the ``with`` block without committing writes nothing.
    """

    def __init__(self, app: "Application", limits: Limits, *, replace: bool = False, max_problems: int = 20) -> None:
        self.app = app
        self.catalog = catalog = app.catalog
        self.replace = replace
        self.max_problems = max_problems
        self.problems: list[str] = []
        self.problem_count = 0
        self.counts: dict[str, int] = {}
        self.replaced: dict[str, int] = {}
        self._seen: dict[str, str] = {}  # _id -> where it was first imported
        self._max_creation_time = 0.0
        self._buffer: WriteBuffer | None = WriteBuffer()
        self._snapshot = app.persistence.pinned_snapshot()
        # An import is not a function call: the per-transaction limits do not apply to it,
        # the per-document size limit does.
        unbounded = dataclasses.replace(limits, documents_written=sys.maxsize, bytes_written=sys.maxsize,
                                        documents_read=sys.maxsize, bytes_read=sys.maxsize)
        self._tx = Transaction(catalog, self._buffer.view(self._snapshot), unbounded, now_ms=time.time() * 1000.0,
                               buffer=self._buffer)

    def __enter__(self) -> "DocumentImporter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.rollback()

    # -- problems -----------------------------------------------------------------------

    def problem(self, message: str) -> None:
        """Record a problem found by the caller (unreadable line, bad JSON) or by a check here."""
        self.problem_count += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(message)

    # -- tables -------------------------------------------------------------------------

    def begin_table(self, table: str, where: str) -> bool:
        """Prepare ``table`` for its documents; False (and a problem) if it cannot take them."""
        if not table.isidentifier():
            self.problem(f"{where}: {table!r} is not a table name (table names are identifiers)")
            return False
        try:
            self.catalog.check_table(table, system=False)
        except PrefmemError as err:
            self.problem(f"{where}: {err}")
            return False
        self.counts.setdefault(table, 0)
        self._writer()
        if self.catalog.ensure_table(table):
            return True
        by_id = self.catalog.index(table, "by_id")
        assert by_id is not None
        # What the table held when the import began (the snapshot), read in chunks.
        lo, removed = b"", 0
        self._tx.read_set.add(by_id.index_id, b"", b"\xff")  # a concurrent write to the table conflicts
        while True:
            rows = self._snapshot.scan(by_id.index_id, lo, b"\xff", False, _SCAN_CHUNK)
            if rows and not self.replace:
                more = "" if len(rows) < _SCAN_CHUNK else " or more"
                count = f"{len(rows)}{more} document{'' if len(rows) == 1 else 's'}"
                self.problem(f"{where}: table {table!r} already holds {count}; import --replace replaces them")
                return False
            for _key, value, doc_id in rows:
                self._tx.write_document(table, doc_id, decode_document(value), None)
            removed += len(rows)
            if len(rows) < _SCAN_CHUNK:
                break
            lo = rows[-1][0] + b"\x00"
        if removed:
            self.replaced[table] = self.replaced.get(table, 0) + removed
        return True

    # -- documents ----------------------------------------------------------------------

    def add(self, table: str, doc: Any, where: str) -> bool:
        """Check one document and write it with its own ``_id`` and ``_creationTime``."""
        if not isinstance(doc, dict):
            self.problem(f"{where}: a document must be a JSON object, got {type(doc).__name__}")
            return False
        doc_id = doc.get("_id")
        if not isinstance(doc_id, str) or not ids.id_table_matches(doc_id, table):
            self.problem(f"{where}: field _id must be a document id of table {table!r}, got {doc_id!r}")
            return False
        located, where = where, f"{where}, document {doc_id}"
        creation_time = doc.get("_creationTime")
        if not isinstance(creation_time, float) or not math.isfinite(creation_time) or creation_time <= 0:
            self.problem(f"{where}: field _creationTime must be a positive number (ms since the epoch), "
                         f"got {creation_time!r}")
            return False
        unknown = [name for name in doc if name.startswith("_") and name not in _SYSTEM_FIELDS]
        if unknown:
            self.problem(f"{where}: unknown system field {unknown[0]!r} (documents carry only _id and _creationTime)")
            return False
        body = {name: value for name, value in doc.items() if name not in _SYSTEM_FIELDS}
        try:
            body, as_read = self._tx._validate(table, body, where)
            if doc_id in self._seen:
                self.problem(f"{where}: this _id was already imported at {self._seen[doc_id]}")
                return False
            new = {"_id": doc_id, "_creationTime": python_number(creation_time), **body}
            self._tx.write_document(table, doc_id, None, new, as_read=as_read)
        except PrefmemError as err:
            self.problem(f"{where}: {err}")
            return False
        self._seen[doc_id] = located
        self.counts[table] = self.counts.get(table, 0) + 1
        self._max_creation_time = max(self._max_creation_time, creation_time)
        return True

    # -- finishing ----------------------------------------------------------------------

    async def commit(self) -> dict[str, int]:
        """Commit everything, or raise ``ImportRefused`` (writing nothing) if anything was wrong."""
        buffer = self._writer()
        if self.problem_count:
            self.rollback()
            raise ImportRefused(self.problems, self.problem_count)
        persistence = self.catalog.persistence
        # Later inserts must still get increasing creation times, above every imported one.
        persistence.note_creation_time(self._max_creation_time)
        try:
            await self.app.committer.commit_buffer(buffer, self._tx.read_set, self._tx.write_set.keys,
                                                   self._snapshot.ts)
        finally:
            self.rollback()
        return dict(self.counts)

    def rollback(self) -> None:
        if self._buffer is None:
            return
        self._buffer = None
        self._snapshot.close()

    def _writer(self) -> WriteBuffer:
        if self._buffer is None:
            raise PrefmemError("this import is already finished")
        return self._buffer
