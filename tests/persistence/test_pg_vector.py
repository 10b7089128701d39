"""PostgreSQL vector search answers exactly as the exact scan (prefmem.persistence.pg_vector).

Both paths run: the exact scan on PostgreSQL (no pgvector column), and pgvector pruning
(on a server with pgvector). The reference is production's own selection,
``vector.closest`` over the documents in by_creation_time order, as ``vector.search`` runs it.
"""

from __future__ import annotations

import itertools
import math
import random
from array import array

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefmem.database.vector import VectorFilterBuilder, VectorRequest, closest, vector_of
from prefmem.persistence.pg_vector import VectorTable, pgvector_available
from prefmem.schema import VectorIndexDef
from prefmem.values import encode_key, lookup_path

FIELDS = ("color", "size")
ids = itertools.count(1)


@pytest.fixture(scope="module", params=["exact scan", "pgvector"])
def vectors_db(request, postgres_cluster):
    """``(connection, pgvector?)``: a fresh database on the plain cluster or on one with pgvector."""
    cluster = postgres_cluster if request.param == "exact scan" else request.getfixturevalue("pgvector_cluster")
    name = cluster.create_database("vectors")
    conn = psycopg.connect(cluster.url(name), autocommit=True)
    use = request.param == "pgvector"
    assert pgvector_available(conn) == use or not use and cluster.has_extension("vector")
    yield conn, use
    conn.close()
    cluster.drop_database(name)


def _expected(docs: list[dict], asked: VectorRequest) -> list[dict]:
    ordered = sorted(docs, key=lambda d: encode_key(d["_creationTime"], d["_id"]))
    return closest(asked.query, asked.limit, [(d["_id"], vector_of(d, asked.index)) for d in ordered
                                              if vector_of(d, asked.index) is not None and asked.admits(d)])


def _load(conn: psycopg.Connection, use_pgvector: bool, dims: int, docs: list[dict]) -> VectorTable:
    table = VectorTable(next(ids), dims, FIELDS, use_pgvector)
    with conn.transaction():
        table.create(conn)
        for doc in docs:
            table.put(conn, doc["_id"], encode_key(doc["_creationTime"], doc["_id"]),
                      vector_of(doc, VectorIndexDef("v", "embedding", dims, FIELDS)),
                      [encode_key(lookup_path(doc, f)) for f in FIELDS])
    return table


def _request(dims: int, query: list, limit: int, where=None) -> VectorRequest:
    index = VectorIndexDef("v", "embedding", dims, FIELDS)
    return VectorRequest(index, array("d", query), limit, where(VectorFilterBuilder(FIELDS)) if where else None)


component = st.one_of(st.sampled_from([0, 1, -1, 2, 0.5, -0.25, 3]), st.floats(-4, 4),
                      st.sampled_from([1e-200, 1e200, math.inf, math.nan, 2 ** 62]))
colors = st.sampled_from(["red", "blue", None])


@st.composite
def cases(draw):
    dims = draw(st.sampled_from([2, 3, 8]))
    vectors = st.lists(st.sampled_from([0, 1, -1, 2, 0.5]), min_size=dims, max_size=dims)
    weird = st.lists(component, min_size=dims, max_size=dims)
    docs = []
    for n in range(draw(st.integers(0, 25))):
        doc = {"_id": draw(st.sampled_from(["a", "b", "c", "d", "e", "f"])) + str(n),
               "_creationTime": float(draw(st.integers(0, 5)))}
        vec = draw(st.one_of(vectors, vectors, vectors, weird, st.just([1] * (dims + 1)), st.none()))
        if vec is not None:
            doc["embedding"] = vec
        for field in FIELDS:
            value = draw(colors)
            if value is not None:
                doc[field] = value
        docs.append(doc)
    query = draw(st.one_of(vectors, weird))

    def expr(depth: int):
        eq = st.builds(lambda f, v: lambda q: q.eq(f, v), st.sampled_from(FIELDS), colors)
        if depth == 0:
            return eq
        return st.one_of(eq, st.lists(expr(depth - 1), max_size=3).map(
            lambda parts: lambda q: q.or_(*(p(q) for p in parts))))
    where = draw(st.one_of(st.none(), expr(2)))
    return dims, docs, _request(dims, query, draw(st.integers(1, 6)), where)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(cases())
def test_results_equal_the_exact_scan(vectors_db, case):
    conn, use_pgvector = vectors_db
    dims, docs, asked = case
    table = _load(conn, use_pgvector, dims, docs)
    try:
        expected = _expected(docs, asked)
    except (TypeError, OverflowError) as error:  # the exact scan fails on such vectors: so must this
        with pytest.raises(type(error)):
            table.search(conn, asked)
    else:
        got = table.search(conn, asked)
        assert [r["_id"] for r in got] == [r["_id"] for r in expected]
        assert all(a["_score"] == b["_score"] or math.isnan(a["_score"]) and math.isnan(b["_score"])
                   for a, b in zip(got, expected))
    table.drop(conn)


def test_equal_scores_at_the_boundary_keep_the_earlier_document(vectors_db):
    conn, use_pgvector = vectors_db
    docs = [{"_id": "b", "_creationTime": 1.0, "embedding": [1, 0]},
            {"_id": "a", "_creationTime": 2.0, "embedding": [2, 0]},
            {"_id": "c", "_creationTime": 3.0, "embedding": [0, 1]}]
    table = _load(conn, use_pgvector, 2, docs)
    asked = _request(2, [1.0, 0.0], 1)
    assert table.search(conn, asked) == _expected(docs, asked) == [{"_id": "b", "_score": 1.0}]
    asked = _request(2, [1.0, 0.0], 2)
    assert table.search(conn, asked) == _expected(docs, asked) == [{"_id": "b", "_score": 1.0},
                                                                     {"_id": "a", "_score": 1.0}]


def test_replacing_and_deleting_a_document(vectors_db):
    conn, use_pgvector = vectors_db
    table = _load(conn, use_pgvector, 2, [{"_id": "x", "_creationTime": 1.0, "embedding": [1, 0], "color": "red"}])
    table.put(conn, "x", encode_key(1.0, "x"), [0, 1], [encode_key("blue"), encode_key(None)])
    assert table.search(conn, _request(2, [0.0, 1.0], 5, lambda q: q.eq("color", "red"))) == []
    assert table.search(conn, _request(2, [0.0, 1.0], 5, lambda q: q.eq("color", "blue"))) == [
        {"_id": "x", "_score": 1.0}]
    table.put(conn, "x", encode_key(1.0, "x"), None, [encode_key("blue"), encode_key(None)])
    assert table.search(conn, _request(2, [0.0, 1.0], 5)) == []
    table.put(conn, "x", encode_key(1.0, "x"), [0, 1], [encode_key("blue"), encode_key(None)])
    table.delete(conn, "x")
    assert table.search(conn, _request(2, [0.0, 1.0], 5)) == []


def test_pgvector_fetches_only_the_documents_that_can_win(vectors_db):
    conn, use_pgvector = vectors_db
    rng = random.Random(7)
    dims = 64
    docs = [{"_id": f"d{i:04}", "_creationTime": float(i), "embedding": [rng.gauss(0, 1) for _ in range(dims)],
             "color": rng.choice(["red", "blue"])} for i in range(400)]
    # Near-duplicates of one vector: the best scores differ by about what float32 can tell, or less.
    base = docs[0]["embedding"]
    for i in range(400, 440):
        scale = 1e-9 if i % 2 else 1e-7
        docs.append({"_id": f"d{i:04}", "_creationTime": float(i), "color": "red",
                     "embedding": [x + rng.uniform(-scale, scale) for x in base]})
    table = _load(conn, use_pgvector, dims, docs)
    for query, limit, where in [(base, 1, None), (base, 2, None), (base, 3, None), (base, 5, None),
                                (base, 25, lambda q: q.eq("color", "red")),
                                (docs[7]["embedding"], 3, lambda q: q.eq("color", "blue"))]:
        asked = _request(dims, query, limit, where)
        assert table.search(conn, asked) == _expected(docs, asked)
        fetched = len(table.candidates(conn, asked))
        admitted = sum(1 for d in docs if asked.admits(d))
        if use_pgvector:
            assert fetched < admitted / 4
        else:
            assert fetched == admitted
