"""The search-engine adapter behind ``search:personalized``.

``ranking.SearchEngine`` is the synchronous interface of an engine that returns ids and
scores (``search(query, filters, limit) -> [(id, relevance)]``). A database-backed engine
has to await the runtime, so the function layer talks to this asynchronous adapter:

    class SearchAdapter(Protocol):
        async def search(self, query, filters, limit) -> Retrieved

- ``BuiltinFtsEngine``: the runtime's full-text index (SQLite FTS5 behind
  ``with_search_index``). It retrieves every match (an OR of the query's words, the last
  one also as a prefix) in FTS relevance order through an internal query, then scores the
  retrieved set with Okapi BM25 over title (×2), description and facets — document
  frequencies counted within the retrieved set, which is exact unless the cap was hit —
  because the runtime returns documents, not scores. Ties keep the FTS order.
- ``SyncEngineAdapter``: wraps any ``ranking.SearchEngine`` (a client of Elasticsearch /
  OpenSearch / Meilisearch / Typesense / Algolia returning ids and scores) plus a loader
  that fetches the products for the returned ids.

Whatever the engine, every candidate carries the query words it matched, counted with the
app's one tokenizer (``text.tokenize``), so a result's reason names only those words and
a query whose words mostly match nothing can say so. Relevance is on any non-negative
scale; ``ranking.rank`` normalises it by the best match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Protocol, Sequence, runtime_checkable

from .text import tokenize

TermCounts = tuple[dict[str, int], int]  # a document's word counts (title twice) and its length in words


@dataclass(frozen=True)
class Retrieved:
    """What a text search found: candidates best first, and which of the query's words matched.

    ``candidates``: ``(product, relevance, words of the query the product matched)``;
    ``terms``: the query's distinct words in order; ``unmatched``: those no candidate has.
    """

    candidates: list[tuple[Any, float, tuple[str, ...]]]
    terms: tuple[str, ...]
    unmatched: tuple[str, ...]

    @property
    def mostly_unmatched(self) -> bool:
        """At least half of the query's words match nothing ("floral dress" where nothing is floral).

        Then the results are matches for the other words only, and the page says so above them.
        """
        return bool(self.terms) and 2 * len(self.unmatched) >= len(self.terms)


def search_text(product: Mapping[str, Any]) -> str:
    """The indexed text of a product: title, description and its facet values."""
    parts = [product.get("title", ""), product.get("description", ""), product.get("category", ""),
             product.get("brand", ""), " ".join(product.get("styles") or []), " ".join(product.get("colors") or [])]
    return " \n".join(p for p in parts if p)


def document_terms(doc: Mapping[str, Any]) -> TermCounts:
    """The words of ``search_text(doc)`` with their counts, the title's counted twice."""
    counts: dict[str, int] = {}
    for t in tokenize(doc.get("title", "")):
        counts[t] = counts.get(t, 0) + 2
    rest = " ".join([doc.get("description", ""), doc.get("category", ""), doc.get("brand", ""),
                     *(doc.get("styles") or ()), *(doc.get("colors") or ())])
    for t in tokenize(rest):
        counts[t] = counts.get(t, 0) + 1
    return counts, sum(counts.values())


def query_terms(query: str) -> tuple[str, ...]:
    """The query's distinct words in order (the last one also matches as a prefix)."""
    return tuple(dict.fromkeys(tokenize(query)))


def _frequencies(terms: tuple[str, ...], last: str, prefixed: tuple[str, ...], counts: Mapping[str, int]) -> dict[str, int]:
    """How often each query word occurs in a document; the last word also through ``prefixed``, the words it begins."""
    row = {}
    for term in terms:
        f = counts.get(term, 0)
        if term == last:
            f = max(f, sum(counts.get(t, 0) for t in prefixed))
        if f:
            row[term] = f
    return row


def bm25_rescore(query: str, docs: Sequence[Mapping[str, Any]], corpus_size: int, *, k1: float = 1.2,
                 b: float = 0.75, terms_of: Callable[[Mapping[str, Any]], TermCounts] = document_terms) -> Retrieved:
    """BM25 scores of ``docs`` (all the documents matching any query word) for ``query``.

    The last query word also matches as a prefix, as the FTS query does ("dres" → dress).
    Candidates come best first, ties in the given order. ``terms_of`` reads a document's
    words (``document_terms``; the simulated-shopper benchmark memoises it per product).
    """
    tokens = tokenize(query)
    terms = tuple(dict.fromkeys(tokens))
    if not terms:
        return Retrieved([], (), ())
    last = tokens[-1]
    doc_terms = [terms_of(d) for d in docs]
    avg_len = (sum(n for _, n in doc_terms) / len(doc_terms) or 1.0) if doc_terms else 1.0
    vocab: set[str] = set()
    for counts, _ in doc_terms:
        vocab.update(counts)
    prefixed = tuple(t for t in vocab if t.startswith(last))
    tf_rows = [_frequencies(terms, last, prefixed, counts) for counts, _ in doc_terms]
    df = {term: sum(1 for row in tf_rows if term in row) for term in terms}
    n_docs = max(corpus_size, len(docs))
    idf = {term: math.log(1.0 + (n_docs - df[term] + 0.5) / (df[term] + 0.5)) for term in terms}
    scored = []
    for i, (d, (_, length), row) in enumerate(zip(docs, doc_terms, tf_rows)):
        norm = k1 * (1 - b + b * length / avg_len)
        s = sum(idf[term] * f * (k1 + 1) / (f + norm) for term, f in row.items())
        scored.append((s, i, d, tuple(t for t in terms if t in row)))
    scored.sort(key=lambda x: (-x[0], x[1]))
    return Retrieved([(d, s, matched) for s, _, d, matched in scored], terms,
                     tuple(t for t in terms if df[t] == 0))


def matched_terms(query: str, product: Mapping[str, Any]) -> tuple[str, ...]:
    """The query's words that ``product``'s indexed text contains (the last one also as a prefix)."""
    tokens = tokenize(query)
    if not tokens:
        return ()
    counts = document_terms(product)[0]
    prefixed = tuple(t for t in counts if t.startswith(tokens[-1]))
    row = _frequencies(tuple(dict.fromkeys(tokens)), tokens[-1], prefixed, counts)
    return tuple(t for t in dict.fromkeys(tokens) if t in row)


@runtime_checkable
class SearchAdapter(Protocol):
    async def search(self, query: str, filters: Mapping[str, Any] | None, limit: int) -> Retrieved: ...


class BuiltinFtsEngine:
    """The runtime's FTS index behind ``retrieve(query, filters, cap) -> Retrieved``.

    ``retrieve`` is the app's internal query (``search:_retrieve``), which runs the
    ``with_search_index`` query and scores the matches with ``bm25_rescore`` inside the
    database snapshot, returning products reduced to the fields ranking needs.
    """

    def __init__(self, retrieve: Callable[[str, Mapping[str, Any] | None, int], Awaitable[Retrieved]]):
        self._retrieve = retrieve

    async def search(self, query: str, filters: Mapping[str, Any] | None, limit: int) -> Retrieved:
        found = await self._retrieve(query, filters, limit)
        return Retrieved(found.candidates[:limit], found.terms, found.unmatched)


class SyncEngineAdapter:
    """Any ``ranking.SearchEngine`` (ids + scores) plus ``load(ids) -> {id: product}``."""

    def __init__(self, engine: Any, load: Callable[[list[Any]], Awaitable[Mapping[Any, dict]]]):
        self._engine = engine
        self._load = load

    async def search(self, query: str, filters: Mapping[str, Any] | None, limit: int) -> Retrieved:
        hits = self._engine.search(query, filters, limit)
        products = await self._load([pid for pid, _ in hits])
        candidates = [(products[pid], score, matched_terms(query, products[pid])) for pid, score in hits
                      if pid in products]
        terms = query_terms(query)
        found = {t for _, _, m in candidates for t in m}
        return Retrieved(candidates, terms, tuple(t for t in terms if t not in found))
