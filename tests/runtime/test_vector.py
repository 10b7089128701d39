"""Vector search through the runtime on both engines: SQLite scans the table; PostgreSQL keeps
a vector table per index in each commit's transaction (with pgvector, where the server has
it, narrowing the candidates). Inserts, moves, deletes and a backfill all answer alike."""

from __future__ import annotations

import pytest

from prefmem.schema import define_schema, define_table
from prefmem.testing import TestBackend
from prefmem.validators import v

pytestmark = pytest.mark.engines

FUNCTIONS = '''
from prefmem import action, mutation, v

@mutation(args={"kind": v.string(), "vec": v.optional(v.array(v.float64()))})
async def add(ctx, args):
    return await ctx.db.insert("items", args)

@mutation(args={"id": v.id("items"), "vec": v.array(v.float64())})
async def move(ctx, args):
    await ctx.db.patch(args["id"], {"vec": args["vec"]})

@mutation(args={"id": v.id("items")})
async def drop(ctx, args):
    await ctx.db.delete(args["id"])

@action(args={"vec": v.array(v.float64()), "kind": v.optional(v.string())})
async def near(ctx, args):
    request = {"vector": args["vec"], "limit": 3}
    if "kind" in args:
        request["filter"] = lambda q: q.eq("kind", args["kind"])
    return [hit["_id"] for hit in await ctx.vector_search("items", "by_vec", request)]
'''


def _schema(indexed: bool):
    table = define_table({"kind": v.string(), "vec": v.optional(v.array(v.float64()))})
    if indexed:
        table = table.vector_index("by_vec", vector_field="vec", dimensions=2, filter_fields=["kind"])
    return define_schema({"items": table})


@pytest.fixture
def functions(tmp_path):
    directory = tmp_path / "functions"
    directory.mkdir()
    (directory / "items.py").write_text(FUNCTIONS)
    return directory


@pytest.fixture(params=["plain", "pgvector"])
def vector_database(request, engine, database):
    """The test's database; on PostgreSQL also one on a server with pgvector."""
    if request.param == "plain":
        yield database
        return
    if engine != "postgresql":
        pytest.skip("pgvector is PostgreSQL's")
    from prefmem.testing import fresh_schema

    cluster = request.getfixturevalue("pgvector_cluster")
    url, drop = fresh_schema(cluster.url(cluster.create_database("vectors")))
    yield url
    drop()


async def test_writes_move_documents_in_and_out_of_vector_results(functions, vector_database):
    async with TestBackend(functions, _schema(True), db=vector_database) as b:
        a = await b.mutation("items:add", {"kind": "x", "vec": [1.0, 0.0]})
        c = await b.mutation("items:add", {"kind": "y", "vec": [1.0, 1.0]})
        d = await b.mutation("items:add", {"kind": "x", "vec": [0.0, 1.0]})
        await b.mutation("items:add", {"kind": "x"})  # no vector: never a result
        await b.mutation("items:add", {"kind": "x", "vec": [1.0, 2.0, 3.0]})  # the wrong length: neither
        assert await b.action("items:near", {"vec": [1.0, 0.0]}) == [a, c, d]
        assert await b.action("items:near", {"vec": [1.0, 0.0], "kind": "x"}) == [a, d]
        await b.mutation("items:move", {"id": a, "vec": [0.0, 1.0]})
        best, *tied = await b.action("items:near", {"vec": [1.0, 0.0]})
        assert best == c and sorted(tied) == sorted([a, d])  # a and d tie
        await b.mutation("items:drop", {"id": c})
        assert sorted(await b.action("items:near", {"vec": [1.0, 0.0]})) == sorted([a, d])
        assert await b.action("items:near", {"vec": [1.0, 0.0], "kind": "y"}) == []


async def test_a_vector_index_added_to_a_table_with_documents_is_backfilled(functions, vector_database):
    async with TestBackend(functions, _schema(False), db=vector_database) as b:
        a = await b.mutation("items:add", {"kind": "x", "vec": [0.0, 1.0]})
        c = await b.mutation("items:add", {"kind": "y", "vec": [1.0, 0.0]})
    async with TestBackend(functions, _schema(True), db=vector_database) as b:
        assert await b.action("items:near", {"vec": [1.0, 0.1]}) == [c, a]
        e = await b.mutation("items:add", {"kind": "x", "vec": [1.0, 0.2]})
        assert await b.action("items:near", {"vec": [1.0, 0.1]}) == [e, c, a]
