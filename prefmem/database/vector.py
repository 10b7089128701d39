"""Vector search for actions: ``ctx.vector_search(table, index, {"vector", "limit", "filter"})``.

An exact search: cosine similarity against every document of the table that passes the
filter, best first. Exact search is the right default at the sizes an embedded database
serves (tens of thousands of vectors score in well under a second) and needs no index
structure to keep in step with transactions.
"""

from __future__ import annotations

import heapq
import math
import operator
from array import array
from typing import Any, Iterable, Iterator

from prefmem.errors import InvalidQuery, LimitExceeded
from prefmem.schema import VectorIndexDef
from prefmem.persistence.base import decode_document
from prefmem.values import KEY_END, encode_key, lookup_path


class Eq:
    def __init__(self, field: str, value: Any) -> None:
        self.field, self.key = field, encode_key(value)

    def test(self, doc: dict) -> bool:
        return encode_key(lookup_path(doc, self.field)) == self.key


class Or:
    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts

    def test(self, doc: dict) -> bool:
        return any(p.test(doc) for p in self.parts)


class VectorFilterBuilder:
    """``q`` of a vector search filter: ``q.eq(field, value)`` and ``q.or_(...)`` on declared fields."""

    def __init__(self, filter_fields: tuple[str, ...]) -> None:
        self._fields = filter_fields

    def eq(self, field: str, value: Any) -> Eq:
        if field not in self._fields:
            raise InvalidQuery(f"vector search: {field!r} is not a filter field of the index "
                               f"(filter fields: {', '.join(self._fields) or 'none'})")
        return Eq(field, value)

    def or_(self, *parts: Any) -> Or:
        for part in parts:
            if not isinstance(part, (Eq, Or)):
                raise InvalidQuery("vector search: or_ takes q.eq(...) / q.or_(...) expressions")
        return Or(list(parts))


def _vector(value: Any, dimensions: int, what: str) -> array:
    if not isinstance(value, list) or len(value) != dimensions or \
            not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        raise InvalidQuery(f"vector search: {what} must be a list of {dimensions} numbers")
    return array("d", value)


class VectorRequest:
    """A checked ``vector_search`` request: the index, the query vector, how many, which documents."""

    def __init__(self, index: VectorIndexDef, query: array, limit: int, where: Eq | Or | None) -> None:
        self.index, self.query, self.limit, self.where = index, query, limit, where

    def admits(self, doc: dict) -> bool:
        return self.where is None or self.where.test(doc)


def parse_request(catalog: Any, limits: Any, table: str, index_name: str, request: dict) -> VectorRequest:
    tdef = catalog.table_def(table)
    vindex = tdef.vector_indexes.get(index_name) if tdef is not None else None
    if vindex is None:
        if tdef is not None:
            tdef.refuse_if_staged(table, index_name)
        raise InvalidQuery(f"vector index {table}.{index_name} does not exist")
    if not isinstance(request, dict) or "vector" not in request:
        raise InvalidQuery("vector_search takes {'vector': [...], 'limit'?: n, 'filter'?: fn}")
    query = _vector(request["vector"], vindex.dimensions, "the query vector")
    limit = request.get("limit", 10)
    if isinstance(limit, float) and limit.is_integer():
        limit = int(limit)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise InvalidQuery(f"vector_search: limit must be a positive integer, got {limit!r}")
    if limit > limits.vector_results:
        raise LimitExceeded("vector_results", f"asked for {limit} results, over {limits.vector_results}")
    where = None
    if request.get("filter") is not None:
        where = request["filter"](VectorFilterBuilder(vindex.filter_fields))
        if not isinstance(where, (Eq, Or)):
            raise InvalidQuery("vector search: the filter must return q.eq(...) or q.or_(...)")
    return VectorRequest(vindex, query, limit, where)


def vector_of(doc: dict, index: VectorIndexDef) -> list | None:
    """The document's vector for ``index``, or None when it has none of the right length."""
    vec = lookup_path(doc, index.vector_field)
    return vec if isinstance(vec, list) and len(vec) == index.dimensions else None


def closest(query: array, limit: int, candidates: Iterable[tuple[str, list]]) -> list[dict]:
    """``[{"_id", "_score"}]``, best first: the ``limit`` best by cosine similarity of the
    ``(id, vector)`` candidates, taken in scan order (by creation time). Among equal scores the
    order of the scan decides who stays: a candidate only displaces a strictly worse one."""
    query_norm = math.sqrt(sum(x * x for x in query)) or 1.0
    best: list[tuple[float, str]] = []
    for doc_id, vec in candidates:
        norm = math.sqrt(sum(x * x for x in vec)) or 1.0
        score = sum(map(operator.mul, query, vec)) / (query_norm * norm)
        if len(best) < limit:
            heapq.heappush(best, (score, doc_id))
        elif score > best[0][0]:
            heapq.heapreplace(best, (score, doc_id))
    return [{"_id": doc_id, "_score": score} for score, doc_id in sorted(best, reverse=True)]


def search(app: Any, table: str, index_name: str, request: dict) -> list[dict]:
    """Run at the latest snapshot; returns ``[{"_id", "_score"}]`` best first."""
    asked = parse_request(app.catalog, app.limits, table, index_name, request)
    index = app.catalog.index(table, "by_creation_time")
    if index is None:
        return []
    vector_id = app.catalog.vector_index_id(table, index_name)
    with app.persistence.snapshot() as snapshot:
        found = snapshot.vector_search(vector_id, asked) if vector_id is not None else None
        if found is not None:
            return found
        return closest(asked.query, asked.limit, _scan(snapshot, index.index_id, asked))


def _scan(snapshot: Any, index_id: int, asked: VectorRequest) -> Iterator[tuple[str, list]]:
    lo = b""
    while True:
        rows = snapshot.scan(index_id, lo, KEY_END, False, 1000)
        for _key, value, _doc_id in rows:
            doc = decode_document(value)
            vec = vector_of(doc, asked.index)
            if vec is not None and asked.admits(doc):
                yield doc["_id"], vec
        if len(rows) < 1000:
            return
        lo = rows[-1][0] + b"\x00"
