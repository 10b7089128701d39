"""Index ranges: the ``with_index`` grammar, turned into a byte interval of index keys.

An interval is half-open, ``[lo, hi)``, over the order-preserving key bytes of
``prefmem.values``. ``KEY_END`` (0xFF) sorts above any key, so ``prefix + KEY_END`` is
the end of everything that starts with ``prefix``, and ``key + b"\\x00"`` is the smallest
key above ``key``.
"""

from __future__ import annotations

from typing import Any

from prefmem.errors import InvalidQuery
from prefmem.values import KEY_END, check_value, encode_key


def point(key: bytes) -> tuple[bytes, bytes]:
    return key, key + b"\x00"


class IndexRangeBuilder:
    """The ``q`` of ``with_index(name, lambda q: ...)``, enforcing Convex's range rules."""

    def __init__(self, index_name: str, fields: tuple[str, ...]) -> None:
        self._index = index_name
        self._fields = fields
        self._eq: list[Any] = []
        self._lower: tuple[str, Any] | None = None
        self._upper: tuple[str, Any] | None = None
        self._bound_field: str | None = None

    def _where(self) -> str:
        return f"with_index({self._index!r})"

    def _value(self, field: str, value: Any) -> Any:
        try:
            check_value(value)
        except Exception as err:
            raise InvalidQuery(f"{self._where()}: bound for {field!r} is not a Convex value: {err}") from None
        return value

    def eq(self, field: str, value: Any) -> "IndexRangeBuilder":
        if self._lower is not None or self._upper is not None:
            raise InvalidQuery(f"{self._where()}: eq({field!r}) after a range bound; "
                               "eq conditions must come before gt/gte/lt/lte")
        position = len(self._eq)
        if position >= len(self._fields):
            raise InvalidQuery(f"{self._where()}: eq({field!r}) but every index field "
                               f"({', '.join(self._fields)}) already has an eq condition")
        expected = self._fields[position]
        if field != expected:
            raise InvalidQuery(f"{self._where()}: eq({field!r}) must name index field {position + 1}, {expected!r}: "
                               f"eq conditions must follow the index's field order ({', '.join(self._fields)})")
        self._eq.append(self._value(field, value))
        return self

    def _bound(self, op: str, field: str, value: Any) -> None:
        position = len(self._eq)
        if position >= len(self._fields):
            raise InvalidQuery(f"{self._where()}: {op}({field!r}) but every index field already has an eq condition")
        expected = self._fields[position]
        if field != expected:
            raise InvalidQuery(f"{self._where()}: {op}({field!r}) must name {expected!r}, the first index field "
                               "without an eq condition (bounds apply to the field right after the eq prefix)")
        lower = op in ("gt", "gte")
        if lower and self._lower is not None:
            raise InvalidQuery(f"{self._where()}: {op}({field!r}) is a second lower bound; at most one gt/gte is allowed")
        if not lower and self._upper is not None:
            raise InvalidQuery(f"{self._where()}: {op}({field!r}) is a second upper bound; at most one lt/lte is allowed")
        bound = (op, self._value(field, value))
        if lower:
            self._lower = bound
        else:
            self._upper = bound

    def gt(self, field: str, value: Any) -> "IndexRangeBuilder":
        self._bound("gt", field, value)
        return self

    def gte(self, field: str, value: Any) -> "IndexRangeBuilder":
        self._bound("gte", field, value)
        return self

    def lt(self, field: str, value: Any) -> "IndexRangeBuilder":
        self._bound("lt", field, value)
        return self

    def lte(self, field: str, value: Any) -> "IndexRangeBuilder":
        self._bound("lte", field, value)
        return self

    def interval(self) -> tuple[bytes, bytes]:
        prefix = encode_key(*self._eq)
        lo, hi = prefix, prefix + KEY_END
        if self._lower is not None:
            op, value = self._lower
            lo = prefix + encode_key(value) + (KEY_END if op == "gt" else b"")
        if self._upper is not None:
            op, value = self._upper
            hi = prefix + encode_key(value) + (KEY_END if op == "lte" else b"")
        return lo, hi


def build_range(index_name: str, fields: tuple[str, ...], fn: Any) -> tuple[bytes, bytes]:
    builder = IndexRangeBuilder(index_name, fields)
    if fn is None:
        return builder.interval()
    if not callable(fn):
        raise InvalidQuery(f"with_index({index_name!r}): the range must be a function of q")
    result = fn(builder)
    if result is not builder:
        raise InvalidQuery(f"with_index({index_name!r}): the range function must return the builder "
                           "(chain q.eq(...).gt(...) and return it)")
    return builder.interval()
