"""Filter expressions: ``.filter(lambda q: q.and_(q.eq(q.field("a"), 1), ...))``.

The builder turns the lambda's result into a tree once per query; ``compile`` turns the
tree into nested closures so evaluating a row does no dispatch on node types.

Comparisons use Convex's total order across types, with one Python allowance: an ``int``
and a ``float`` compare by numeric value, because a Python literal ``5`` meant for a
``v.number()`` field is an int while the stored value is a float.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from prefmem.errors import InvalidQuery
from prefmem.values import MISSING, Int64, check_value, compare, lookup_path, type_name

Evaluator = Callable[[dict], Any]


class Expr:
    def compile(self) -> Evaluator:
        raise NotImplementedError


class _Field(Expr):
    def __init__(self, path: str) -> None:
        if not isinstance(path, str) or not path:
            raise InvalidQuery(f"q.field takes a non-empty field path, got {path!r}")
        self.path = path

    def compile(self) -> Evaluator:
        path = self.path
        if "." in path:
            return lambda doc: lookup_path(doc, path)
        return lambda doc: doc.get(path, MISSING)


class _Literal(Expr):
    def __init__(self, value: Any) -> None:
        if value is not MISSING:
            try:
                check_value(value)
            except Exception as err:
                raise InvalidQuery(f"filter literal is not a Convex value: {err}") from None
        self.value = value

    def compile(self) -> Evaluator:
        value = self.value
        return lambda doc: value


class _Call(Expr):
    def __init__(self, op: str, args: list[Expr]) -> None:
        self.op = op
        self.args = args

    def compile(self) -> Evaluator:
        parts = [a.compile() for a in self.args]
        op = self.op
        if op == "and":
            return lambda doc: all(_truthy(p(doc), "and_") for p in parts)
        if op == "or":
            return lambda doc: any(_truthy(p(doc), "or_") for p in parts)
        if op == "not":
            (inner,) = parts
            return lambda doc: not _truthy(inner(doc), "not_")
        if op == "neg":
            (inner,) = parts
            return lambda doc: _negate(inner(doc))
        left, right = parts
        if op in _COMPARISONS:
            test = _COMPARISONS[op]
            return lambda doc: test(compare_values(left(doc), right(doc)))
        arith = _ARITHMETIC[op]
        return lambda doc: arith(left(doc), right(doc))


def _truthy(value: Any, op: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidQuery(f"q.{op} takes boolean expressions, got {type_name(value)}")
    return value


def compare_values(a: Any, b: Any) -> int:
    """The total order, except that an int64 and a float64 compare by their exact values."""
    ta, tb = type(a), type(b)
    if ta is tb and (ta is str or ta is int or ta is Int64):
        return (a > b) - (a < b)
    if (ta is Int64) != (tb is Int64) and ta in _NUMBER_TYPES and tb in _NUMBER_TYPES:
        if not ((ta is float and math.isnan(a)) or (tb is float and math.isnan(b))):
            # Python compares an int with a float exactly; float(int) would round 2**53 + 1.
            return (a > b) - (a < b)
    return compare(a, b)


_NUMBER_TYPES = (Int64, int, float)


_COMPARISONS: dict[str, Callable[[int], bool]] = {
    "eq": lambda c: c == 0,
    "neq": lambda c: c != 0,
    "lt": lambda c: c < 0,
    "lte": lambda c: c <= 0,
    "gt": lambda c: c > 0,
    "gte": lambda c: c >= 0,
}


def _numbers(a: Any, b: Any, op: str) -> tuple[Any, Any, bool]:
    """Both as int64s (both are ``Int64``) or both as float64s (a plain int is one)."""
    for x in (a, b):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise InvalidQuery(f"q.{op} takes numbers, got {type_name(x)}")
    both_int = type(a) is Int64 and type(b) is Int64
    return (a, b, True) if both_int else (float(a), float(b), False)


def _wrap_int(n: int) -> Int64:
    """int64 arithmetic wraps, as it does in Convex."""
    return Int64((n + 2**63) % 2**64 - 2**63)


def _add(a: Any, b: Any) -> Any:
    a, b, ints = _numbers(a, b, "add")
    return _wrap_int(a + b) if ints else a + b


def _sub(a: Any, b: Any) -> Any:
    a, b, ints = _numbers(a, b, "sub")
    return _wrap_int(a - b) if ints else a - b


def _mul(a: Any, b: Any) -> Any:
    a, b, ints = _numbers(a, b, "mul")
    return _wrap_int(a * b) if ints else a * b


def _div(a: Any, b: Any) -> Any:
    a, b, ints = _numbers(a, b, "div")
    if ints:
        if b == 0:
            raise InvalidQuery("q.div: integer division by zero")
        quotient = abs(a) // abs(b)
        return _wrap_int(quotient if (a >= 0) == (b > 0) else -quotient)
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _mod(a: Any, b: Any) -> Any:
    a, b, ints = _numbers(a, b, "mod")
    if ints:
        if b == 0:
            raise InvalidQuery("q.mod: integer modulo by zero")
        remainder = abs(a) % abs(b)
        return remainder if a >= 0 else -remainder
    if b == 0.0:
        return math.nan
    return math.fmod(a, b)


def _negate(a: Any) -> Any:
    if isinstance(a, bool) or not isinstance(a, (int, float)):
        raise InvalidQuery(f"q.neg takes a number, got {type_name(a)}")
    return _wrap_int(-a) if type(a) is Int64 else -float(a)


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "add": _add, "sub": _sub, "mul": _mul, "div": _div, "mod": _mod,
}


def _expr(value: Any) -> Expr:
    return value if isinstance(value, Expr) else _Literal(value)


class FilterBuilder:
    """The ``q`` given to a ``.filter`` lambda."""

    def field(self, path: str) -> Expr:
        return _Field(path)

    def eq(self, a: Any, b: Any) -> Expr:
        return _Call("eq", [_expr(a), _expr(b)])

    def neq(self, a: Any, b: Any) -> Expr:
        return _Call("neq", [_expr(a), _expr(b)])

    def lt(self, a: Any, b: Any) -> Expr:
        return _Call("lt", [_expr(a), _expr(b)])

    def lte(self, a: Any, b: Any) -> Expr:
        return _Call("lte", [_expr(a), _expr(b)])

    def gt(self, a: Any, b: Any) -> Expr:
        return _Call("gt", [_expr(a), _expr(b)])

    def gte(self, a: Any, b: Any) -> Expr:
        return _Call("gte", [_expr(a), _expr(b)])

    def and_(self, *exprs: Any) -> Expr:
        return _Call("and", [_expr(e) for e in exprs])

    def or_(self, *exprs: Any) -> Expr:
        return _Call("or", [_expr(e) for e in exprs])

    def not_(self, expr: Any) -> Expr:
        return _Call("not", [_expr(expr)])

    def add(self, a: Any, b: Any) -> Expr:
        return _Call("add", [_expr(a), _expr(b)])

    def sub(self, a: Any, b: Any) -> Expr:
        return _Call("sub", [_expr(a), _expr(b)])

    def mul(self, a: Any, b: Any) -> Expr:
        return _Call("mul", [_expr(a), _expr(b)])

    def div(self, a: Any, b: Any) -> Expr:
        return _Call("div", [_expr(a), _expr(b)])

    def mod(self, a: Any, b: Any) -> Expr:
        return _Call("mod", [_expr(a), _expr(b)])

    def neg(self, a: Any) -> Expr:
        return _Call("neg", [_expr(a)])


def compile_filter(fn: Callable[[FilterBuilder], Any]) -> Callable[[dict], bool]:
    if not callable(fn):
        raise InvalidQuery(".filter takes a function of the filter builder q")
    result = fn(FilterBuilder())
    expr = _expr(result)
    evaluate = expr.compile()

    def predicate(doc: dict) -> bool:
        value = evaluate(doc)
        if not isinstance(value, bool):
            raise InvalidQuery(f".filter expression must produce a boolean, got {type_name(value)}")
        return value

    return predicate
