"""Full-text search: ``with_search_index`` on SQLite FTS5, transactional and reactive.

Each search index is an FTS5 table written in the same SQLite transaction as the
document, so a mutation's search reads see its own writes and a rolled-back mutation
leaves no trace. Results come in BM25 relevance order; every term matches whole words
except the last, which also matches as a prefix (search-as-you-type).

Reactivity uses the same read-set/write-set machinery as range indexes, over the keys
``("t", token)`` of the search index: a query reads the points of its terms (and the
prefix interval of its last term); a write emits the tokens of the old and new text.
So a subscribed search reruns exactly when a document containing one of its terms
appears, changes or goes away.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Callable

from prefmem.database import unicode61
from prefmem.database.consumers import LimitedConsumers
from prefmem.database.expressions import compile_filter
from prefmem.errors import InvalidQuery, LimitExceeded
from prefmem.persistence.base import decode_document
from prefmem.values import KEY_END, check_value, encode_key, lookup_path

MAX_TERM_LENGTH = 32


@dataclass(frozen=True)
class SearchIndex:
    index_id: int
    table: str
    name: str
    search_field: str
    filter_fields: tuple[str, ...]

    def text_of(self, doc: dict) -> str:
        value = lookup_path(doc, self.search_field)
        return value if isinstance(value, str) else ""

    def filter_keys(self, doc: dict) -> list[bytes]:
        return [encode_key(lookup_path(doc, f)) for f in self.filter_fields]


def _word_pattern() -> re.Pattern[str]:
    ranges = []
    for item in unicode61.WORDS.split():
        lo, _, hi = item.partition("-")
        ranges.append(f"{re.escape(chr(int(lo, 16)))}-{re.escape(chr(int(hi or lo, 16)))}")
    return re.compile(f"[{''.join(ranges)}]+")


def _fold_table() -> dict[int, int | None]:
    table: dict[int, int | None] = {int(mark, 16): None for mark in unicode61.MARKS.split()}
    for pair in unicode61.FOLDS.split():
        char, _, folded = pair.partition(":")
        table[int(char, 16)] = int(folded, 16)
    return table


_WORDS = _word_pattern()
_FOLDS = _fold_table()


def tokenize(text: str, max_length: int = MAX_TERM_LENGTH) -> list[str]:
    """The tokens FTS5's ``unicode61 remove_diacritics 2`` makes of ``text``, cut to ``max_length``.

    Query terms and reactivity keys must be exactly the tokens FTS5 indexes, or a document
    could fail to match its own words, or a write that FTS5 matches could miss the
    subscription it affects. Folding first is exact: folded forms are word characters that
    fold to themselves, and a mark (dropped) never starts a token, only continues one.
    """
    return [t[:max_length] for t in _WORDS.findall(text.translate(_FOLDS))]


def matches_terms(text: str, terms: list[str]) -> bool:
    """Whether a search for ``terms`` finds ``text``: any term as a whole word, or the last
    one as a word prefix (what the persistence's search matches)."""
    if not terms:
        return False
    # One character past a term's length: a longer word must not equal a term it starts with.
    words = tokenize(text, MAX_TERM_LENGTH + 1)
    wanted, last = set(terms), terms[-1]
    return any(word in wanted or word.startswith(last) for word in words)


def doc_rowid(doc_id: str) -> int:
    """A stable FTS5 rowid per document, so an update can delete the old row by key."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "big") >> 1


def token_key(token: str) -> bytes:
    return encode_key("t", token)


def token_prefix_interval(prefix: str) -> tuple[bytes, bytes]:
    key = encode_key("t", prefix)[:-1]  # drop the string terminator: every extension matches
    return key, key + KEY_END


def write_keys(index: SearchIndex, doc: dict | None) -> set[bytes]:
    if doc is None:
        return set()
    return {token_key(t) for t in tokenize(index.text_of(doc))}


class SearchFilterBuilder:
    """The ``q`` of ``with_search_index(name, lambda q: q.search(field, text).eq(field, v))``."""

    def __init__(self, index: SearchIndex) -> None:
        self._index = index
        self.text: str | None = None
        self.eqs: dict[str, Any] = {}

    def search(self, field: str, text: str) -> "SearchFilterBuilder":
        if field != self._index.search_field:
            raise InvalidQuery(f"with_search_index({self._index.name!r}): search() must name the search field "
                               f"{self._index.search_field!r}, not {field!r}")
        if self.text is not None:
            raise InvalidQuery(f"with_search_index({self._index.name!r}): search() may be called once")
        if not isinstance(text, str):
            raise InvalidQuery(f"with_search_index({self._index.name!r}): the search text must be a string")
        self.text = text
        return self

    def eq(self, field: str, value: Any) -> "SearchFilterBuilder":
        if self.text is None:
            raise InvalidQuery(f"with_search_index({self._index.name!r}): call search() before eq()")
        if field not in self._index.filter_fields:
            raise InvalidQuery(f"with_search_index({self._index.name!r}): {field!r} is not a filter field "
                               f"(filter fields: {', '.join(self._index.filter_fields) or 'none'})")
        if field in self.eqs:
            raise InvalidQuery(f"with_search_index({self._index.name!r}): eq({field!r}) given twice")
        check_value(value)
        self.eqs[field] = value
        return self


class SearchQuery(LimitedConsumers):
    """A search query: optional ``.filter``, then ``take``/``first``/``collect``/``paginate``."""

    def __init__(self, tx: Any, index: SearchIndex, fn: Callable) -> None:
        builder = SearchFilterBuilder(index)
        if fn(builder) is not builder:
            raise InvalidQuery(f"with_search_index({index.name!r}): the function must return q "
                               "(chain q.search(...).eq(...) and return it)")
        if builder.text is None:
            raise InvalidQuery(f"with_search_index({index.name!r}): a search query needs q.search(field, text)")
        self._tx = tx
        self._index = index
        self._builder = builder
        self._filters: list[Callable[[dict], bool]] = []
        self._eq_keys = []
        for position, field in enumerate(index.filter_fields):
            if field in builder.eqs:
                self._eq_keys.append((position, encode_key(builder.eqs[field])))

    def filter(self, fn: Callable) -> "SearchQuery":
        self._filters.append(compile_filter(fn))
        return self

    def order(self, order: str) -> "SearchQuery":
        raise InvalidQuery("search results are in relevance order; order() cannot be used with with_search_index")

    def _describe(self) -> str:
        return f"the search of {self._index.table}.{self._index.name}"

    def _terms(self) -> list[str]:
        terms = tokenize(self._builder.text or "")
        limit = self._tx.limits.search_terms
        if len(terms) > limit:
            raise LimitExceeded("search_terms", f"the search text has {len(terms)} terms, over {limit}")
        return terms

    def _run(self, limit: int | None) -> list[dict]:
        if limit is None:
            limit = self._tx.limits.search_results
        terms = self._terms()
        tx, index = self._tx, self._index
        for term in terms[:-1]:
            tx.record_range(index.index_id, token_key(term), token_key(term) + b"\x00")
        if terms:
            tx.record_range(index.index_id, *token_prefix_interval(terms[-1]))
        else:
            return []
        cap = min(limit, tx.limits.search_results)
        out: list[dict] = []
        rows = tx.snapshot.search(index.index_id, terms, self._eq_keys, tx.limits.search_results)
        for _doc_id, value in rows:
            tx._count_read(len(value))
            doc = decode_document(value)
            if all(f(doc) for f in self._filters):
                out.append(doc)
                if len(out) >= cap:
                    break
        return out

    async def collect(self) -> list[dict]:
        return self._run(self._tx.limits.search_results)

    async def paginate(self, opts: Any) -> dict:
        """Pages over the relevance-ordered results (at most ``search_results`` of them)."""
        if not isinstance(opts, dict) or not isinstance(opts.get("numItems"), (int, float)):
            raise InvalidQuery("paginate takes {'numItems': n, 'cursor': str | None}")
        num = int(opts["numItems"])
        cursor = opts.get("cursor")
        start = 0
        if cursor:
            if not (isinstance(cursor, str) and cursor.startswith("search:") and cursor[7:].isdigit()):
                raise InvalidQuery(f"paginate: {cursor!r} is not a cursor of a search query")
            start = int(cursor[7:])
        docs = self._run(self._tx.limits.search_results)
        page = docs[start:start + num]
        end = start + len(page)
        return {"page": page, "isDone": end >= len(docs), "continueCursor": f"search:{end}"}

