"""``search:personalized``'s retrieval for one catalogue, without a server.

The benchmark must rank what the app ranks, so it retrieves as ``search:_retrieve`` does:
the product's indexed text (``engines.search_text``) in an SQLite FTS5 table with the
runtime's tokenizer (``unicode61 remove_diacritics 2``), the runtime's match expression
(every query word OR-ed, the last one also as a prefix), FTS5's ``bm25`` order capped at
the runtime's ``search_results`` limit, then the app's own ``bm25_rescore``. Only the
order of exact FTS ties differs (the runtime breaks them by document id, this by
catalogue order). ``tests/bench/test_shoppers.py`` checks the candidates against the real
``search:_retrieve`` on a seeded backend.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from functions._lib.engines import Retrieved, TermCounts, bm25_rescore, document_terms, search_text
from functions._lib.text import tokenize
from prefmem.limits import DEFAULT_LIMITS


def match_expression(query: str) -> str | None:
    """The FTS5 query the runtime's ``with_search_index`` runs for ``query`` (None: no words)."""
    terms = tokenize(query)
    if not terms:
        return None
    last = f'"{terms[-1]}" OR "{terms[-1]}"*'
    head = " OR ".join(f'"{t}"' for t in terms[:-1])
    return f"{head} OR {last}" if head else last


class Retrieval:
    """Candidates for a query over one catalogue, memoised per query text."""

    def __init__(self, products: list[dict[str, Any]]):
        self.products = products
        self._db = sqlite3.connect(":memory:")
        self._db.execute("CREATE VIRTUAL TABLE docs USING fts5(body, tokenize='unicode61 remove_diacritics 2')")
        self._db.executemany("INSERT INTO docs (rowid, body) VALUES (?, ?)",
                             ((i, search_text(p)) for i, p in enumerate(products)))
        self._terms: dict[int, TermCounts] = {}
        self._cache: dict[str, Retrieved] = {}

    def _terms_of(self, doc: dict[str, Any]) -> TermCounts:
        key = id(doc)
        hit = self._terms.get(key)
        if hit is None:
            hit = self._terms[key] = document_terms(doc)
        return hit

    def search(self, query: str) -> Retrieved:
        hit = self._cache.get(query)
        if hit is None:
            match = match_expression(query)
            rows = [] if match is None else self._db.execute(
                "SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY bm25(docs), rowid LIMIT ?",
                (match, DEFAULT_LIMITS.search_results)).fetchall()
            docs = [self.products[r[0]] for r in rows]
            hit = self._cache[query] = bm25_rescore(query, docs, len(self.products), terms_of=self._terms_of)
        return hit
