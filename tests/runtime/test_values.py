"""prefmem.values: wire JSON round trips and the order-preserving key encoding.

The order is checked against ``_reference.ref_compare``, written from the order rules in
CONVEX_SEMANTICS.md without looking at bytes.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from prefmem.errors import InvalidValue
from prefmem.values import MISSING, check_value, compare, encode_key, from_json, to_json, value_key

from ._reference import ABSENT, INT64_MAX, INT64_MIN, POOL, ref_compare, ref_compare_tuple, same, values

SETTINGS = settings(max_examples=300, deadline=None)


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def _bytes_cmp(a: bytes, b: bytes) -> int:
    return (a > b) - (a < b)


def _to_prefmem(x):
    return MISSING if x is ABSENT else x


# ----------------------------------------------------------------------------- wire JSON

EXTREMES = [INT64_MIN, INT64_MAX, 0, -1, math.nan, -math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, 1.7976931348623157e308,
            b"", b"\x00\xff", "", "\x00", "é🙂", True, False, None, [], {}, [[[]]], {"a": {"b": [1, 2.0, b"x"]}}]


@SETTINGS
@given(values())
@example(INT64_MIN)
@example(INT64_MAX)
@example(math.nan)
@example(-math.nan)
@example(-math.inf)
@example(-0.0)
@example(b"\x00\xff")
@example([1, [2.0, [b"", {"k": None}]]])
def test_json_round_trip_through_text(value):
    check_value(value)
    wire = to_json(value)
    text = json.dumps(wire, allow_nan=False)  # nothing on the wire needs JSON extensions
    back = from_json(json.loads(text))
    assert same(back, value), (value, text, back)
    assert same(from_json(wire), value)


@pytest.mark.parametrize("value", EXTREMES, ids=repr)
def test_json_round_trip_extremes(value):
    assert same(from_json(json.loads(json.dumps(to_json(value), allow_nan=False))), value)


def test_json_wire_shapes():
    assert to_json(1) == {"$integer": "AQAAAAAAAAA="}  # 8 bytes little-endian, base64
    assert to_json(1.5) == 1.5
    assert set(to_json(-0.0)) == {"$float"}
    assert set(to_json(math.nan)) == {"$float"}
    assert to_json(b"hi") == {"$bytes": "aGk="}
    assert from_json(3) == 3.0 and isinstance(from_json(3), float)  # JSON numbers are float64


@pytest.mark.parametrize("bad", [{"$integer": "AQ=="}, {"$float": 3}, {"$bytes": "!!"}, {"$weird": 1}],
                         ids=repr)
def test_json_rejects_malformed(bad):
    with pytest.raises(InvalidValue):
        from_json(bad)


@pytest.mark.parametrize("bad, needle", [(2**63, "int64"), (-(2**63) - 1, "int64"), ({"": 1}, "empty"),
                                         ({"$a": 1}, "reserved"), ({1: 2}, "strings"), ("\ud800", "surrogate"),
                                         (object(), "not a Convex value"), ((1, 2), "not a Convex value")],
                         ids=repr)
def test_check_value_rejects(bad, needle):
    with pytest.raises(InvalidValue, match=needle):
        check_value(bad)


# ----------------------------------------------------------------------------- key order

@SETTINGS
@given(values(), values())
def test_key_bytes_sort_as_values(a, b):
    expected = ref_compare(a, b)
    assert _sign(_bytes_cmp(encode_key(a), encode_key(b))) == expected, (a, b)
    assert compare(a, b) == expected
    assert (encode_key(a) == encode_key(b)) == (expected == 0)


@SETTINGS
@given(values())
@example("a\x00b")
@example(-0.0)
def test_one_values_key_is_its_tuple_key(value):
    """Index keys are built from ``value_key`` parts; each must be exactly ``encode_key``'s."""
    assert value_key(value) == encode_key(value)
    assert value_key(MISSING) == encode_key(MISSING)


def test_key_order_on_the_pool():
    pool = [ABSENT] + POOL
    for a in pool:
        for b in pool:
            assert _sign(_bytes_cmp(encode_key(_to_prefmem(a)), encode_key(_to_prefmem(b)))) == ref_compare(a, b), (a, b)


def test_cross_type_and_float_order_explicitly():
    ordered = [MISSING, None, INT64_MIN, -1, 0, INT64_MAX, -math.nan, -math.inf, -1.0, -5e-324, -0.0, 0.0, 5e-324,
               1.0, math.inf, math.nan, False, True, "", "\x00", "a", "a\x00", "ab", "b", "é", b"", b"\x00", b"\xff",
               [], [None], [0], [0, 0], [1], [[]], {}, {"a": 1}, {"a": 1, "b": 0}, {"a": 2}, {"b": 0}]
    keys = [encode_key(x) for x in ordered]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


tuples = st.integers(1, 4).flatmap(lambda n: st.tuples(
    st.lists(st.one_of(values(6), st.just(ABSENT)), min_size=n, max_size=n),
    st.lists(st.one_of(values(6), st.just(ABSENT)), min_size=n, max_size=n)))


@SETTINGS
@given(tuples)
@example(([ "a", 1], ["a\x00", 0]))
@example(([b"", 1], [b"\x00", 0]))
@example(([[], 5], [[None], 0]))
@example(([ABSENT, 1], [None, 0]))
def test_tuple_keys_sort_as_tuples(pair):
    a, b = pair
    ka = encode_key(*map(_to_prefmem, a))
    kb = encode_key(*map(_to_prefmem, b))
    assert _sign(_bytes_cmp(ka, kb)) == ref_compare_tuple(tuple(a), tuple(b)), (a, b)


@SETTINGS
@given(st.lists(values(6), min_size=1, max_size=3), values(6))
def test_prefix_plus_key_end_bounds_every_extension(prefix, rest):
    """``encode_key(*prefix) + 0xFF`` is above every key that starts with the prefix."""
    lo = encode_key(*prefix)
    key = encode_key(*prefix, rest)
    assert lo <= key < lo + b"\xff"
