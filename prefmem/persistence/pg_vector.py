"""Vector search on PostgreSQL with exactly the results of the exact scan (``prefmem.database.vector``).

Each vector index is a table of the documents that have a vector of its length: the vector
as stored (msgpack, so the exact scan's arithmetic sees the very same numbers), the keys of
the filter fields, and the ``by_creation_time`` key, the exact scan's order. The answer is
always computed by ``vector.closest`` over candidates in that order, so scores, order and
tie-breaks are the exact scan's by construction; PostgreSQL only decides which documents
are candidates:

- Without pgvector, every document that passes the filter: the exact scan itself.
- With pgvector, the table also holds each well-conditioned vector as a float32 unit vector,
  and only documents that could be among the best are fetched. pgvector's cosine distance
  on float32 is within ``EPS(d)`` of ``1 - score`` (rounding to float32 and float32 sums:
  under (2d + 8) units of 2^-24 each for the dot product and the norms; ``EPS`` doubles it).
  If ``D`` is the ``limit``-th smallest such distance, every document whose exact score
  reaches the ``limit``-th best exact score has distance at most ``D + 2 * EPS``, and
  ``closest`` run over any superset of those documents, in scan order, chooses as it does
  over all of them (a document worse than the last one kept can only ever take a slot that
  is free, never push out one that stays). Documents whose vector pgvector cannot hold
  faithfully (non-finite, tiny or huge norms) are always candidates, and any non-finite
  vector among the filtered documents (whose scores are NaN, not ordered) makes the whole
  filtered set the candidates.

There is deliberately no HNSW/IVFFlat index: approximate neighbours cannot promise the exact
scan's answer, so every distance is computed anyway; pgvector's gain is that this happens
in C inside PostgreSQL on 4-byte floats, and only the few candidates travel to Python.

Every method runs inside the caller's transaction on the given connection; none commits.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

import psycopg
from psycopg import sql

from prefmem.database.vector import Eq, Or, VectorRequest, closest
from prefmem.persistence.base import decode_document, encode_document

# Norms outside this range are not faithfully held by float32 unit vectors (or overflow).
_SAFE_NORM = (1e-30, 1e30)


def pgvector_available(conn: psycopg.Connection) -> bool:
    """Whether the server has pgvector; creates the extension in this database if so."""
    if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone() is None:
        return False
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    return True


def _finite(vec: list) -> bool:
    try:
        return all(math.isfinite(x) for x in vec)
    except (TypeError, OverflowError):
        return False


def _unit(vec: list | array) -> list[float] | None:
    """The unit vector, when the vector is finite and its norm well inside float range."""
    if not _finite(list(vec)):
        return None
    norm = math.sqrt(sum(float(x) * float(x) for x in vec))
    if not _SAFE_NORM[0] < norm < _SAFE_NORM[1]:
        return None
    return [float(x) / norm for x in vec]


def _literal(unit: list[float]) -> str:
    return "[" + ",".join(repr(x) for x in unit) + "]"


class VectorTable:
    """The table of one vector index with ``dimensions`` and its filter fields."""

    def __init__(self, index_id: int, dimensions: int, filter_fields: tuple[str, ...], pgvector: bool) -> None:
        self.base = f"vectors_{int(index_id)}"
        self.name = sql.Identifier(self.base)
        self.dimensions = dimensions
        self.filter_fields = filter_fields
        self.pgvector = pgvector
        # Twice the bound on |pgvector's distance - (1 - exact score)|, derived in the module docstring.
        self.eps = 2 * (2 * dimensions + 8) * 2.0 ** -24 + 1e-12

    def create(self, conn: psycopg.Connection) -> None:
        filters = sql.SQL("").join(sql.SQL(", {} bytea NOT NULL").format(sql.Identifier(f"f{i}"))
                                   for i in range(len(self.filter_fields)))
        embedding = (sql.SQL(", embedding vector({})").format(sql.Literal(self.dimensions)) if self.pgvector
                     else sql.SQL(""))
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (doc_id text COLLATE \"C\" PRIMARY KEY, "
                             "ord bytea NOT NULL, vec bytea NOT NULL, finite boolean NOT NULL{}{})")
                     .format(self.name, filters, embedding))
        conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (ord)")
                     .format(sql.Identifier(f"{self.base}_ord"), self.name))
        conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (doc_id) WHERE NOT finite")
                     .format(sql.Identifier(f"{self.base}_nonfinite"), self.name))

    def drop(self, conn: psycopg.Connection) -> None:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self.name))

    def delete(self, conn: psycopg.Connection, doc_id: str) -> None:
        conn.execute(sql.SQL("DELETE FROM {} WHERE doc_id = %s").format(self.name), (doc_id,))

    def put(self, conn: psycopg.Connection, doc_id: str, order_key: bytes, vec: list | None,
            filter_keys: list[bytes]) -> None:
        """Write a document's entry: ``vec`` is ``vector.vector_of(doc, index)`` (None: the
        document has no vector of this index, so no entry), ``order_key`` its by_creation_time
        key, ``filter_keys`` ``encode_key`` of each filter field's value."""
        self.delete(conn, doc_id)
        if vec is None:
            return
        columns = [sql.Identifier(c) for c in ["doc_id", "ord", "vec", "finite",
                                               *(f"f{i}" for i in range(len(filter_keys)))]]
        values: list[Any] = [doc_id, order_key, encode_document(vec), _finite(vec), *filter_keys]
        marks = [sql.SQL("%s")] * len(values)
        if self.pgvector:
            unit = _unit(vec)
            columns.append(sql.Identifier("embedding"))
            marks.append(sql.SQL("%s::vector"))
            values.append(None if unit is None else _literal(unit))
        conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            self.name, sql.SQL(", ").join(columns), sql.SQL(", ").join(marks)), values)

    def _where(self, expr: Eq | Or | None, params: dict[str, Any]) -> sql.Composable:
        if expr is None:
            return sql.SQL("true")
        if isinstance(expr, Eq):
            name = f"k{len(params)}"
            params[name] = expr.key
            return sql.SQL("{} = {}").format(sql.Identifier(f"f{self.filter_fields.index(expr.field)}"),
                                            sql.Placeholder(name))
        if not expr.parts:
            return sql.SQL("false")
        return sql.SQL("({})").format(sql.SQL(" OR ").join(self._where(part, params) for part in expr.parts))

    def candidates(self, conn: psycopg.Connection, asked: VectorRequest) -> list[tuple[str, list]]:
        """``(doc id, vector)`` of the documents that may be among the best, in scan order."""
        params: dict[str, Any] = {}
        where = self._where(asked.where, params)
        unit = _unit(asked.query) if self.pgvector else None
        if unit is None:
            query = sql.SQL("SELECT doc_id, vec FROM {t} WHERE {where} ORDER BY ord")
        else:
            params.update(q=_literal(unit), skip=asked.limit - 1, margin=2 * self.eps)
            query = sql.SQL("""
                SELECT doc_id, vec FROM {t}
                WHERE {where} AND (
                    embedding IS NULL
                    OR EXISTS (SELECT 1 FROM {t} WHERE NOT finite AND {where})
                    OR embedding <=> %(q)s::vector <= COALESCE(
                        (SELECT embedding <=> %(q)s::vector AS d FROM {t} WHERE embedding IS NOT NULL AND {where}
                         ORDER BY d LIMIT 1 OFFSET %(skip)s), 'Infinity'::float8) + %(margin)s)
                ORDER BY ord""")
        rows = conn.execute(query.format(t=self.name, where=where), params)
        return [(doc_id, decode_document(vec)) for doc_id, vec in rows]

    def search(self, conn: psycopg.Connection, asked: VectorRequest) -> list[dict]:
        """``[{"_id", "_score"}]`` best first, exactly as ``vector.search`` answers ``asked``."""
        return closest(asked.query, asked.limit, self.candidates(conn, asked))
