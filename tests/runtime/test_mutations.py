"""Mutations: transactions, own writes, patch/replace/delete, system fields, visibility, errors."""

from __future__ import annotations

import re

import pytest

from prefmem import ConvexError
from prefmem.ids import new_id
from prefmem.testing import FunctionFailed

pytestmark = pytest.mark.engines


async def _snapshot(core):
    return {t: core.table(t) for t in ("users", "notes", "blobs")}


async def test_reads_see_own_writes(core):
    seen = await core.mutation("users:read_own_writes", {"name": "ann"})
    assert seen["get"]["name"] == "ann" and seen["get"]["age"] == 1.0
    assert [d["_id"] for d in seen["index"]] == [seen["get"]["_id"]]
    assert seen["after_patch"] == 2.0
    assert seen["after_replace"]["name"] == "ann!" and "age" not in seen["after_replace"]
    assert seen["old_name_index"] == []  # the index entry moved with the replace
    assert seen["after_delete"] is None
    assert seen["count"] == 0
    assert [d["_id"] for d in core.table("users")] == [seen["kept"]]


async def test_patch_merges_and_unset_removes(core):
    uid = await core.mutation("users:add", {"name": "a", "age": 5})
    doc = await core.mutation("users:patch", {"id": uid, "fields": {"meta": {"tags": ["x"]}}})
    assert doc["name"] == "a" and doc["age"] == 5.0 and doc["meta"] == {"tags": ["x"]}
    doc = await core.mutation("users:patch", {"id": uid, "fields": {}, "unset": ["age", "meta"]})
    assert doc == {"_id": uid, "_creationTime": doc["_creationTime"], "name": "a"}
    assert core.table("users") == [doc]
    # Unsetting a field that is not there is fine and changes nothing.
    assert await core.mutation("users:patch", {"id": uid, "fields": {}, "unset": ["age"]}) == doc


async def test_replace_swaps_the_whole_body_and_keeps_system_fields(core):
    uid = await core.mutation("users:add", {"name": "a", "age": 5})
    before = core.table("users")[0]
    after = await core.mutation("users:replace", {"id": uid, "doc": {"name": "b"}})
    assert after == {"_id": uid, "_creationTime": before["_creationTime"], "name": "b"}
    # Giving the unchanged system fields back is allowed.
    again = await core.mutation("users:replace", {"id": uid, "doc": {**after, "name": "c"}})
    assert again["name"] == "c"


@pytest.mark.parametrize("op", ["patch", "replace", "delete"])
async def test_writes_to_a_missing_document_fail_and_change_nothing(core, op):
    uid = await core.mutation("users:add", {"name": "gone"})
    await core.mutation("users:delete", {"id": uid})
    keep = await core.mutation("users:add", {"name": "keep"})
    before = await _snapshot(core)
    args = {"id": uid, **({"fields": {"name": "x"}} if op == "patch" else {}),
            **({"doc": {"name": "x"}} if op == "replace" else {})}
    with pytest.raises(FunctionFailed, match=f"db.{op}: document {uid} does not exist"):
        await core.mutation(f"users:{op}", args)
    never = new_id("users")
    with pytest.raises(FunctionFailed, match="does not exist"):
        await core.mutation(f"users:{op}", {**args, "id": never})
    with pytest.raises(FunctionFailed, match=f"db.{op}: 'garbage' is not an id"):
        await core.mutation(f"users:{op}", {**args, "id": "garbage"})
    assert await _snapshot(core) == before
    assert [d["_id"] for d in before["users"]] == [keep]


async def test_failure_after_writes_rolls_back_every_write(core):
    await core.mutation("users:add", {"name": "before"})
    before = await _snapshot(core)
    with pytest.raises(FunctionFailed, match="RuntimeError: failed after writing"):
        await core.mutation("users:insert_then_fail", {"name": "ghost"})
    with pytest.raises(FunctionFailed, match="does not exist"):
        await core.mutation("users:insert_then_patch_missing", {"name": "ghost", "missing": new_id("users")})
    uid = before["users"][0]["_id"]
    with pytest.raises(ConvexError):
        await core.mutation("users:patch_then_convex_error", {"id": uid, "fields": {"name": "changed"}})
    assert await _snapshot(core) == before
    # The backend still works and the next mutation commits normally.
    await core.mutation("users:add", {"name": "after"})
    assert [d["name"] for d in core.table("users")] == ["before", "after"]


@pytest.mark.parametrize("call, message", [
    (("users:insert_raw", {"table": "users", "doc": {"name": "a", "_secret": 1}}), "field '_secret' starts with '_'"),
    (("users:insert_raw", {"table": "users", "doc": {"name": "a", "_id": "x"}}), "field '_id' starts with '_'"),
    (("users:insert_raw", {"table": "blobs", "doc": {"data": 1, "_creationTime": 1.0}}), "'_creationTime' starts with '_'"),
    (("users:insert_raw", {"table": "_scheduled_functions", "doc": {}}), "system table"),
    (("users:insert_raw", {"table": "nope", "doc": {}}), "table 'nope' is not in the schema"),
    (("users:insert_raw", {"table": "blobs", "doc": {"data": {"": 1}}}), "must not be empty"),
    (("users:insert_raw", {"table": "blobs", "doc": "text"}), "must be a dict"),
])
async def test_bad_inserts_are_refused(core, call, message):
    before = await _snapshot(core)
    with pytest.raises(FunctionFailed, match=message):
        await core.mutation(*call)
    assert await _snapshot(core) == before


async def test_system_fields_cannot_be_written_by_patch(core):
    uid = await core.mutation("users:add", {"name": "a"})
    other = await core.mutation("users:add", {"name": "b"})
    before = await _snapshot(core)
    with pytest.raises(FunctionFailed, match="system field '_id' cannot be changed"):
        await core.mutation("users:patch", {"id": uid, "fields": {"_id": other}})
    with pytest.raises(FunctionFailed, match="system field '_creationTime' cannot be changed"):
        await core.mutation("users:patch", {"id": uid, "fields": {"_creationTime": 1.0}})
    with pytest.raises(FunctionFailed, match="'_other' starts with '_'"):
        await core.mutation("users:patch", {"id": uid, "fields": {"_other": 1}})
    with pytest.raises(FunctionFailed, match="system field '_id' cannot be changed"):
        await core.mutation("users:replace", {"id": uid, "doc": {"name": "a", "_id": other}})
    with pytest.raises(FunctionFailed, match="'_x' starts with '_'"):
        await core.mutation("users:replace", {"id": uid, "doc": {"name": "a", "_x": 1}})
    assert await _snapshot(core) == before


async def test_creation_time_strictly_increases(core):
    # A start with a fraction: a creation time that lands on a whole number reads back as an
    # int, as Convex's numbers do; from the real time that happened once in a few hundred runs.
    core.clock.set(1_767_225_600_000.3)
    ids = await core.mutation("users:insert_many", {"n": 50})  # one transaction, frozen clock
    ids += await core.mutation("users:insert_many", {"n": 5})
    core.clock.set(core.clock.now_ms() - 10_000)  # even a clock moving backwards
    ids += await core.mutation("users:insert_many", {"n": 5})
    docs = core.table("users")
    times = [d["_creationTime"] for d in docs]
    assert [d["_id"] for d in docs] == ids
    assert all(isinstance(t, float) for t in times)
    assert all(a < b for a, b in zip(times, times[1:]))
    assert len(set(ids)) == len(ids)


async def test_ids_encode_their_table(core):
    uid = await core.mutation("users:add", {"name": "a"})
    nid = await core.mutation("users:insert_raw", {"table": "notes", "doc": {"body": "b", "user": uid}})
    assert await core.query("users:normalize", {"table": "users", "text": uid}) == uid
    assert await core.query("users:normalize", {"table": "notes", "text": nid}) == nid
    assert await core.query("users:normalize", {"table": "notes", "text": uid}) is None
    assert await core.query("users:normalize", {"table": "users", "text": uid.upper()}) is None
    assert await core.query("users:normalize", {"table": "users", "text": "hello"}) is None
    assert (await core.query("users:get", {"id": nid}))["user"] == uid  # get finds the table from the id


NOT_FOUND = "Could not find public function for '{}'. Did you forget to run `npx convex dev`?"


async def test_internal_functions_are_not_callable_by_clients(core):
    """Convex's message for an internal function is the one for a missing function: a
    stranger cannot tell that it exists."""
    for path, caller, kind in (("users:secret", core, "query"), ("users:internal_add", core.as_user("alice"),
                                                                   "mutation"), ("users:nope", core, "mutation")):
        with pytest.raises(FunctionFailed) as caught:
            await getattr(caller, kind)(path, {"name": "x"} if kind == "mutation" else {})
        assert str(caught.value).split("\n", 1)[1] == NOT_FOUND.format(path)
    assert core.table("users") == []
    assert await core.run("users:secret") == "internal data"
    uid = await core.run("users:internal_add", {"name": "admin"})
    assert [d["_id"] for d in core.table("users")] == [uid]


async def test_unknown_function_and_wrong_kind(core):
    with pytest.raises(FunctionFailed, match=re.escape(NOT_FOUND.format("users:nope"))):
        await core.query("users:nope")
    with pytest.raises(FunctionFailed, match=re.escape(
            "Trying to execute users.js:add as Query, but it is defined as Mutation.")):
        await core.query("users:add", {"name": "x"})
    assert core.table("users") == []


@pytest.mark.parametrize("data", ["plain message", {"code": "E1", "detail": [1, 2.5, None]}, 42, None, [b"raw"]])
async def test_convex_error_data_arrives_and_nothing_is_written(core, data):
    with pytest.raises(ConvexError) as info:
        await core.mutation("users:fail_with_data", {"data": data})
    assert info.value.data == data and type(info.value.data) is type(data)
    assert core.table("notes") == []


async def test_queries_cannot_write(core):
    # A query's ctx.db is a reader: it has no write methods at all.
    with pytest.raises(FunctionFailed, match="object has no attribute 'insert'"):
        await core.query("ranges:query_writes")
    assert core.table("users") == []


async def test_convex_error_message_carries_its_data_and_bad_data_is_refused(core):
    outcome = await core.app.call("users:convex_error_with_data", {}, kind="mutation")
    assert outcome.has_error_data and outcome.error_data == {"code": "NOPE", "count": 2.0}
    assert outcome.error == 'Uncaught ConvexError: {"code":"NOPE","count":2}'  # as JavaScript prints the data
    outcome = await core.app.call("users:convex_error_with_bad_data", {}, kind="mutation")
    assert not outcome.has_error_data
    assert "ConvexError data must be a Convex value" in outcome.error
    assert 'Set["a","b"] is not a supported Convex type' in outcome.error
