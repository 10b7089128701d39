"""The search-engine adapter behind ``search:personalized``.

``ranking.SearchEngine`` is the synchronous in-memory interface (``search(query, filters,
limit) -> [(id, relevance)]``). A database-backed engine has to await the runtime, so the
function layer talks to this asynchronous adapter instead:

    class SearchAdapter(Protocol):
        async def search(self, query, filters, limit) -> list[tuple[product, relevance]]

- ``BuiltinFtsEngine``: the runtime's full-text index (SQLite FTS5 behind
  ``with_search_index``). It retrieves every match (an OR of the query's words, the last
  one also as a prefix) in FTS relevance order through an internal query, then scores the
  retrieved set with Okapi BM25 over title (×2), description and facets — document
  frequencies counted within the retrieved set, which is exact unless the cap was hit —
  because the runtime returns documents, not scores. Ties keep the FTS order.
- ``SyncEngineAdapter``: wraps any ``ranking.SearchEngine`` (``BM25Engine``, or a client
  of Elasticsearch / OpenSearch / Meilisearch / Typesense / Algolia returning ids and
  scores) plus a loader that fetches the products for the returned ids.

Relevance is on any non-negative scale; ``ranking.rank`` normalises it by the best match.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any, Awaitable, Callable, Mapping, Protocol, Sequence, runtime_checkable

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Words as the runtime's FTS5 tokenizer sees them (lower case, no diacritics)."""
    if text.isascii():
        return [t[:32] for t in _TOKEN.findall(text.lower())]
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return [t[:32] for t in _TOKEN.findall(folded)]


def search_text(product: Mapping[str, Any]) -> str:
    """The indexed text of a product: title, description and its facet values."""
    parts = [product.get("title", ""), product.get("description", ""), product.get("category", ""),
             product.get("brand", ""), " ".join(product.get("styles") or []), " ".join(product.get("colors") or [])]
    return " \n".join(p for p in parts if p)


@runtime_checkable
class SearchAdapter(Protocol):
    async def search(self, query: str, filters: Mapping[str, Any] | None, limit: int) -> list[tuple[dict, float]]: ...


def bm25_rescore(query: str, docs: Sequence[Mapping[str, Any]], corpus_size: int, *, k1: float = 1.2,
                 b: float = 0.75) -> list[tuple[Mapping[str, Any], float]]:
    """BM25 scores of ``docs`` (all the documents matching any query word) for ``query``.

    The last query word also matches as a prefix, as the FTS query does ("dres" → dress).
    Returns ``(doc, score)`` best first, ties in the given order.
    """
    terms = list(dict.fromkeys(tokenize(query)))
    if not terms or not docs:
        return []
    last = tokenize(query)[-1]
    doc_terms = []
    for d in docs:
        counts: dict[str, int] = {}
        for t in tokenize(d.get("title", "")):
            counts[t] = counts.get(t, 0) + 2  # the title counts twice
        rest = " ".join([d.get("description", ""), d.get("category", ""), d.get("brand", ""),
                         *(d.get("styles") or ()), *(d.get("colors") or ())])
        for t in tokenize(rest):
            counts[t] = counts.get(t, 0) + 1
        doc_terms.append((counts, sum(counts.values())))
    avg_len = sum(n for _, n in doc_terms) / len(doc_terms) or 1.0
    vocab: set[str] = set()
    for counts, _ in doc_terms:
        vocab.update(counts)
    prefixed = [t for t in vocab if t.startswith(last)]  # the last word also matches as a prefix

    tf_rows = []
    df = dict.fromkeys(terms, 0)
    for counts, _ in doc_terms:
        row = {}
        for term in terms:
            f = counts.get(term, 0)
            if term == last:
                f = max(f, sum(counts.get(t, 0) for t in prefixed))
            if f:
                row[term] = f
                df[term] += 1
        tf_rows.append(row)
    n_docs = max(corpus_size, len(docs))
    idf = {term: math.log(1.0 + (n_docs - df[term] + 0.5) / (df[term] + 0.5)) for term in terms}
    scored = []
    for i, (d, (_, length), row) in enumerate(zip(docs, doc_terms, tf_rows)):
        norm = k1 * (1 - b + b * length / avg_len)
        s = 0.0
        for term, f in row.items():
            s += idf[term] * f * (k1 + 1) / (f + norm)
        scored.append((s, i, d))
    scored.sort(key=lambda x: (-x[0], x[1]))
    return [(d, s) for s, _, d in scored]


class BuiltinFtsEngine:
    """The runtime's FTS index behind ``retrieve(query, filters, cap) -> [(product, relevance)]``.

    ``retrieve`` is the app's internal query (``search:_retrieve``), which runs the
    ``with_search_index`` query and scores the matches with ``bm25_rescore`` inside the
    database snapshot, returning products reduced to the fields ranking needs.
    """

    def __init__(self, retrieve: Callable[[str, Mapping[str, Any] | None, int], Awaitable[list[tuple[dict, float]]]]):
        self._retrieve = retrieve

    async def search(self, query: str, filters: Mapping[str, Any] | None, limit: int) -> list[tuple[dict, float]]:
        return list(await self._retrieve(query, filters, limit))[:limit]


class SyncEngineAdapter:
    """Any ``ranking.SearchEngine`` (ids + scores) plus ``load(ids) -> {id: product}``."""

    def __init__(self, engine: Any, load: Callable[[list[Any]], Awaitable[Mapping[Any, dict]]]):
        self._engine = engine
        self._load = load

    async def search(self, query: str, filters: Mapping[str, Any] | None, limit: int) -> list[tuple[dict, float]]:
        hits = self._engine.search(query, filters, limit)
        products = await self._load([pid for pid, _ in hits])
        return [(products[pid], score) for pid, score in hits if pid in products]
