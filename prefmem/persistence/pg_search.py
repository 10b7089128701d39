"""Text search on PostgreSQL that returns exactly what the FTS5 path returns, in its order.

The FTS5 path (``prefmem.database.search``) asks ``t1 OR t2 OR last OR last*`` and orders by
FTS5's ``bm25()``, then by document id. This module keeps the same inverted index in plain
tables and computes the same numbers:

- Tokens come from ``tokenize`` (which is FTS5's tokenizer, measured), cut to one character
  more than a query term can have: a query term (at most ``MAX_TERM_LENGTH``) equals a stored
  token exactly when it equals the document's word, and prefixes look at no more than that.
- BM25 with FTS5's constants and formula: per phrase (each query term, plus the last term as
  a prefix) ``idf = ln((N - n + 0.5) / (n + 0.5))``, at least 1e-6, over the whole index
  (filters do not change the statistics, as in FTS5); the score is the sum over phrases, in
  query order, of ``idf * (f * (k1 + 1)) / (f + k1 * (1 - b + b * D / avgdl))``.
- Float ties: the score is computed in SQL as the same sequence of IEEE double operations
  as FTS5's C code (same operand order and association; PostgreSQL's float8 arithmetic and
  ``ln`` are the C library's), and summed in phrase order (``sum(... ORDER BY phrase)``), so
  equal documents get bit-identical scores on both engines and the tie-break is the same:
  document id in byte order (``COLLATE "C"``, SQLite's BINARY).

Each posting ``(term, doc id)`` carries the term's count in the document, the document's
length and its filter keys, so a search reads only the postings of its terms and the
statistics row, never a table of all documents. A table of documents (length and distinct
terms) serves deletes.

Statistics are kept in the same transaction as the postings: one row per index with the
document count and the total token count (FTS5's ``xRowCount`` and ``xColumnTotalSize``),
updated by every write, so a search inside a transaction sees its own writes. A term's
document count is counted from its postings at query time, in the query's snapshot, which
is what FTS5's ``xQueryPhrase`` does: for a prefix it must be counted anyway (a document
with two words sharing the prefix counts once), and the postings are read for the scores.
The statistics row is written by every write to the index, so concurrent writers to one
search index serialize on it until they commit.

Every function runs inside the caller's transaction on the given connection; none commits.
"""

from __future__ import annotations

from collections import Counter

import psycopg
from psycopg import sql

from prefmem.database.search import MAX_TERM_LENGTH, tokenize

# FTS5's constants (fts5_aux.c), kept as SQL float8 literals so the arithmetic is the same.
_K1 = sql.SQL("1.2::float8")
_B = sql.SQL("0.75::float8")


def _tables(index_id: int) -> tuple[sql.Identifier, sql.Identifier, sql.Identifier]:
    base = f"search_{int(index_id)}"
    return sql.Identifier(f"{base}_docs"), sql.Identifier(f"{base}_terms"), sql.Identifier(f"{base}_stats")


def create(conn: psycopg.Connection, index_id: int, filters: int) -> None:
    """The tables of one search index with ``filters`` filter fields (their keys, ``f0``...)."""
    docs, terms, stats = _tables(index_id)
    columns = sql.SQL("").join(sql.SQL(", {} bytea NOT NULL").format(sql.Identifier(f"f{i}")) for i in range(filters))
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (doc_id text COLLATE \"C\" PRIMARY KEY, "
                         "length integer NOT NULL, terms text[] NOT NULL)").format(docs))
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (term text COLLATE \"C\" NOT NULL, "
                         "doc_id text COLLATE \"C\" NOT NULL, freq integer NOT NULL, length integer NOT NULL{}, "
                         "PRIMARY KEY (term, doc_id))").format(terms, columns))
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (one boolean PRIMARY KEY DEFAULT true CHECK (one), "
                         "rows bigint NOT NULL, tokens bigint NOT NULL)").format(stats))
    conn.execute(sql.SQL("INSERT INTO {} (rows, tokens) VALUES (0, 0) ON CONFLICT DO NOTHING").format(stats))


def drop(conn: psycopg.Connection, index_id: int) -> None:
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}, {}").format(*_tables(index_id)))


def delete(conn: psycopg.Connection, index_id: int, doc_id: str) -> None:
    """Remove a document's entry (a no-op if it has none)."""
    docs, terms, stats = _tables(index_id)
    row = conn.execute(sql.SQL("DELETE FROM {} WHERE doc_id=%s RETURNING length, terms").format(docs),
                       (doc_id,)).fetchone()
    if row is None:
        return
    length, words = row
    conn.execute(sql.SQL("DELETE FROM {} WHERE term = ANY(%s) AND doc_id=%s").format(terms), (words, doc_id))
    conn.execute(sql.SQL("UPDATE {} SET rows = rows - 1, tokens = tokens - %s").format(stats), (length,))


def put(conn: psycopg.Connection, index_id: int, doc_id: str, text: str, filter_keys: list[bytes]) -> None:
    """Index a document's text and filter keys, replacing its previous entry."""
    delete(conn, index_id, doc_id)
    docs, terms, stats = _tables(index_id)
    tokens = tokenize(text, MAX_TERM_LENGTH + 1)
    counts = Counter(tokens)
    conn.execute(sql.SQL("INSERT INTO {} (doc_id, length, terms) VALUES (%s, %s, %s)").format(docs),
                 (doc_id, len(tokens), list(counts)))
    if counts:
        columns = sql.SQL("").join(sql.SQL(", {}").format(sql.Identifier(f"f{i}")) for i in range(len(filter_keys)))
        marks = sql.SQL("").join(sql.SQL(", %s") for _ in filter_keys)
        conn.execute(sql.SQL("INSERT INTO {} (term, doc_id, freq, length{}) SELECT t, %s, f, %s{} "
                             "FROM unnest(%s::text[], %s::int[]) AS u(t, f)").format(terms, columns, marks),
                     (doc_id, len(tokens), *filter_keys, list(counts), list(counts.values())))
    conn.execute(sql.SQL("UPDATE {} SET rows = rows + 1, tokens = tokens + %s").format(stats), (len(tokens),))


def _after_prefix(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (None: there is none)."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            following = 0xE000 if last + 1 == 0xD800 else last + 1  # no surrogates in UTF-8
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return None


def search(conn: psycopg.Connection, index_id: int, terms: list[str], filters: list[tuple[int, bytes]],
           limit: int) -> list[tuple[str, float]]:
    """``(doc id, score)`` of the documents FTS5 would return for ``terms`` (from ``tokenize``;
    the last one also as a prefix) whose filter key at each ``(position, key)`` is ``key``,
    best first. The score is FTS5's ``-bm25()``, to the bit."""
    if not terms:
        return []
    _docs, postings, stats = _tables(index_id)
    keys = sql.SQL("").join(sql.SQL(", {}").format(sql.Identifier(f"f{int(position)}")) for position, _ in filters)
    phrases: list[sql.Composable] = []
    params: list[object] = []
    for i, term in enumerate(terms):
        phrases.append(sql.SQL("SELECT {} AS phrase, doc_id, freq::float8 AS tf, length{} FROM {} WHERE term = %s")
                       .format(sql.Literal(i), keys, postings))
        params.append(term)
    end = _after_prefix(terms[-1])
    bound = sql.SQL(" AND term < %s") if end is not None else sql.SQL("")
    phrases.append(sql.SQL("SELECT {} AS phrase, doc_id, sum(freq)::float8 AS tf, min(length) AS length{} FROM {} "
                           "WHERE term >= %s{} GROUP BY doc_id{}").format(sql.Literal(len(terms)), keys, postings, bound,
                                                                           keys))
    params.extend([terms[-1]] if end is None else [terms[-1], end])
    where = sql.SQL("").join(sql.SQL(" AND h.{} = %s").format(sql.Identifier(f"f{int(position)}"))
                             for position, _ in filters)
    params.extend(key for _, key in filters)
    params.append(limit)
    query = sql.SQL("""
        WITH hits AS ({hits}),
        totals AS (SELECT rows, tokens::float8 / NULLIF(rows, 0)::float8 AS avgdl FROM {stats}),
        idf AS (
            SELECT phrase, CASE WHEN x <= 0 THEN 1e-6::float8 ELSE x END AS idf
            FROM (SELECT h.phrase, ln(((t.rows - count(*))::float8 + 0.5::float8) / (count(*)::float8 + 0.5::float8)) AS x
                  FROM hits h, totals t GROUP BY h.phrase, t.rows) AS counted
        ),
        scored AS (
            SELECT h.doc_id, sum(i.idf * ((h.tf * ({k1} + 1.0::float8))
                                          / (h.tf + {k1} * (1.0::float8 - {b} + {b} * h.length::float8 / t.avgdl)))
                                 ORDER BY h.phrase) AS score
            FROM hits h JOIN idf i USING (phrase), totals t
            WHERE true{where}
            GROUP BY h.doc_id
        )
        SELECT doc_id, score FROM scored ORDER BY score DESC, doc_id LIMIT %s
    """).format(hits=sql.SQL(" UNION ALL ").join(phrases), stats=stats, k1=_K1, b=_B, where=where)
    return [(doc_id, score) for doc_id, score in conn.execute(query, params)]
