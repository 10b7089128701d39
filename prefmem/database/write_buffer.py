"""Writes that wait for their commit, and the view that reads through them.

A batch of mutations executes against one snapshot; each mutation's writes go into the
batch's ``WriteBuffer``, so the next mutation of the batch (and the same mutation's later
reads) see them through a ``BufferedSnapshot``, exactly as if the earlier ones had
committed. A mutation that fails is taken back out with ``rollback(mark)``: the buffer
keeps an undo log, so a failed mutation costs nothing to the others.

At commit the buffer is the commit's ``Changes``: the final state of each document,
index entry and search entry it touched.
"""

from __future__ import annotations

import bisect
from typing import Any, Iterable, cast

from prefmem.database import replies as replies_mod
from prefmem.database.replies import ReplayKey
from prefmem.database.search import doc_rowid, matches_terms
from prefmem.persistence.base import Reads, ScanRow, SearchEntry, SearchHit, StoredDocument

_ABSENT = object()  # "the key was not in the buffer" in the undo log


class WriteBuffer:
    def __init__(self) -> None:
        self.documents: dict[str, tuple[str, float, bytes | None]] = {}
        self.index_entries: dict[int, dict[bytes, str | None]] = {}
        self.search_entries: dict[int, dict[int, SearchEntry | None]] = {}
        self.replies: list[tuple[ReplayKey, Any, list[str]]] = []
        self._undo: list[tuple] = []
        self._sorted: dict[int, list[bytes]] = {}  # index id -> its buffered keys, sorted on demand

    def __bool__(self) -> bool:
        return bool(self.documents or self.replies)

    # -- undo -----------------------------------------------------------------------------

    def mark(self) -> tuple[int, int]:
        return len(self._undo), len(self.replies)

    def rollback(self, mark: tuple[int, int]) -> None:
        """Take back everything written since ``mark``."""
        undo, replies = mark
        while len(self._undo) > undo:
            where, key, previous = self._undo.pop()
            if where is None:  # a new document: its entry and index keys were all new
                del self.documents[key]
                for index_id, index_key, _doc_id in previous:
                    del self.index_entries[index_id][index_key]
            elif previous is _ABSENT:
                del where[key]
            else:
                where[key] = previous
        del self.replies[replies:]
        self._sorted.clear()

    # -- writes ---------------------------------------------------------------------------

    def put_document(self, doc_id: str, table: str, creation_time: float, value: bytes | None,
                     entries: list[tuple[int, bytes, str | None]], *, new: bool) -> None:
        """One document version and its index changes ``(index id, key, document id or
        None to remove)``. ``new``: an insert, whose id and index keys (which end with its
        id) cannot be in the buffer yet, so one undo record covers them all."""
        documents, index_entries, undo = self.documents, self.index_entries, self._undo
        if new:
            undo.append((None, doc_id, entries))
        else:
            undo.append((documents, doc_id, documents.get(doc_id, _ABSENT)))
        documents[doc_id] = (table, creation_time, value)
        for index_id, key, entry_doc in entries:
            index = index_entries.get(index_id)
            if index is None:
                index = index_entries[index_id] = {}
            if not new:
                undo.append((index, key, index.get(key, _ABSENT)))
            index[key] = entry_doc
        if self._sorted:
            for index_id, key, _entry_doc in entries:
                keys = self._sorted.get(index_id)
                if keys is not None and key not in keys:
                    bisect.insort(keys, key)

    def put_search_entry(self, index_id: int, rowid: int, entry: SearchEntry | None) -> None:
        rows = self.search_entries.get(index_id)
        if rows is None:
            rows = self.search_entries[index_id] = {}
        self._undo.append((rows, rowid, rows.get(rowid, _ABSENT)))
        rows[rowid] = entry

    def put_reply(self, key: ReplayKey, value: Any, log_lines: list[str]) -> None:
        self.replies.append((key, value, log_lines))

    # -- reads ----------------------------------------------------------------------------

    def keys_in(self, index_id: int, lo: bytes, hi: bytes) -> list[bytes]:
        """The buffered keys of an index in ``[lo, hi)``, ascending."""
        entries = self.index_entries.get(index_id)
        if not entries:
            return []
        keys = self._sorted.get(index_id)
        if keys is None:
            keys = self._sorted[index_id] = sorted(entries)
        return keys[bisect.bisect_left(keys, lo):bisect.bisect_left(keys, hi)]

    def reply_groups(self, ts: int) -> Iterable[tuple[str, int, bytes]]:
        by_session: dict[str, list[tuple[ReplayKey, Any, list[str]]]] = {}
        last: dict[str, int] = {}
        for reply in self.replies:
            session_id, request_id = reply[0].session_id, reply[0].request_id
            by_session.setdefault(session_id, []).append(reply)
            if request_id > last.get(session_id, -1):
                last[session_id] = request_id
        for session_id, group in by_session.items():
            yield session_id, last[session_id], replies_mod.encode_group(ts, group)

    def view(self, base: Reads) -> "BufferedSnapshot":
        return BufferedSnapshot(base, self)


class BufferedSnapshot:
    """A snapshot with a buffer's writes laid over it: what a mutation of the batch reads."""

    def __init__(self, base: Reads, buffer: WriteBuffer) -> None:
        self.base = base
        self.buffer = buffer

    @property
    def ts(self) -> int:
        return self.base.ts

    def get(self, doc_id: str) -> StoredDocument | None:
        written = self.buffer.documents.get(doc_id)
        if written is None:
            return self.base.get(doc_id)
        table, creation_time, value = written
        return None if value is None else StoredDocument(doc_id, table, creation_time, value)

    def _latest(self, rows: list[ScanRow]) -> list[ScanRow]:
        """Base rows whose document has a newer buffered version (same key) read as that version."""
        documents = self.buffer.documents
        if not documents:
            return rows
        out = []
        for key, value, doc_id in rows:
            written = documents.get(doc_id)
            if written is not None and written[2] is not None:
                value = written[2]
            out.append((key, value, doc_id))
        return out

    def scan(self, index_id: int, lo: bytes, hi: bytes, reverse: bool, limit: int) -> list[ScanRow]:
        buffered = self.buffer.keys_in(index_id, lo, hi)
        if not buffered:
            return self._latest(self.base.scan(index_id, lo, hi, reverse, limit))
        # Each buffered key hides at most one base row, so this many base rows leave at
        # least ``limit`` once merged.
        rows = self.base.scan(index_id, lo, hi, reverse, limit + len(buffered))
        if len(rows) == limit + len(buffered):
            # More base rows may follow the last one read: buffered keys past it wait.
            edge = rows[-1][0]
            buffered = [k for k in buffered if k >= edge] if reverse else [k for k in buffered if k <= edge]
        entries = self.buffer.index_entries[index_id]
        documents = self.buffer.documents
        merged = {key: (key, value, doc_id) for key, value, doc_id in self._latest(rows)}
        for key in buffered:
            doc_id = entries[key]
            if doc_id is None:
                merged.pop(key, None)
            else:
                value = documents[doc_id][2]
                assert value is not None  # an entry naming a document is written with its new version
                merged[key] = (key, value, doc_id)
        return [merged[key] for key in sorted(merged, reverse=reverse)][:limit]

    def search(self, index_id: int, terms: list[str], filters: list[tuple[int, bytes]], limit: int) -> list[SearchHit]:
        """The base's hits, minus documents the buffer changed, plus buffered documents that
        match. Documents the batch wrote rank after the stored ones: their relevance would
        need the search index's statistics, which only the commit updates."""
        written = self.buffer.search_entries.get(index_id)
        if not written:
            hits = self.base.search(index_id, terms, filters, limit)
            documents = self.buffer.documents
            # Not a deleted one: its removal would have left a search entry (None) in ``written``.
            return [(doc_id, cast(bytes, documents[doc_id][2]) if doc_id in documents else value)
                    for doc_id, value in hits] if documents else hits
        hits = [hit for hit in self.base.search(index_id, terms, filters, limit + len(written))
                if doc_rowid(hit[0]) not in written]
        for entry in written.values():
            if entry is None:
                continue
            text, filter_keys, doc_id = entry
            if all(filter_keys[position] == key for position, key in filters) and matches_terms(text, terms):
                value = self.buffer.documents[doc_id][2]
                assert value is not None  # an entry (not None) is written with the document's new version
                hits.append((doc_id, value))
        return hits[:limit]

    def mutation_replies(self, session_id: str, request_id: int) -> list[bytes]:
        pending = [reply for reply in self.buffer.replies if reply[0].session_id == session_id]
        stored = self.base.mutation_replies(session_id, request_id)
        return ([replies_mod.encode_group(0, pending)] if pending else []) + stored
