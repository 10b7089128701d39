"""Start-up schema check: a schema the stored documents violate is refused, naming them,
and nothing is changed; a new index on an existing table is backfilled."""

from __future__ import annotations

import pytest

from prefmem import define_schema, define_table, v
from prefmem.errors import SchemaMismatch
from prefmem.testing import TestBackend

from .conftest import CORE

pytestmark = pytest.mark.engines

FUNCTIONS = CORE / "functions"


def users_schema(fields=None, indexes=(("by_name", ["name"]), ("by_name_age", ["name", "age"])), extra=None):
    table = define_table(fields or {
        "name": v.string(),
        "age": v.optional(v.number()),
        "meta": v.optional(v.object({"tags": v.array(v.string()), "score": v.optional(v.int64())})),
    })
    for name, index_fields in indexes:
        table = table.index(name, index_fields)
    tables = {"users": table, "notes": define_table({"body": v.string(), "user": v.optional(v.id("users"))}),
              "blobs": define_table({"data": v.any()})}
    tables.update(extra or {})
    return define_schema(tables)


async def _fill(db):
    async with TestBackend(FUNCTIONS, users_schema(), db=db) as b:
        ann = await b.mutation("users:add", {"name": "ann", "age": 30})
        bob = await b.mutation("users:add", {"name": "bob"})
        await b.mutation("users:insert_raw", {"table": "notes", "doc": {"body": "hi", "user": ann}})
        return {"ann": ann, "bob": bob}, {t: b.table(t) for t in ("users", "notes", "blobs")}


async def _contents(db, schema):
    async with TestBackend(FUNCTIONS, schema, db=db) as b:
        return {t: b.table(t) for t in ("users", "notes", "blobs")}


@pytest.mark.parametrize("changed, offender, message", [
    # age becomes required: bob has none.
    ({"name": v.string(), "age": v.number(), "meta": v.optional(v.any())}, "bob",
     "Object is missing the required field `age`. Consider wrapping the field validator in `v.optional(...)` if "
     "this is expected."),
    # name becomes an int64: both documents violate it.
    ({"name": v.int64(), "age": v.optional(v.number()), "meta": v.optional(v.any())}, "ann",
     'Value does not match validator.\nPath: .name\nValue: "ann"\nValidator: v.int64()'),
    # a field is dropped from the validator while documents still hold it.
    ({"name": v.string()}, "ann", "Object contains extra field `age` that is not in the validator."),
])
async def test_violating_schema_is_refused_and_data_untouched(database, changed, offender, message):
    db = database
    ids, before = await _fill(db)
    with pytest.raises(SchemaMismatch) as info:
        async with TestBackend(FUNCTIONS, users_schema(changed), db=db):
            pass
    text = str(info.value)
    assert "no data was changed" in text
    assert f'Document with ID "{ids[offender]}" in table "users" does not match the schema: {message}' in text
    assert await _contents(db, users_schema()) == before


async def test_dropping_a_table_that_holds_documents_is_refused(database):
    db = database
    _, before = await _fill(db)
    schema = users_schema()
    del schema.tables["notes"]
    with pytest.raises(SchemaMismatch, match="table 'notes' holds 1 documents but is not in the schema"):
        async with TestBackend(FUNCTIONS, schema, db=db):
            pass
    assert await _contents(db, users_schema()) == before


async def test_report_is_capped_but_counts_every_offender(database):
    db = database
    async with TestBackend(FUNCTIONS, users_schema(), db=db) as b:
        await b.mutation("users:insert_many", {"n": 30})
    with pytest.raises(SchemaMismatch) as info:
        async with TestBackend(FUNCTIONS, users_schema({"name": v.int64()}), db=db):
            pass
    text = str(info.value)
    assert text.count('in table "users" does not match the schema') == 20 and "... and 10 more" in text


async def test_compatible_schema_change_is_accepted(database):
    db = database
    _, before = await _fill(db)
    widened = users_schema({"name": v.union(v.string(), v.int64()), "age": v.optional(v.number()),
                            "meta": v.optional(v.any()), "extra": v.optional(v.string())})
    assert await _contents(db, widened) == before


async def test_new_index_on_existing_table_is_backfilled(database):
    db = database
    ids, before = await _fill(db)
    # The same data under a schema with a new index on users and one on notes.
    schema = users_schema(indexes=(("by_name", ["name"]), ("by_name_age", ["name", "age"]), ("by_age", ["age"])))
    schema.tables["notes"] = define_table({"body": v.string(), "user": v.optional(v.id("users"))}) \
        .index("by_user", ["user"])
    async with TestBackend(FUNCTIONS, schema, db=db) as b:
        # Missing sorts first: bob (no age) then ann (30).
        assert await b.query("users:by_index", {"table": "users", "index": "by_age"}) == [ids["bob"], ids["ann"]]
        assert await b.query("users:by_index", {"table": "users", "index": "by_age", "eq": [["age", 30]]}) \
            == [ids["ann"]]
        assert await b.query("users:by_index", {"table": "notes", "index": "by_user",
                                                "eq": [["user", ids["ann"]]]}) == [before["notes"][0]["_id"]]
        # A write after start-up keeps the backfilled index in step.
        carl = await b.mutation("users:add", {"name": "carl", "age": 5})
        assert await b.query("users:by_index", {"table": "users", "index": "by_age"}) \
            == [ids["bob"], carl, ids["ann"]]
    # Dropping the index again leaves the documents alone.
    async with TestBackend(FUNCTIONS, users_schema(), db=db) as b:
        assert b.table("users")[:2] == before["users"] and len(b.table("users")) == 3
        with pytest.raises(Exception, match="index users.by_age does not exist"):
            await b.query("users:by_index", {"table": "users", "index": "by_age"})


async def test_a_staged_index_is_refused_until_enabled_then_built(tmp_path):
    db = tmp_path / "app.sqlite3"
    ids, _ = await _fill(db)
    staged = users_schema()
    staged.tables["users"].index("by_age", ["age"], staged=True)
    async with TestBackend(FUNCTIONS, staged, db=db) as b:
        with pytest.raises(Exception, match=r"Index users\.by_age is currently staged and not available to query "
                                            r"until it is enabled\."):
            await b.query("users:by_index", {"table": "users", "index": "by_age"})
        carl = await b.mutation("users:add", {"name": "carl", "age": 5})  # written while staged
    enabled = users_schema(indexes=(("by_name", ["name"]), ("by_name_age", ["name", "age"]), ("by_age", ["age"])))
    async with TestBackend(FUNCTIONS, enabled, db=db) as b:
        assert await b.query("users:by_index", {"table": "users", "index": "by_age"}) == [ids["bob"], carl, ids["ann"]]


def test_tables_take_any_document_validator_and_staged_names_count():
    schema = define_schema({"anything": define_table(v.any()), "either": define_table(
        v.union(v.object({"a": v.string()}), v.object({"b": v.number()})))})
    assert set(schema.tables) == {"anything", "either"}
    table = define_table({"x": v.string()}).index("by_x", ["x"], staged=True)
    with pytest.raises(ValueError, match="defined twice"):
        table.index("by_x", ["x"])
    assert "by_x" not in table.all_indexes() and table.staged == {"by_x"}
