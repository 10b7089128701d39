"""Plain-Python references the runtime is checked against, and shared hypothesis strategies.

Everything here is written from the rules in CONVEX_SEMANTICS.md, not from prefmem's code:
the comparator never looks at bytes, the query reference filters and sorts lists.
"""

from __future__ import annotations

import functools
import math
import struct
from typing import Any

from hypothesis import strategies as st

from prefmem.values import Int64

INT64_MIN, INT64_MAX = Int64(-(2**63)), Int64(2**63 - 1)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


# The reference's own marker for an absent field (prefmem's MISSING is not used here).
ABSENT = _Missing()


# ----------------------------------------------------------------------------- ordering

def _rank(x: Any) -> int:
    if x is ABSENT:
        return 0
    if x is None:
        return 1
    if isinstance(x, bool):
        return 4
    if type(x) is Int64:
        return 2
    if isinstance(x, (int, float)):  # a plain int is a float64 number
        return 3
    if isinstance(x, str):
        return 5
    if isinstance(x, bytes):
        return 6
    if isinstance(x, list):
        return 7
    if isinstance(x, dict):
        return 8
    raise TypeError(f"not a value: {x!r}")


def _sign(x: Any) -> int:
    return (x > 0) - (x < 0)


def _float_class(x: float) -> tuple:
    """A sortable description of a float in IEEE total order, derived case by case."""
    if math.isnan(x):
        payload = struct.unpack("<Q", struct.pack("<d", x))[0] & ((1 << 52) - 1)
        if math.copysign(1.0, x) < 0:
            return (0, -payload)          # negative NaNs: below -inf, bigger payload lower
        return (3, payload)               # positive NaNs: above +inf, bigger payload higher
    return (1, x, math.copysign(1.0, x))  # -0.0 sorts just below 0.0


def _plain(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


def ref_compare(a: Any, b: Any) -> int:
    """Convex's total order: -1, 0 or 1."""
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return _plain(ra, rb)
    if ra in (0, 1):
        return 0
    if ra == 3:
        return _plain(_float_class(float(a)), _float_class(float(b)))
    if ra in (2, 4, 5, 6):  # ints, bools (False < True), strings by code point, bytes
        return _plain(a, b)
    if ra == 7:
        for x, y in zip(a, b):
            c = ref_compare(x, y)
            if c:
                return c
        return _plain(len(a), len(b))
    pa, pb = sorted(a.items()), sorted(b.items())
    for (ka, va), (kb, vb) in zip(pa, pb):
        c = _plain(ka, kb) or ref_compare(va, vb)
        if c:
            return c
    return _plain(len(pa), len(pb))


def ref_compare_tuple(a: tuple, b: tuple) -> int:
    for x, y in zip(a, b):
        c = ref_compare(x, y)
        if c:
            return c
    return _plain(len(a), len(b))


def same(a: Any, b: Any) -> bool:
    """Exact equality of Convex values: types must match, numbers (a plain int or a float)
    compare by their float64 bits."""
    if _is_float64(a) and _is_float64(b):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


# ----------------------------------------------------------------------------- filters

def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_float64(x: Any) -> bool:
    return _is_number(x) and type(x) is not Int64


def filter_compare(a: Any, b: Any) -> int:
    """Filter comparisons: the total order, except an int64 and a float64 compare by exact numeric value."""
    if _is_number(a) and _is_number(b) and (type(a) is Int64) != (type(b) is Int64) and not (
            (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b))):
        return _plain(a, b)  # Python compares int with float exactly
    return ref_compare(a, b)


def _wrap(n: int) -> Int64:
    n &= (1 << 64) - 1
    return Int64(n - (1 << 64) if n >= 1 << 63 else n)


def _arith(op: str, a: Any, b: Any) -> Any:
    assert _is_number(a) and _is_number(b), (op, a, b)
    if type(a) is Int64 and type(b) is Int64:
        return _wrap({"add": a + b, "sub": a - b, "mul": a * b}[op])
    a, b = float(a), float(b)
    return {"add": a + b, "sub": a - b, "mul": a * b}[op]


_TESTS = {"eq": lambda c: c == 0, "neq": lambda c: c != 0, "lt": lambda c: c < 0, "lte": lambda c: c <= 0,
          "gt": lambda c: c > 0, "gte": lambda c: c >= 0}


def ref_eval(expr: list, doc: dict) -> Any:
    head = expr[0]
    if head == "f":
        return doc.get(expr[1], ABSENT)
    if head == "v":
        return expr[1]
    if head == "and":
        return all(ref_eval(e, doc) for e in expr[1:])
    if head == "or":
        return any(ref_eval(e, doc) for e in expr[1:])
    if head == "not":
        return not ref_eval(expr[1], doc)
    if head == "neg":
        x = ref_eval(expr[1], doc)
        return _wrap(-x) if type(x) is Int64 else -float(x)
    if head in _TESTS:
        return _TESTS[head](filter_compare(ref_eval(expr[1], doc), ref_eval(expr[2], doc)))
    return _arith(head, ref_eval(expr[1], doc), ref_eval(expr[2], doc))


# ----------------------------------------------------------------------------- queries

def ref_query(docs: list[dict], spec: dict, index_fields: dict[str, tuple[str, ...]],
              number_fields: frozenset[str] = frozenset()) -> list[dict]:
    """Every document the spec's range, order and filter select, in result order."""
    fields = index_fields[spec["index"]] if spec.get("index") else ()
    key_fields = fields + ("_creationTime", "_id")

    def coerce(field: str, value: Any) -> Any:
        if field in number_fields and type(value) is Int64:
            return float(value)
        return value

    def selected(doc: dict) -> bool:
        for field, value in spec.get("eq") or []:
            if ref_compare(doc.get(field, ABSENT), coerce(field, value)) != 0:
                return False
        for bound in (spec.get("lower"), spec.get("upper")):
            if bound is not None:
                op, field, value = bound
                if not _TESTS[op](ref_compare(doc.get(field, ABSENT), coerce(field, value))):
                    return False
        return True

    rows = [d for d in docs if selected(d)]
    rows.sort(key=functools.cmp_to_key(lambda x, y: ref_compare_tuple(
        tuple(x.get(f, ABSENT) for f in key_fields), tuple(y.get(f, ABSENT) for f in key_fields))))
    if spec.get("order") == "desc":
        rows.reverse()
    if spec.get("filter") is not None:
        rows = [d for d in rows if ref_eval(spec["filter"], d)]
    return rows


# ----------------------------------------------------------------------------- strategies

def keys() -> st.SearchStrategy[str]:
    return st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=6).filter(
        lambda k: not k.startswith("$"))


def scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(INT64_MIN, INT64_MAX).map(Int64),
        st.sampled_from([INT64_MIN, INT64_MAX, Int64(0), Int64(-1), Int64(1)]),
        st.integers(-(2**53), 2**53),  # numbers: a plain int is a float64
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan, 5e-324, -5e-324]),
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
        st.binary(max_size=8),
    )


def values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars(),
        lambda children: st.one_of(st.lists(children, max_size=4),
                                   st.dictionaries(keys(), children, max_size=4)),
        max_leaves=max_leaves,
    )


# Small pools make equal values, ties and cross-type neighbours likely.
POOL = [None, False, True, INT64_MIN, Int64(-1), Int64(0), Int64(1), Int64(2), INT64_MAX, -math.inf, -1.5, -0.0, 0.0,
        0, 1.0, 1, 2, 2.5, math.inf, math.nan, "", "a", "a\x00", "ab", "b", "é", b"", b"\x00", b"a", [], [Int64(0)],
        [0], ["a", None], [[]], {}, {"k": Int64(1)}, {"k": 1}, {"k": "v", "z": [1.0]}]


def field_values() -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(POOL), values(6))
