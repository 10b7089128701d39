"""Validators: direct checks, argument validation at the runner and schema validation of writes.

Every failure must name the path and the expected type, and a refused write must leave the
table as it was.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings

from prefmem import v
from prefmem.errors import ValidationError
from prefmem.ids import new_id
from prefmem.testing import FunctionFailed

from ._reference import same, values

# ----------------------------------------------------------------------------- direct checks

GOOD = [
    (v.string(), "s"), (v.number(), 1.5), (v.number(), math.nan), (v.int64(), -(2**63)), (v.boolean(), False),
    (v.null(), None), (v.bytes(), b"\x00"), (v.any(), {"x": [1, b""]}), (v.literal("a"), "a"), (v.literal(3), 3),
    (v.array(v.int64()), [1, 2]), (v.object({"a": v.optional(v.string())}), {}),
    (v.record(v.string(), v.number()), {"k": 1.0}), (v.union(v.string(), v.int64()), 4),
    (v.nullable(v.string()), None), (v.id("users"), new_id("users")),
]

BAD = [
    (v.string(), 1, "value must be a string, got int64 1"),
    (v.number(), "1", "must be a number"),
    (v.number(), True, "must be a number"),
    (v.int64(), 1.0, "must be an int64, got float64"),
    (v.int64(), True, "must be an int64, got boolean"),
    (v.boolean(), 0, "must be a boolean"),
    (v.null(), 0, "must be null"),
    (v.bytes(), "b", "must be bytes"),
    (v.literal("a"), "b", "must be the literal 'a'"),
    (v.literal(1), True, "must be the literal 1"),
    (v.array(v.int64()), [1, "2"], r"^\[1\] must be an int64"),
    (v.object({"a": v.string()}), {}, "a is required"),
    (v.object({"a": v.string()}), {"a": "x", "b": 1}, "b is not an allowed field"),
    (v.object({"a": v.object({"b": v.array(v.string())})}), {"a": {"b": ["x", 2]}}, r"a\.b\[1\] must be a string"),
    (v.record(v.string(), v.number()), {"k": "x"}, "k must be a number"),
    (v.union(v.string(), v.int64()), 1.5, "must be a string or an int64"),
    (v.id("users"), new_id("notes"), "must be an id of table 'users'"),
    (v.id("users"), "not-an-id", "must be an id of table 'users'"),
]


@pytest.mark.parametrize("validator, value", GOOD, ids=repr)
def test_accepts(validator, value):
    assert same(validator.check(value), value)


@pytest.mark.parametrize("validator, value, message", BAD, ids=repr)
def test_rejects_naming_path_and_type(validator, value, message):
    with pytest.raises(ValidationError, match=message):
        validator.check(value)


def test_int_for_number_becomes_the_equal_float():
    assert same(v.number().check(3), 3.0)
    with pytest.raises(ValidationError, match="no exact float64"):
        v.number().check(2**53 + 1)


@pytest.mark.parametrize("validator, shape", [
    (v.string(), (0, 0)), (v.literal(3), (0, 0)), (v.literal(2**70), None),
    (v.object({}), (1, 0)), (v.object({"a": v.string(), "b": v.optional(v.number())}), (1, 2)),
    (v.object({"a": v.object({"b": v.id("users"), "c": v.null(), "d": v.bytes()})}), (2, 3)),
    (v.union(v.string(), v.object({"a": v.int64()})), (1, 1)), (v.nullable(v.boolean()), (0, 0)),
    (v.any(), None), (v.array(v.string()), None), (v.record(v.string(), v.number()), None),
    (v.object({"a": v.string(), "b": v.any()}), None), (v.union(), None),
], ids=repr)
def test_shape_bounds_what_a_validator_accepts(validator, shape):
    """Only validators that fix a value's shape, and check every scalar in it, give one."""
    assert validator.shape == shape


def test_string_and_number_check_what_the_shape_walk_would():
    """Where a validator's shape stands in for ``check_shape``, its scalars are checked as fully."""
    with pytest.raises(ValidationError, match=r"^s is not valid Unicode \(it holds a lone surrogate\)"):
        v.object({"s": v.string()}).check({"s": "ok \ud800"})
    assert v.string().check("caf\u00e9 \U0001f600") == "caf\u00e9 \U0001f600"
    with pytest.raises(ValidationError, match="integer 1180591620717411303424 does not fit in int64"):
        v.number().check(2**70)


@settings(max_examples=100, deadline=None)
@given(values())
def test_any_accepts_every_value_unchanged(value):
    assert same(v.any().check(value), value)


# ----------------------------------------------------------------------------- arguments

async def _users(core):
    return core.table("users")


GOOD_ARGS = {"name": "n", "count": 1, "ratio": 0.5, "tags": ["a"]}


@pytest.mark.parametrize("change, message", [
    ({"count": "1"}, "count must be an int64, got string"),
    ({"count": 1.5}, "count must be an int64, got float64"),
    ({"ratio": "x"}, "ratio must be a number"),
    ({"tags": ["a", 2]}, r"tags\[1\] must be a string, got int64 2"),
    ({"owner": "nope"}, "owner must be an id of table 'users'"),
    ({"flag": "yes"}, "flag must be a boolean"),
    ({"nested": {"deep": ["x", 3]}}, r"nested\.deep\[1\] must be a string or null"),
    ({"nested": {"deep": [], "extra": 1}}, r"nested\.extra is not an allowed field"),
    ({"surprise": 1}, "surprise is not an allowed field"),
    ({"name": None}, "name must be a string, got null"),
])
async def test_wrong_arguments_are_refused_by_path(core, change, message):
    owner = await core.mutation("users:add", {"name": "owner"})
    before = core.table("users")
    with pytest.raises(FunctionFailed, match=f"users:typed: invalid argument: {message}"):
        await core.query("users:typed", {**GOOD_ARGS, "owner": owner, **change})
    assert core.table("users") == before


@pytest.mark.parametrize("missing", ["name", "count", "tags", "owner"])
async def test_missing_arguments_are_refused(core, missing):
    owner = await core.mutation("users:add", {"name": "owner"})
    args = {**GOOD_ARGS, "owner": owner}
    del args[missing]
    with pytest.raises(FunctionFailed, match=f"{missing} is required .* but missing"):
        await core.query("users:typed", args)


async def test_arguments_that_are_not_values_or_not_objects(core):
    with pytest.raises(FunctionFailed, match="arguments must be an object"):
        await core.query("users:typed", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(FunctionFailed, match="int64"):
        await core.query("users:typed", {**GOOD_ARGS, "count": 2**64})
    with pytest.raises(FunctionFailed, match="reserved"):
        await core.query("users:typed", {**GOOD_ARGS, "$bad": 1})


async def test_checks_the_validator_stands_in_for_still_hold(core):
    """``users:add`` and the ``notes`` table have validators that bound their values' shape,
    so no separate shape walk runs; what it would refuse is still refused, writing nothing."""
    with pytest.raises(FunctionFailed, match="users:add: invalid argument: name is not valid Unicode"):
        await core.mutation("users:add", {"name": "\udc00"})
    with pytest.raises(FunctionFailed, match="age: integer .* does not fit in int64"):
        await core.mutation("users:add", {"name": "n", "age": 2**64})
    with pytest.raises(FunctionFailed, match="schema of table 'notes': body is not valid Unicode"):
        await core.mutation("users:insert_odd_note", {"body_code": 0xD800, "int_key": False})
    with pytest.raises(FunctionFailed, match="schema of table 'notes': 1 is not an allowed field"):
        await core.mutation("users:insert_odd_note", {"body_code": 98, "int_key": True})
    assert core.table("users") == [] and core.table("notes") == []


async def test_valid_arguments_arrive_converted(core):
    owner = await core.mutation("users:add", {"name": "owner"})
    got = await core.query("users:typed", {**GOOD_ARGS, "ratio": 2, "owner": owner})
    assert same(got["ratio"], 2.0)


async def test_return_value_is_validated(core):
    with pytest.raises(FunctionFailed, match="users:wrong_return: invalid return value: value must be a string"):
        await core.query("users:wrong_return", {"x": 1.0})


async def test_mutation_argument_errors_write_nothing(core):
    with pytest.raises(FunctionFailed, match="name must be a string"):
        await core.mutation("users:add", {"name": 5})
    with pytest.raises(FunctionFailed, match="age is not an allowed field|ages is not an allowed field"):
        await core.mutation("users:add", {"name": "a", "ages": 5})
    assert core.table("users") == []


# ----------------------------------------------------------------------------- schema on writes

@pytest.mark.parametrize("doc, message", [
    ({"name": 3}, "name must be a string, got int64 3"),
    ({}, r"name is required \(a string\) but missing"),
    ({"name": "a", "age": "old"}, "age must be a number"),
    ({"name": "a", "meta": {"tags": ["ok", 7]}}, r"meta\.tags\[1\] must be a string, got int64 7"),
    ({"name": "a", "meta": {"tags": [], "score": 1.5}}, r"meta\.score must be an int64"),
    ({"name": "a", "nick": "b"}, "nick is not an allowed field"),
])
async def test_insert_violating_schema_is_refused(core, doc, message):
    await core.mutation("users:add", {"name": "keep"})
    before = core.table("users")
    with pytest.raises(FunctionFailed, match=f"schema of table 'users': {message}"):
        await core.mutation("users:insert_raw", {"table": "users", "doc": doc})
    assert core.table("users") == before


@pytest.mark.parametrize("fields, unset, message", [
    ({"name": 1}, [], "name must be a string"),
    ({"age": [1]}, [], "age must be a number"),
    ({"meta": {"tags": "x"}}, [], r"meta\.tags must be an array of a string"),
    ({}, ["name"], "name is required"),
    ({"other": True}, [], "other is not an allowed field"),
])
async def test_patch_violating_schema_is_refused(core, fields, unset, message):
    uid = await core.mutation("users:add", {"name": "keep", "age": 3})
    before = core.table("users")
    with pytest.raises(FunctionFailed, match=f"db.patch of {uid}: document does not match the schema of table "
                                             f"'users': {message}"):
        await core.mutation("users:patch", {"id": uid, "fields": fields, "unset": unset})
    assert core.table("users") == before


async def test_replace_violating_schema_is_refused(core):
    uid = await core.mutation("users:add", {"name": "keep", "age": 3})
    before = core.table("users")
    with pytest.raises(FunctionFailed, match="name is required"):
        await core.mutation("users:replace", {"id": uid, "doc": {"age": 1}})
    assert core.table("users") == before


async def test_id_fields_must_name_their_table(core):
    note_id = await core.mutation("users:insert_raw", {"table": "notes", "doc": {"body": "b"}})
    with pytest.raises(FunctionFailed, match="user must be an id of table 'users'"):
        await core.mutation("users:insert_raw", {"table": "notes", "doc": {"body": "b", "user": note_id}})
    assert len(core.table("notes")) == 1
