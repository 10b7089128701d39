"""prefmem.values: wire JSON round trips and the order-preserving key encoding.

The order is checked against ``_reference.ref_compare``, written from the order rules in
CONVEX_SEMANTICS.md without looking at bytes.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from prefmem.errors import InvalidValue
from prefmem.values import (MISSING, Int64, check_value, compare, decode_stored, display, encode_key, encode_stored,
                            from_json, js_number, js_stringify, python_numbers, to_json, value_key)

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
    assert to_json(Int64(1)) == {"$integer": "AQAAAAAAAAA="}  # 8 bytes little-endian, base64
    assert to_json(1) == 1.0 and isinstance(to_json(1), float)  # a plain int is a number, never a BigInt
    assert from_json({"$integer": "AQAAAAAAAAA="}) == 1 and type(from_json({"$integer": "AQAAAAAAAAA="})) is Int64
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


@pytest.mark.parametrize("bad, needle", [
    (2**53 + 1, r"outside the range of a Convex number .* Int64\(n\)"), (-(2**53) - 1, "outside the range"),
    ({"": 1}, "empty"), ({"$a": 1}, "reserved"), ("\ud800", "surrogate"),
    # Convex's words for what has no Convex type, as its JavaScript says them of a Set or a Map:
    ({1, 2}, r"^Set\[1,2\] is not a supported Convex type\.$"),
    ({1: 2}, r'^Map\[\[1,2\]\] is not a supported Convex type\.$'),
    ({"tags": frozenset({"a"})}, r'^Set\["a"\] is not a supported Convex type \(present at path \.tags in original '
                                 r'object \{"tags":\{\}\}\)\. To learn about Convex\'s supported types, see '
                                 r'https://docs\.convex\.dev/using/types\.$'),
    ({"m": {"k": {2: "x"}}}, r'^Map\[\[2,"x"\]\] is not a supported Convex type \(present at path \.m\.k in'),
    (object(), "^object {} is not a supported Convex type"), ((1, 2), r"^tuple \[1,2\] is not a supported Convex type")],
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
    ordered = [MISSING, None, INT64_MIN, Int64(-1), Int64(0), INT64_MAX, -math.nan, -math.inf, -1.0, -5e-324, -0.0,
               0.0, 5e-324, 1.0, math.inf, math.nan, False, True, "", "\x00", "a", "a\x00", "ab", "b", "é", b"",
               b"\x00", b"\xff", [], [None], [0], [0, 0], [1], [[]], {}, {"a": 1}, {"a": 1, "b": 0}, {"a": 2}, {"b": 0}]
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


# ----------------------------------------------------------------------------- numbers and int64s

def test_int64_is_an_int_that_says_what_it_is():
    assert Int64(5) == 5 and isinstance(Int64(5), int) and repr(Int64(-5)) == "Int64(-5)"
    assert str(Int64(-5)) == f"{Int64(-5)}" == "-5"
    assert type(Int64(5) + 1) is int  # arithmetic gives a plain int: a number again
    for bad in (2**63, -(2**63) - 1, 1.5):
        with pytest.raises(ValueError):
            Int64(bad)


@SETTINGS
@given(values())
@example({"a": 3.0, "b": [-0.0, 2.0**53, 2.0**53 + 2, math.nan, math.inf, 1.5]})
def test_python_numbers_reads_integral_numbers_as_ints(value):
    shown = python_numbers(value)
    assert same(shown, value)  # the same Convex value

    def walk(x):
        if type(x) is float:
            assert not (x.is_integer() and abs(x) <= 2**53 and (x != 0 or math.copysign(1, x) > 0)), x
        elif isinstance(x, list):
            [walk(i) for i in x]
        elif isinstance(x, dict):
            [walk(i) for i in x.values()]

    walk(shown)
    if not _has_integral_float(value):
        assert shown is value  # nothing to change: no copy


def _has_integral_float(x):
    if type(x) is float:
        return x.is_integer() and abs(x) <= 2**53 and (x != 0 or math.copysign(1, x) > 0)
    if isinstance(x, list):
        return any(map(_has_integral_float, x))
    if isinstance(x, dict):
        return any(map(_has_integral_float, x.values()))
    return False


@SETTINGS
@given(values())
def test_stored_encoding_round_trips_as_python_numbers(value):
    back = decode_stored(encode_stored(value))
    assert same(back, value)
    assert repr(back) == repr(python_numbers(value))  # int64s stay Int64, integral numbers read as int


@SETTINGS
@given(values())
def test_databases_written_before_int64_was_explicit_keep_their_int64s(value):
    """A row stored as plain msgpack (a msgpack integer was an int64) reads back with its
    integers as ``Int64`` and its integral floats as ``int``."""
    back = decode_stored(msgspec.msgpack.encode(_as_legacy(value)))
    assert same(back, value)
    assert repr(decode_stored(encode_stored(back))) == repr(back)  # rewritten, it stays what it read as


def _as_legacy(x):
    """What the old code stored for ``x``: an Int64 as a plain msgpack integer."""
    if type(x) is Int64:
        return int(x)
    if isinstance(x, list):
        return [_as_legacy(i) for i in x]
    if isinstance(x, dict):
        return {k: _as_legacy(i) for k, i in x.items()}
    return float(x) if type(x) is int else x


def test_legacy_rows_read_their_integers_as_int64():
    row = msgspec.msgpack.encode({"count": 3, "score": 2.0, "ratio": 0.5, "flag": True})
    back = decode_stored(row)
    assert back == {"count": 3, "score": 2, "ratio": 0.5, "flag": True}
    assert type(back["count"]) is Int64 and type(back["score"]) is int and back["flag"] is True


# ----------------------------------------------------------------------------- values in messages

@settings(max_examples=1, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**53), 2**53)),
                min_size=300, max_size=300))
def test_numbers_print_as_javascript_prints_them(numbers):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is needed (make test installs it with the npm client)")
    numbers += [0.1 + 0.2, 1e21, 1e-7, 123e20, 5e-324, -1.5e-7, 1.7976931348623157e308, 100.0, -0.0, 1e-6]
    out = subprocess.run([node, "-e", "process.stdin.on('data', d => console.log(JSON.stringify("
                          "JSON.parse(d).map(String))))"], input=json.dumps(numbers), capture_output=True, text=True,
                         check=True).stdout
    assert [js_number(float(x)) for x in numbers] == json.loads(out)


def test_js_stringify_is_javascripts_json_with_bigints_as_n():
    value = {"b": Int64(123), "a": 1, "2": [1.5, None, True], "1": "é\n", "bytes": b"x", "set": {1}}
    assert js_stringify(value) == '{"1":"é\\n","2":[1.5,null,true],"b":"123n","a":1,"bytes":{},"set":{}}'
    assert js_stringify("x" * 20000).endswith("[...truncated]") and len(js_stringify("x" * 20000)) == 16384


def test_display_is_how_convex_messages_print_a_value():
    assert display({"name": 123, "n": Int64(5), "s": 'a"b\n', "b": b"hi", "l": [1.5, 1e16, 1e-5, math.nan, -0.0]}) \
        == '{b: b"aGk=", l: [1.5, 1e16, 1e-5, NaN, -0.0], n: 5, name: 123.0, s: "a\\"b\\n"}'
    assert display(None) == "null" and display(True) == "true" and display(math.inf) == "inf"
