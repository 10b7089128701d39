"""Validators: direct checks, argument validation at the runner and schema validation of writes.

Every failure must name the path and the expected type, and a refused write must leave the
table as it was.
"""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings

from prefmem import v
from prefmem.errors import InvalidValue, ValidationError
from prefmem.ids import new_id
from prefmem.testing import FunctionFailed
from prefmem.values import Int64

from ._reference import same, values

# ----------------------------------------------------------------------------- direct checks

GOOD = [
    (v.string(), "s"), (v.number(), 1.5), (v.number(), 3), (v.number(), math.nan), (v.int64(), Int64(-(2**63))),
    (v.boolean(), False), (v.null(), None), (v.bytes(), b"\x00"), (v.any(), {"x": [1, b""]}), (v.literal("a"), "a"),
    (v.literal(3), 3), (v.literal(3), 3.0), (v.literal(Int64(3)), Int64(3)), (v.array(v.int64()), [Int64(1)]),
    (v.object({"a": v.optional(v.string())}), {}), (v.record(v.string(), v.number()), {"k": 1.0}),
    (v.union(v.string(), v.int64()), Int64(4)), (v.nullable(v.string()), None), (v.id("users"), new_id("users")),
]

# Convex's own messages (crates/common/src/schemas/validator.rs in convex-backend), word for word.
BAD = [
    (v.string(), 1, "Value does not match validator.\n\nValue: 1.0\nValidator: v.string()"),
    (v.number(), "1", 'Value does not match validator.\n\nValue: "1"\nValidator: v.float64()'),
    (v.number(), True, "Value does not match validator.\n\nValue: true\nValidator: v.float64()"),
    (v.number(), Int64(1), "Value does not match validator.\n\nValue: 1\nValidator: v.float64()"),
    (v.int64(), 1.0, "Value does not match validator.\n\nValue: 1.0\nValidator: v.int64()"),
    (v.int64(), True, "Value does not match validator.\n\nValue: true\nValidator: v.int64()"),
    (v.boolean(), 0, "Value does not match validator.\n\nValue: 0.0\nValidator: v.boolean()"),
    (v.null(), 0, "Value does not match validator.\n\nValue: 0.0\nValidator: v.null()"),
    (v.bytes(), "b", 'Value does not match validator.\n\nValue: "b"\nValidator: v.bytes()'),
    (v.literal("a"), "b", '`"b"` does not match literal validator `v.literal("a")`.'),
    (v.literal(1), True, "`true` does not match literal validator `v.literal(1.0)`."),
    (v.literal(Int64(1)), 1.0, "`1.0` does not match literal validator `v.literal(<bigint>)`."),
    (v.array(v.int64()), [Int64(1), "2"], 'Value does not match validator.\nPath: [1]\nValue: "2"\nValidator: v.int64()'),
    (v.object({"a": v.string()}), {}, "Object is missing the required field `a`. Consider wrapping the field validator "
     "in `v.optional(...)` if this is expected.\n\nObject: {}\nValidator: v.object({a: v.string()})"),
    (v.object({"a": v.string()}), {"a": "x", "b": 1}, "Object contains extra field `b` that is not in the validator.\n"
     '\nObject: {a: "x", b: 1.0}\nValidator: v.object({a: v.string()})'),
    (v.object({"a": v.object({"b": v.array(v.string())})}), {"a": {"b": ["x", 2]}},
     "Value does not match validator.\nPath: .a.b[1]\nValue: 2.0\nValidator: v.string()"),
    (v.record(v.string(), v.number()), {"k": "x"},
     'Value does not match validator.\nPath: .values()\nValue: "x"\nValidator: v.float64()'),
    (v.union(v.string(), v.int64()), 1.5, "Value does not match validator.\n\nValue: 1.5\nValidator: "
     "v.union(v.string(), v.int64())"),
    (v.id("users"), "not-an-id", 'Value does not match validator.\n\nValue: "not-an-id"\nValidator: v.id("users")'),
]


@pytest.mark.parametrize("validator, value", GOOD, ids=repr)
def test_accepts(validator, value):
    assert same(validator.check(value), value)


@pytest.mark.parametrize("validator, value, message", BAD, ids=repr)
def test_rejects_in_convexs_words(validator, value, message):
    with pytest.raises(ValidationError) as caught:
        validator.check(value)
    assert str(caught.value) == message


def test_objects_report_the_first_error_convex_finds():
    """Fields in name order, then missing ones, then extra ones, whatever order the dict has."""
    validator = v.object({"b": v.string(), "a": v.string(), "c": v.optional(v.number())})
    with pytest.raises(ValidationError, match=r"^Value does not match validator\.\nPath: \.a\n"):
        validator.check({"zz": 1, "b": 2, "a": 3})
    with pytest.raises(ValidationError, match="^Object is missing the required field `a`"):
        validator.check({"zz": 1, "b": "x"})
    with pytest.raises(ValidationError, match="^Object contains extra field `y`"):
        validator.check({"z": 1, "b": "x", "y": 2, "a": "x"})


def test_a_plain_int_in_an_int64_position_becomes_an_int64():
    """int64 is explicit: an ``Int64``, or a plain int where the validator declares int64."""
    assert type(v.int64().check(3)) is Int64
    assert type(v.literal(Int64(3)).check(3)) is Int64
    checked = v.object({"n": v.int64(), "x": v.number(), "l": v.array(v.int64())}).check({"n": 3, "x": 3, "l": [1]})
    assert type(checked["n"]) is Int64 and type(checked["x"]) is int and type(checked["l"][0]) is Int64
    with pytest.raises(InvalidValue, match="outside the range of a Convex number"):
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
    with pytest.raises(ValidationError, match=r"^\.s is not valid Unicode \(it holds a lone surrogate\)"):
        v.object({"s": v.string()}).check({"s": "ok \ud800"})
    assert v.string().check("caf\u00e9 \U0001f600") == "caf\u00e9 \U0001f600"
    with pytest.raises(InvalidValue, match="Integer 1180591620717411303424 is outside the range of a Convex number"):
        v.number().check(2**70)


@settings(max_examples=100, deadline=None)
@given(values())
def test_any_accepts_every_value_unchanged(value):
    assert same(v.any().check(value), value)


# ----------------------------------------------------------------------------- arguments

async def _users(core):
    return core.table("users")


GOOD_ARGS = {"name": "n", "count": 1, "ratio": 0.5, "tags": ["a"]}

_TYPED = ("v.object({count: v.int64(), flag: v.optional(v.boolean()), name: v.string(), nested: "
          "v.optional(v.object({deep: v.array(v.union(v.string(), v.null()))})), owner: v.id(\"users\"), "
          "ratio: v.float64(), tags: v.array(v.string())})")


def _client_text(err: FunctionFailed) -> str:
    """The message without its first line, ``[Request ID: <16 hex>] Server Error``."""
    head, _, body = str(err).partition("\n")
    assert re.fullmatch(r"\[Request ID: [0-9a-f]{16}\] Server Error", head), head
    return body


@pytest.mark.parametrize("change, message", [
    ({"count": "1"}, 'Value does not match validator.\nPath: .count\nValue: "1"\nValidator: v.int64()'),
    ({"count": 1.5}, "Value does not match validator.\nPath: .count\nValue: 1.5\nValidator: v.int64()"),
    ({"ratio": "x"}, 'Value does not match validator.\nPath: .ratio\nValue: "x"\nValidator: v.float64()'),
    ({"tags": ["a", 2]}, "Value does not match validator.\nPath: .tags[1]\nValue: 2.0\nValidator: v.string()"),
    ({"owner": "nope"}, 'Value does not match validator.\nPath: .owner\nValue: "nope"\nValidator: v.id("users")'),
    ({"flag": "yes"}, 'Value does not match validator.\nPath: .flag\nValue: "yes"\nValidator: v.boolean()'),
    ({"nested": {"deep": ["x", 3]}}, "Value does not match validator.\nPath: .nested.deep[1]\nValue: 3.0\n"
                                     "Validator: v.union(v.string(), v.null())"),
    ({"nested": {"deep": [], "extra": 1}}, "Object contains extra field `extra` that is not in the validator.\n"
                                           "Path: .nested\nObject: {deep: [], extra: 1.0}\n"
                                           "Validator: v.object({deep: v.array(v.union(v.string(), v.null()))})"),
    ({"name": None}, "Value does not match validator.\nPath: .name\nValue: null\nValidator: v.string()"),
])
async def test_wrong_arguments_are_refused_in_convexs_words(core, change, message):
    owner = await core.mutation("users:add", {"name": "owner"})
    before = core.table("users")
    with pytest.raises(FunctionFailed) as caught:
        await core.query("users:typed", {**GOOD_ARGS, "owner": owner, **change})
    assert _client_text(caught.value) == f"ArgumentValidationError: {message}"
    assert core.table("users") == before


async def test_an_extra_argument_is_named(core):
    owner = await core.mutation("users:add", {"name": "owner"})
    with pytest.raises(FunctionFailed) as caught:
        await core.query("users:typed", {**GOOD_ARGS, "owner": owner, "surprise": 1})
    assert _client_text(caught.value).startswith(
        "ArgumentValidationError: Object contains extra field `surprise` that is not in the validator.\n\nObject: {")
    assert _client_text(caught.value).endswith(f"\nValidator: {_TYPED}")


@pytest.mark.parametrize("missing", ["name", "count", "tags", "owner"])
async def test_missing_arguments_are_refused(core, missing):
    owner = await core.mutation("users:add", {"name": "owner"})
    args = {**GOOD_ARGS, "owner": owner}
    del args[missing]
    with pytest.raises(FunctionFailed) as caught:
        await core.query("users:typed", args)
    text = _client_text(caught.value)
    assert text.startswith(f"ArgumentValidationError: Object is missing the required field `{missing}`. Consider "
                           "wrapping the field validator in `v.optional(...)` if this is expected.\n\nObject: {")
    assert text.endswith(f"\nValidator: {_TYPED}")


async def test_arguments_that_are_not_values_or_not_objects(core):
    with pytest.raises(FunctionFailed, match=r"Expected to receive an object as the function's argument\. Instead "
                                             r"received: \[1\.0, 2\.0\]"):
        await core.query("users:typed", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(FunctionFailed, match="Uncaught Error: Integer 18446744073709551616 is outside the range"):
        await core.query("users:typed", {**GOOD_ARGS, "count": 2**64})
    with pytest.raises(FunctionFailed, match="reserved"):
        await core.query("users:typed", {**GOOD_ARGS, "$bad": 1})


async def test_checks_the_validator_stands_in_for_still_hold(core):
    """``users:add`` and the ``notes`` table have validators that bound their values' shape,
    so no separate shape walk runs; what it would refuse is still refused, writing nothing."""
    with pytest.raises(FunctionFailed, match=r"ArgumentValidationError: \.name is not valid Unicode"):
        await core.mutation("users:add", {"name": "\udc00"})
    with pytest.raises(FunctionFailed, match="Integer 18446744073709551616 is outside the range of a Convex number"):
        await core.mutation("users:add", {"name": "n", "age": 2**64})
    with pytest.raises(FunctionFailed, match=r'Uncaught Error: Failed to insert or update a document in table "notes" '
                                             r"because it does not match the schema: \.body is not valid Unicode"):
        await core.mutation("users:insert_odd_note", {"body_code": 0xD800, "int_key": False})
    with pytest.raises(FunctionFailed, match=r'Uncaught Error: Map\[\[1,"x"\],\["body","b"\]\] is not a supported '
                                             r"Convex type\.|Map\[\["):
        await core.mutation("users:insert_odd_note", {"body_code": 98, "int_key": True})
    assert core.table("users") == [] and core.table("notes") == []


async def test_valid_arguments_arrive_as_python_numbers(core):
    """Numbers from the wire are float64s; a handler reads an integral one as an ``int``."""
    owner = await core.mutation("users:add", {"name": "owner"})
    got = await core.query("users:typed", {**GOOD_ARGS, "ratio": 2.0, "count": Int64(7), "owner": owner})
    assert got["ratio"] == 2 and type(got["ratio"]) is int
    assert type(got["count"]) is Int64


async def test_return_value_is_validated(core):
    with pytest.raises(FunctionFailed) as caught:
        await core.query("users:wrong_return", {"x": 1.5})
    assert _client_text(caught.value) == \
        "ReturnsValidationError: Value does not match validator.\n\nValue: 1.5\nValidator: v.string()"


async def test_mutation_argument_errors_write_nothing(core):
    with pytest.raises(FunctionFailed, match=r"Path: \.name\nValue: 5\.0\nValidator: v\.string\(\)"):
        await core.mutation("users:add", {"name": 5})
    with pytest.raises(FunctionFailed, match="Object contains extra field `ages` that is not in the validator"):
        await core.mutation("users:add", {"name": "a", "ages": 5})
    assert core.table("users") == []


# ----------------------------------------------------------------------------- schema on writes

_USERS = ("v.object({age: v.optional(v.float64()), meta: v.optional(v.object({score: v.optional(v.int64()), "
          "tags: v.array(v.string())})), name: v.string()})")
_REFUSED = 'Uncaught Error: Failed to insert or update a document in table "{}" because it does not match the schema: '


@pytest.mark.parametrize("doc, message", [
    ({"name": 3}, "Value does not match validator.\nPath: .name\nValue: 3.0\nValidator: v.string()"),
    ({}, "Object is missing the required field `name`. Consider wrapping the field validator in `v.optional(...)` "
         f"if this is expected.\n\nObject: {{}}\nValidator: {_USERS}"),
    ({"name": "a", "age": "old"}, 'Value does not match validator.\nPath: .age\nValue: "old"\nValidator: v.float64()'),
    ({"name": "a", "meta": {"tags": ["ok", 7]}}, "Value does not match validator.\nPath: .meta.tags[1]\nValue: 7.0\n"
                                                 "Validator: v.string()"),
    ({"name": "a", "meta": {"tags": [], "score": 1.5}}, "Value does not match validator.\nPath: .meta.score\n"
                                                        "Value: 1.5\nValidator: v.int64()"),
    ({"name": "a", "nick": "b"}, "Object contains extra field `nick` that is not in the validator.\n\n"
                                 f'Object: {{name: "a", nick: "b"}}\nValidator: {_USERS}'),
])
async def test_insert_violating_schema_is_refused(core, doc, message):
    await core.mutation("users:add", {"name": "keep"})
    before = core.table("users")
    with pytest.raises(FunctionFailed) as caught:
        await core.mutation("users:insert_raw", {"table": "users", "doc": doc})
    assert _client_text(caught.value) == _REFUSED.format("users") + message
    assert core.table("users") == before


@pytest.mark.parametrize("fields, unset, message", [
    ({"name": 1}, [], r"Path: \.name\nValue: 1\.0\nValidator: v\.string\(\)"),
    ({"age": [1]}, [], r"Path: \.age\nValue: \[1\.0\]\nValidator: v\.float64\(\)"),
    ({"meta": {"tags": "x"}}, [], r'Path: \.meta\.tags\nValue: "x"\nValidator: v\.array\(v\.string\(\)\)'),
    ({}, ["name"], r"Object is missing the required field `name`\..*\n\nObject: \{age: 3\.0\}"),
    ({"other": True}, [], r"Object contains extra field `other` that is not in the validator\."),
])
async def test_patch_violating_schema_is_refused(core, fields, unset, message):
    uid = await core.mutation("users:add", {"name": "keep", "age": 3})
    before = core.table("users")
    with pytest.raises(FunctionFailed, match=re.escape(_REFUSED.format("users")) + r"[\s\S]*" + message):
        await core.mutation("users:patch", {"id": uid, "fields": fields, "unset": unset})
    assert core.table("users") == before


async def test_replace_violating_schema_is_refused(core):
    uid = await core.mutation("users:add", {"name": "keep", "age": 3})
    before = core.table("users")
    with pytest.raises(FunctionFailed, match="Object is missing the required field `name`"):
        await core.mutation("users:replace", {"id": uid, "doc": {"age": 1}})
    assert core.table("users") == before


async def test_id_fields_must_name_their_table(core):
    note_id = await core.mutation("users:insert_raw", {"table": "notes", "doc": {"body": "b"}})
    with pytest.raises(FunctionFailed) as caught:
        await core.mutation("users:insert_raw", {"table": "notes", "doc": {"body": "b", "user": note_id}})
    assert _client_text(caught.value) == _REFUSED.format("notes") + (
        f'Found ID "{note_id}" from table `notes`, which does not match the table name in validator '
        '`v.id("users")`.Path: .user')
    assert len(core.table("notes")) == 1


def test_checked_numbers_come_out_as_they_read_back():
    """A validator gives numbers as Python reads them back, so a value it fully types needs
    no separate walk; one with v.any() inside says it does."""
    checked = v.object({"a": v.number(), "l": v.array(v.union(v.number(), v.string())), "c": v.literal(3)}).check(
        {"a": 2.0, "l": [1.0, "x", 1.5, -0.0], "c": 3.0})
    assert repr(checked) == "{'a': 2, 'l': [1, 'x', 1.5, -0.0], 'c': 3}"
    assert v.object({"a": v.number(), "r": v.record(v.string(), v.int64())}).normalizes_numbers
    assert not v.object({"a": v.number(), "x": v.optional(v.any())}).normalizes_numbers
    assert not v.union(v.string(), v.array(v.any())).normalizes_numbers


@pytest.mark.parametrize("table, doc", [("users", {"name": "n", "age": 3.0}),  # typed: no walk when stored
                                        ("blobs", {"data": {"deep": [2.0, 2.5]}})])  # v.any(): walked
async def test_stored_numbers_read_back_as_python_numbers(core, table, doc):
    await core.mutation("users:insert_raw", {"table": table, "doc": doc})
    (stored,) = core.table(table)
    body = {k: val for k, val in stored.items() if not k.startswith("_")}
    assert repr(body) == repr({"name": "n", "age": 3} if table == "users" else {"data": {"deep": [2, 2.5]}})
