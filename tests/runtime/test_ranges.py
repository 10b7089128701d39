"""Index range grammar: every broken rule is an error at the call that names the rule."""

from __future__ import annotations

import pytest

from prefmem.testing import FunctionFailed

pytestmark = pytest.mark.engines


@pytest.mark.parametrize("kind, message", [
    ("eq_out_of_order", r"eq\('age'\) must name index field 1, 'name': eq conditions must follow the index's "
                        r"field order"),
    ("eq_skips_field", r"eq\('_creationTime'\) must name index field 2, 'age'"),
    ("eq_after_bound", r"eq\('age'\) after a range bound; eq conditions must come before gt/gte/lt/lte"),
    ("two_lower_bounds", r"gte\('age'\) is a second lower bound; at most one gt/gte"),
    ("two_upper_bounds", r"lte\('age'\) is a second upper bound; at most one lt/lte"),
    ("bound_on_wrong_field", r"gt\('age'\) must name 'name', the first index field without an eq condition"),
    ("eq_after_all_fields", r"eq\('_creationTime'\) but every index field \(name\) already has an eq condition"),
    ("bound_after_all_fields", r"gt\('name'\) but every index field already has an eq condition"),
    ("unknown_index", r"index users.by_nothing does not exist \(indexes: .*by_name.*\)"),
    ("not_returned", "the range function must return the builder"),
    ("bad_value", "bound for 'name' is not a Convex value"),
])
async def test_invalid_range_is_refused_naming_the_rule(core, kind, message):
    await core.mutation("users:add", {"name": "a", "age": 1})
    before = core.table("users")
    with pytest.raises(FunctionFailed, match=rf"with_index\('by_\w+'\): {message}" if kind not in (
            "unknown_index",) else message):
        await core.query("ranges:bad", {"kind": kind})
    assert core.table("users") == before


async def test_unknown_table_and_non_boolean_filter(core):
    with pytest.raises(FunctionFailed, match="table 'nope' is not in the schema"):
        await core.query("ranges:unknown_table")
    await core.mutation("users:add", {"name": "a"})
    with pytest.raises(FunctionFailed, match="must produce a boolean, got string"):
        await core.query("ranges:filter_not_boolean")
