"""Queries through a real TestBackend equal a plain-Python reference.

Random documents (index fields of every type, sometimes missing) are stored through a
mutation; random valid index ranges, orders, filters and consumers are run by the generic
``items:run`` / ``items:page`` functions of tests/apps/props and compared with
``_reference.ref_query``, which filters and sorts plain lists by
(index fields..., _creationTime, _id) in the reference order.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefmem.testing import FunctionFailed
from prefmem.values import Int64

from ._reference import ABSENT, INT64_MAX, INT64_MIN, POOL, field_values, ref_query, same

pytestmark = pytest.mark.engines

INDEXES = {"by_a_b": ("a", "b"), "by_n": ("n",), "by_b_i": ("b", "i")}
NUMBER_FIELDS = frozenset({"n"})
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])

floats = st.one_of(st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, math.inf, -math.inf, math.nan]),
                   st.floats(-1e6, 1e6), st.floats(allow_nan=True))
int64s = st.one_of(st.sampled_from([0, 1, -1, 2, INT64_MIN, INT64_MAX]), st.integers(-50, 50),
                   st.integers(INT64_MIN, INT64_MAX)).map(Int64)


@st.composite
def documents(draw):
    doc = {"n": draw(floats), "i": draw(int64s)}
    for field in ("a", "b"):
        if draw(st.integers(0, 5)):  # mostly present, sometimes missing
            doc[field] = draw(field_values())
    return doc


def _candidates(docs, field):
    seen = [d.get(field, ABSENT) for d in docs]
    return [x for x in seen if x is not ABSENT]


def _value_for(draw, docs, field):
    """A value for a range or filter on ``field``: usually one stored there, else anything."""
    stored = _candidates(docs, field)
    if field == "n":
        extra = st.one_of(floats, st.integers(-3, 3))  # a plain int is a number
    elif field == "i":
        extra = st.one_of(int64s, floats)
    else:
        extra = field_values()
    if stored and draw(st.integers(0, 2)):
        return draw(st.sampled_from(stored))
    return draw(extra)


@st.composite
def specs(draw, docs):
    index = draw(st.sampled_from([None, "by_a_b", "by_n", "by_b_i"]))
    spec = {"index": index, "eq": [], "lower": None, "upper": None, "filter": None,
            "order": draw(st.sampled_from([None, "asc", "desc"]))}
    if index is not None:
        fields = INDEXES[index]
        n_eq = draw(st.integers(0, len(fields)))
        # Equalities usually copy one stored document's values, so the prefix selects something.
        pivot = draw(st.sampled_from(docs)) if docs and draw(st.integers(0, 3)) else {}
        spec["eq"] = [[f, pivot[f] if f in pivot else _value_for(draw, docs, f)] for f in fields[:n_eq]]
        if n_eq < len(fields):
            field = fields[n_eq]
            if draw(st.booleans()):
                spec["lower"] = [draw(st.sampled_from(["gt", "gte"])), field, _value_for(draw, docs, field)]
            if draw(st.booleans()):
                spec["upper"] = [draw(st.sampled_from(["lt", "lte"])), field, _value_for(draw, docs, field)]
    if draw(st.integers(0, 2)):
        spec["filter"] = draw(filters(docs))
    return spec


@st.composite
def comparisons(draw, docs):
    op = draw(st.sampled_from(["eq", "neq", "lt", "lte", "gt", "gte"]))
    field = draw(st.sampled_from(["a", "b", "n", "i"]))
    left = ["f", field]
    if field in ("n", "i") and draw(st.integers(0, 2)) == 0:  # arithmetic on numeric fields
        arith = draw(st.sampled_from(["add", "sub", "mul", "neg"]))
        literal = draw(st.one_of(st.integers(-5, 5), st.sampled_from([0.5, -2.0, math.inf, 0.0])))
        left = ["neg", left] if arith == "neg" else [arith, left, ["v", literal]]
    right = ["v", _value_for(draw, docs, field)]
    if draw(st.booleans()):
        left, right = right, left
    return [op, left, right]


def filters(docs):
    return st.recursive(
        comparisons(docs),
        lambda sub: st.one_of(
            st.lists(sub, min_size=1, max_size=3).map(lambda xs: ["and", *xs]),
            st.lists(sub, min_size=1, max_size=3).map(lambda xs: ["or", *xs]),
            sub.map(lambda x: ["not", x]),
        ),
        max_leaves=4,
    )


def _store(backend, docs):
    ids = backend.mutation("items:reset", {"docs": docs})
    stored = backend.backend.table("items")
    assert [d["_id"] for d in stored] == ids
    for doc, back in zip(docs, stored):  # the storage round trip keeps every value exactly
        expected = {**doc, "n": float(doc["n"])}
        assert same({k: v for k, v in back.items() if not k.startswith("_")}, expected)
    return stored


def _ids(rows):
    return [d["_id"] for d in rows]


@PROPERTY
@given(data=st.data())
def test_ranges_orders_filters_and_limits_match_reference(props_backend, data):
    docs = data.draw(st.lists(documents(), max_size=25), label="docs")
    stored = _store(props_backend, docs)
    for _ in range(4):
        spec = data.draw(specs(stored), label="spec")
        expected = _ids(ref_query(stored, spec, INDEXES, NUMBER_FIELDS))
        consumer = data.draw(st.sampled_from([["collect"], ["take", 0], ["take", 1], ["take", 3], ["take", 100],
                                              ["first"], ["count"], ["iter"]]), label="consumer")
        got = props_backend.query("items:run", {"spec": {**spec, "consumer": consumer}})
        if consumer[0] in ("collect", "iter"):
            assert got == expected, spec
        elif consumer[0] == "take":
            assert got == expected[: consumer[1]], spec
        elif consumer[0] == "first":
            assert got == expected[:1], spec
        else:
            assert got == len(expected), spec


@PROPERTY
@given(data=st.data())
def test_paginate_walk_matches_reference(props_backend, data):
    docs = data.draw(st.lists(documents(), max_size=20), label="docs")
    stored = _store(props_backend, docs)
    spec = data.draw(specs(stored), label="spec")
    expected = _ids(ref_query(stored, spec, INDEXES, NUMBER_FIELDS))
    num_items = data.draw(st.integers(1, 6), label="numItems")
    cursor, walked, pages = None, [], []
    for _ in range(len(docs) + 2):
        result = props_backend.query("items:page", {"spec": spec,
                                                    "paginationOpts": {"numItems": num_items, "cursor": cursor}})
        assert len(result["page"]) <= num_items
        pages.append((cursor, result))
        walked += result["page"]
        if result["isDone"]:
            break
        cursor = result["continueCursor"]
    else:
        pytest.fail(f"paginate never finished: {spec}")
    assert walked == expected, spec
    # A page rerun with its end pinned returns exactly the same rows.
    for start, result in pages:
        again = props_backend.query("items:page", {"spec": spec, "paginationOpts": {
            "numItems": num_items, "cursor": start, "endCursor": result["continueCursor"]}})
        assert again["page"] == result["page"]


def test_paginate_pinned_pages_neither_overlap_nor_gap_under_writes(props_backend):
    stored = _store(props_backend, [{"n": float(k), "i": Int64(k)} for k in range(10)])
    spec = {"index": "by_n", "order": "asc"}
    opts = {"numItems": 4, "cursor": None}
    first = props_backend.query("items:page", {"spec": spec, "paginationOpts": opts})
    assert first["page"] == _ids(stored[:4])
    # A row inserted inside the first page's range, one deleted from the second page.
    new_id = props_backend.mutation("items:insert", {"doc": {"n": 1.5, "i": 0}})
    props_backend.mutation("items:reset_keep", {"delete": [stored[5]["_id"]]})
    pinned = props_backend.query("items:page", {"spec": spec, "paginationOpts": {
        **opts, "endCursor": first["continueCursor"]}})
    second = props_backend.query("items:page", {"spec": spec, "paginationOpts": {
        "numItems": 4, "cursor": first["continueCursor"]}})
    # The first page grew by the new row instead of pushing a row onto the next page.
    assert pinned["page"] == _ids(stored[:2]) + [new_id] + _ids(stored[2:4])
    assert second["page"] == _ids(stored[4:5]) + _ids(stored[6:9])


def test_cursor_of_another_query_is_refused(props_backend):
    _store(props_backend, [{"n": 1.0, "i": Int64(1)}, {"n": 2.0, "i": Int64(2)}])
    by_n = {"index": "by_n", "order": "asc"}
    page = props_backend.query("items:page", {"spec": by_n, "paginationOpts": {"numItems": 1, "cursor": None}})
    with pytest.raises(FunctionFailed, match="different query"):
        props_backend.query("items:page", {"spec": {"index": "by_a_b"},
                                           "paginationOpts": {"numItems": 1, "cursor": page["continueCursor"]}})
    with pytest.raises(FunctionFailed, match="not a cursor"):
        props_backend.query("items:page", {"spec": by_n, "paginationOpts": {"numItems": 1, "cursor": "!"}})


def test_unique(props_backend):
    stored = _store(props_backend, [{"n": 1.0, "i": Int64(1)}, {"n": 1.0, "i": Int64(2)}, {"n": 2.0, "i": Int64(3)}])
    assert props_backend.query("items:unique_n", {"n": 3}) is None
    assert props_backend.query("items:unique_n", {"n": 2}) == stored[2]["_id"]
    with pytest.raises(FunctionFailed, match="more than one"):
        props_backend.query("items:unique_n", {"n": 1})


@pytest.mark.parametrize("filter_, matches", [
    (["eq", ["f", "i"], ["v", 2.0**53]], False),          # 2**53 + 1 is not 2**53, even as a float
    (["gt", ["f", "i"], ["v", 2.0**53]], True),
    (["eq", ["f", "n"], ["v", 3]], True),                 # a plain int is a number
    (["lt", ["f", "i"], ["v", 2.0**53 + 2]], True),       # int64 against float64: exactly, not as floats
    (["lt", ["f", "i"], ["v", math.nan]], True),          # NaN: the total order, int64 < float64
    (["eq", ["add", ["f", "i"], ["v", INT64_MAX]], ["v", Int64(INT64_MIN + 2**53)]], True),  # int64 arithmetic wraps
    (["eq", ["f", "a"], ["v", None]], False),             # a missing field is not null
    (["lt", ["f", "a"], ["v", None]], True),              # missing sorts below null
])
def test_filter_edge_cases(props_backend, filter_, matches):
    stored = _store(props_backend, [{"n": 3.0, "i": Int64(2**53 + 1)}])
    spec = {"filter": filter_}
    assert props_backend.query("items:run", {"spec": spec}) == (_ids(stored) if matches else [])
    assert _ids(ref_query(stored, spec, INDEXES, NUMBER_FIELDS)) == (_ids(stored) if matches else [])
