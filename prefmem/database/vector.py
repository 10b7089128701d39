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
from typing import Any, Callable

from prefmem.errors import InvalidQuery, LimitExceeded
from prefmem.persistence.base import decode_document
from prefmem.values import KEY_END, encode_key, lookup_path


class _Eq:
    def __init__(self, field: str, value: Any) -> None:
        self.field, self.key = field, encode_key(value)

    def test(self, doc: dict) -> bool:
        return encode_key(lookup_path(doc, self.field)) == self.key


class _Or:
    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts

    def test(self, doc: dict) -> bool:
        return any(p.test(doc) for p in self.parts)


class VectorFilterBuilder:
    """``q`` of a vector search filter: ``q.eq(field, value)`` and ``q.or_(...)`` on declared fields."""

    def __init__(self, filter_fields: tuple[str, ...]) -> None:
        self._fields = filter_fields

    def eq(self, field: str, value: Any) -> _Eq:
        if field not in self._fields:
            raise InvalidQuery(f"vector search: {field!r} is not a filter field of the index "
                               f"(filter fields: {', '.join(self._fields) or 'none'})")
        return _Eq(field, value)

    def or_(self, *parts: Any) -> _Or:
        for part in parts:
            if not isinstance(part, (_Eq, _Or)):
                raise InvalidQuery("vector search: or_ takes q.eq(...) / q.or_(...) expressions")
        return _Or(list(parts))


def _vector(value: Any, dimensions: int, what: str) -> array:
    if not isinstance(value, list) or len(value) != dimensions or \
            not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        raise InvalidQuery(f"vector search: {what} must be a list of {dimensions} numbers")
    return array("d", value)


def search(app: Any, table: str, index_name: str, request: dict) -> list[dict]:
    """Run at the latest snapshot; returns ``[{"_id", "_score"}]`` best first."""
    catalog, limits = app.catalog, app.limits
    tdef = catalog.table_def(table)
    vindex = tdef.vector_indexes.get(index_name) if tdef is not None else None
    if vindex is None:
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
    test: Callable[[dict], bool] = lambda doc: True  # noqa: E731
    if request.get("filter") is not None:
        expr = request["filter"](VectorFilterBuilder(vindex.filter_fields))
        if not isinstance(expr, (_Eq, _Or)):
            raise InvalidQuery("vector search: the filter must return q.eq(...) or q.or_(...)")
        test = expr.test
    query_norm = math.sqrt(sum(x * x for x in query)) or 1.0
    index = catalog.index(table, "by_creation_time")
    if index is None:
        return []
    best: list[tuple[float, str]] = []
    with app.persistence.snapshot() as snapshot:
        lo = b""
        while True:
            rows = snapshot.scan(index.index_id, lo, KEY_END, False, 1000)
            for _key, value, _doc_id in rows:
                doc = decode_document(value)
                vec = lookup_path(doc, vindex.vector_field)
                if not isinstance(vec, list) or len(vec) != vindex.dimensions or not test(doc):
                    continue
                norm = math.sqrt(sum(x * x for x in vec)) or 1.0
                score = sum(map(operator.mul, query, vec)) / (query_norm * norm)
                if len(best) < limit:
                    heapq.heappush(best, (score, doc["_id"]))
                elif score > best[0][0]:
                    heapq.heapreplace(best, (score, doc["_id"]))
            if len(rows) < 1000:
                break
            lo = rows[-1][0] + b"\x00"
    return [{"_id": doc_id, "_score": score} for score, doc_id in sorted(best, reverse=True)]
