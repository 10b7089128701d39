"""Validators ``v.*``: the shapes of arguments, return values and documents.

Each validator compiles itself once into a plain checking function (closures over the
already-compiled children), so a check is a walk over the value with no interpretation of
the validator tree on the hot path. A check returns the value to use: a plain ``int`` in a
``v.int64()`` position becomes an ``Int64`` (int64 is explicit, and a position that
declares it is explicit enough), and a number as Python reads it back (an integral float
becomes an ``int``, ``python_number``), so a value whose every number a validator typed
needs no ``python_numbers`` walk of its own (``normalizes_numbers``).

Failures are worded as Convex words them (``Value does not match validator.`` with the
``Path``, the ``Value`` and the ``Validator``, missing and extra object fields), and found
in the order Convex finds them, so a client sees the same first error either way.
"""

from __future__ import annotations

import functools
import json
from math import copysign
from typing import Any, Callable, Iterable, Protocol

from prefmem import ids
from prefmem.errors import InvalidValue, ValidationError
from prefmem.values import (INT64_MAX, INT64_MIN, SAFE_MAX, SAFE_MIN, Int64, check_field_name, check_value, display,
                            number_out_of_range, python_number, rust_float, to_json, type_name, unsupported)


class Check(Protocol):
    """A compiled validator. ``path`` is optional, as it is on ``Validator.check``, which
    the compiled function replaces on its instance."""

    def __call__(self, value: Any, path: str = "") -> Any: ...


def _context(path: str) -> str:
    return f"Path: {path}" if path else ""


def _no_match(value: Any, validator: "Validator", path: str) -> ValidationError:
    return ValidationError(f"Value does not match validator.\n{_context(path)}\nValue: {display(value)}\n"
                           f"Validator: {validator}")


class Validator:
    """Base class: ``check(value, path)`` validates and returns the value to use.

    ``str(validator)`` is how Convex writes it in messages (``v.object({name: v.string()})``).
    """

    is_optional = False

    def compile(self) -> Check:
        raise NotImplementedError

    def check(self, value: Any, path: str = "") -> Any:
        # The first check compiles; the compiled function then stands in for this method on
        # the instance, so the checks every mutation makes (arguments, documents) call it
        # directly.
        self.check = compiled = self.compile()  # type: ignore[method-assign]
        return compiled(value, path)

    @functools.cached_property
    def shape(self) -> tuple[int, int] | None:
        """``(levels of nested objects, most fields of an object)`` bounding every value this validator
        accepts, when it has such a bound and checks that each scalar is a Convex value;
        None otherwise (``v.any``, arrays, records). Within the limits, such a validator
        alone says a value is a Convex value: the separate shape walk can be skipped."""
        return self._shape()

    def _shape(self) -> tuple[int, int] | None:
        return None

    @functools.cached_property
    def normalizes_numbers(self) -> bool:
        """Whether every number in what ``check`` returns is as ``python_numbers`` gives it:
        true unless a ``v.any()`` (a number it does not type) is inside."""
        return self._normalizes()

    def _normalizes(self) -> bool:
        return False

    def describe_json(self) -> Any:
        """A JSON description of the validator, for reports and tooling."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self}>"


class _Scalar(Validator):
    """A validator of one scalar it checks fully (a Convex value whatever it accepts): no nesting."""

    def _shape(self) -> tuple[int, int] | None:
        return 0, 0

    def _normalizes(self) -> bool:
        return True


class _Simple(_Scalar):
    def __init__(self, kind: str, test: Callable[[Any], bool]) -> None:
        super().__init__()
        self.kind = kind
        self._test = test

    def compile(self) -> Check:
        test = self._test

        def check(value: Any, path: str = "") -> Any:
            if not test(value):
                raise _no_match(value, self, path)
            return value

        return check

    def describe_json(self) -> Any:
        return {"type": self.kind}

    def __str__(self) -> str:
        return f"v.{self.kind}()"


class _String(_Scalar):
    def compile(self) -> Check:
        def check(value: Any, path: str = "") -> Any:
            if type(value) is str and value.isascii():
                return value
            if not isinstance(value, str):
                raise _no_match(value, self, path)
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError(f"{path or 'value'} is not valid Unicode (it holds a lone surrogate)") from None
            return value

        return check

    def describe_json(self) -> Any:
        return {"type": "string"}

    def __str__(self) -> str:
        return "v.string()"


class _Number(_Scalar):
    """A float64. A plain ``int`` is one too (within ±2^53, where a float64 is exact)."""

    def compile(self) -> Check:
        def check(value: Any, path: str = "") -> Any:
            kind = type(value)
            if kind is float:
                # python_number, inline: every number of every argument and document passes here.
                if value.is_integer() and SAFE_MIN <= value <= SAFE_MAX and (value or copysign(1.0, value) > 0.0):
                    return int(value)
                return value
            if kind is int:
                if not SAFE_MIN <= value <= SAFE_MAX:
                    raise number_out_of_range(value)
                return value
            raise _no_match(value, self, path)

        return check

    def describe_json(self) -> Any:
        return {"type": "number"}

    def __str__(self) -> str:
        return "v.float64()"


class _Int64(_Scalar):
    def compile(self) -> Check:
        def check(value: Any, path: str = "") -> Any:
            kind = type(value)
            if kind is Int64:
                return value
            if kind is int and INT64_MIN <= value <= INT64_MAX:
                return Int64(value)
            raise _no_match(value, self, path)

        return check

    def describe_json(self) -> Any:
        return {"type": "bigint"}

    def __str__(self) -> str:
        return "v.int64()"


class _Any(Validator):
    def compile(self) -> Check:
        return lambda value, path="": value

    def describe_json(self) -> Any:
        return {"type": "any"}

    def __str__(self) -> str:
        return "v.any()"


class _Id(_Scalar):
    def __init__(self, table: str) -> None:
        super().__init__()
        self.table = table

    def compile(self) -> Check:
        table = self.table

        def check(value: Any, path: str = "") -> Any:
            if not ids.id_table_matches(value, table):
                found = ids.table_name_of(value) if isinstance(value, str) and value == value.lower() else None
                if found is None:
                    raise _no_match(value, self, path)
                where = "a system table" if found.startswith("_") else f"table `{found}`"
                raise ValidationError(f'Found ID "{value}" from {where}, which does not match the table name in '
                                      f"validator `v.id({json.dumps(table)})`.{_context(path)}")
            return value

        return check

    def describe_json(self) -> Any:
        return {"type": "id", "tableName": self.table}

    def __str__(self) -> str:
        return f"v.id({json.dumps(self.table)})"


class _Literal(Validator):
    def __init__(self, literal: Any) -> None:
        super().__init__()
        if not (literal is None or isinstance(literal, (str, int, float, bool))):
            raise TypeError(f"v.literal takes a string, number, bigint (Int64) or boolean, got {type_name(literal)}")
        self.literal = literal

    def compile(self) -> Check:
        literal = self.literal
        if type(literal) is Int64:
            def same(value: Any) -> bool:
                return type(value) in (Int64, int) and value == literal
        elif type(literal) in (int, float):
            def same(value: Any) -> bool:
                return type(value) in (int, float) and value == literal
        else:
            def same(value: Any) -> bool:
                return type(value) is type(literal) and value == literal

        def check(value: Any, path: str = "") -> Any:
            if not same(value):
                raise ValidationError(f"`{display(value)}` does not match literal validator `{self}`.{_context(path)}")
            if type(literal) is Int64:
                return Int64(value)
            return python_number(value) if type(value) is float else value

        return check

    def _normalizes(self) -> bool:
        return True

    def _shape(self) -> tuple[int, int] | None:
        try:
            check_value(self.literal)
        except InvalidValue:  # an integer beyond ±2^53: leave it to the shape walk to refuse
            return None
        return 0, 0

    def describe_json(self) -> Any:
        return {"type": "literal", "value": to_json(self.literal)}

    def __str__(self) -> str:
        literal = self.literal
        if type(literal) is Int64:
            shown = "<bigint>"
        elif literal is None or isinstance(literal, (bool, str)):
            shown = json.dumps(literal, ensure_ascii=False)
        else:
            number = float(literal)
            shown = rust_float(number) if number == number and abs(number) != float("inf") else "<number>"
        return f"v.literal({shown})"


class _Array(Validator):
    def __init__(self, element: Validator) -> None:
        super().__init__()
        _require_validator(element, "v.array")
        self.element = element

    def compile(self) -> Check:
        element = self.element.compile()

        def check(value: Any, path: str = "") -> Any:
            if not isinstance(value, list):
                raise _no_match(value, self, path)
            return [element(item, f"{path}[{i}]") for i, item in enumerate(value)]

        return check

    def _normalizes(self) -> bool:
        return self.element.normalizes_numbers

    def describe_json(self) -> Any:
        return {"type": "array", "value": self.element.describe_json()}

    def __str__(self) -> str:
        return f"v.array({self.element})"


class _Object(Validator):
    def __init__(self, fields: dict[str, Validator]) -> None:
        super().__init__()
        if not isinstance(fields, dict):
            raise TypeError("v.object takes a dict of field name to validator")
        for name, validator in fields.items():
            check_field_name(name, "v.object")
            _require_validator(validator, f"v.object field {name!r}")
        self.fields = fields

    def compile(self) -> Check:
        compiled = {name: (val.compile(), val.is_optional) for name, val in self.fields.items()}
        in_order = sorted(compiled.items())  # Convex checks fields in name order
        required = [name for name, (_, optional) in compiled.items() if not optional]

        def first_error(value: dict, path: str) -> ValidationError:
            """The error Convex reports: fields in name order, missing ones, then extra ones."""
            for name, (field_check, optional) in in_order:
                if name in value:
                    try:
                        field_check(value[name], f"{path}.{name}")
                    except ValidationError as err:
                        return err
                elif not optional:
                    return ValidationError(
                        f"Object is missing the required field `{name}`. Consider wrapping the field validator in "
                        f"`v.optional(...)` if this is expected.\n{_context(path)}\nObject: {display(value)}\n"
                        f"Validator: {self}")
            if any(not isinstance(name, str) for name in value):
                raise unsupported(value, path, value)
            extra = min(name for name in value if name not in compiled)
            return ValidationError(f"Object contains extra field `{extra}` that is not in the validator.\n"
                                   f"{_context(path)}\nObject: {display(value)}\nValidator: {self}")

        def check(value: Any, path: str = "") -> Any:
            if not isinstance(value, dict):
                raise _no_match(value, self, path)
            out = {}
            try:
                for name, item in value.items():
                    out[name] = compiled[name][0](item, f"{path}.{name}")
            except (KeyError, ValidationError):
                raise first_error(value, path) from None
            for name in required:
                if name not in value:
                    raise first_error(value, path)
            return out

        return check

    def _normalizes(self) -> bool:
        return all(val.normalizes_numbers for val in self.fields.values())

    def _shape(self) -> tuple[int, int] | None:
        shapes = [shape for val in self.fields.values() if (shape := val.shape) is not None]
        if len(shapes) < len(self.fields):
            return None
        depth = 1 + max((depth for depth, _ in shapes), default=0)
        return depth, max(len(self.fields), max((width for _, width in shapes), default=0))

    def describe_json(self) -> Any:
        return {
            "type": "object",
            "value": {name: {"fieldType": val.describe_json(), "optional": val.is_optional}
                      for name, val in self.fields.items()},
        }

    def __str__(self) -> str:
        return "v.object({" + ", ".join(f"{name}: {val}" for name, val in sorted(self.fields.items())) + "})"


class _Record(Validator):
    def __init__(self, keys: Validator, values: Validator) -> None:
        super().__init__()
        _require_validator(keys, "v.record keys")
        _require_validator(values, "v.record values")
        self.keys, self.values = keys, values

    def compile(self) -> Check:
        keys, values = self.keys.compile(), self.values.compile()

        def check(value: Any, path: str = "") -> Any:
            if not isinstance(value, dict):
                raise _no_match(value, self, path)
            out = {}
            for key, item in value.items():
                check_field_name(key, path)
                keys(key, f"{path}.keys()")
                out[key] = values(item, f"{path}.values()")
            return out

        return check

    def _normalizes(self) -> bool:
        return self.values.normalizes_numbers

    def describe_json(self) -> Any:
        return {"type": "record", "keys": self.keys.describe_json(), "values": self.values.describe_json()}

    def __str__(self) -> str:
        return f"v.record({self.keys}, {self.values})"


class _Union(Validator):
    def __init__(self, members: Iterable[Validator]) -> None:
        super().__init__()
        self.members = list(members)
        for member in self.members:
            _require_validator(member, "v.union")

    def compile(self) -> Check:
        members = [m.compile() for m in self.members]
        if len(members) == 1:
            return members[0]  # as Convex: a union of one reports its member's error

        def check(value: Any, path: str = "") -> Any:
            for member in members:
                try:
                    return member(value, path)
                except ValidationError:
                    continue
            raise _no_match(value, self, path)

        return check

    def _normalizes(self) -> bool:
        return all(m.normalizes_numbers for m in self.members)

    def _shape(self) -> tuple[int, int] | None:
        shapes = [shape for m in self.members if (shape := m.shape) is not None]
        if len(shapes) < len(self.members) or not shapes:
            return None
        return max(depth for depth, _ in shapes), max(width for _, width in shapes)

    def describe_json(self) -> Any:
        return {"type": "union", "value": [m.describe_json() for m in self.members]}

    def __str__(self) -> str:
        return "v.union(" + ", ".join(str(m) for m in self.members) + ")"


class _Optional(Validator):
    is_optional = True

    def __init__(self, inner: Validator) -> None:
        super().__init__()
        _require_validator(inner, "v.optional")
        self.inner = inner

    def compile(self) -> Check:
        return self.inner.compile()

    def _normalizes(self) -> bool:
        return self.inner.normalizes_numbers

    def _shape(self) -> tuple[int, int] | None:
        return self.inner.shape

    def describe_json(self) -> Any:
        return self.inner.describe_json()

    def __str__(self) -> str:
        return f"v.optional({self.inner})"


def _require_validator(value: Any, where: str) -> None:
    if not isinstance(value, Validator):
        raise TypeError(f"{where} expects a validator from v.*, got {type(value).__name__}")


class _V:
    """The ``v`` namespace."""

    @staticmethod
    def string() -> Validator:
        return _String()

    @staticmethod
    def number() -> Validator:
        return _Number()

    float64 = number

    @staticmethod
    def int64() -> Validator:
        return _Int64()

    @staticmethod
    def boolean() -> Validator:
        return _Simple("boolean", lambda x: isinstance(x, bool))

    @staticmethod
    def null() -> Validator:
        return _Simple("null", lambda x: x is None)

    @staticmethod
    def bytes() -> Validator:
        return _Simple("bytes", lambda x: isinstance(x, bytes))

    @staticmethod
    def any() -> Validator:
        return _Any()

    @staticmethod
    def id(table: str) -> Validator:
        return _Id(table)

    @staticmethod
    def literal(value: Any) -> Validator:
        return _Literal(value)

    @staticmethod
    def array(element: Validator) -> Validator:
        return _Array(element)

    @staticmethod
    def object(fields: dict[str, Validator]) -> Validator:
        return _Object(fields)

    @staticmethod
    def record(keys: Validator, values: Validator) -> Validator:
        return _Record(keys, values)

    @staticmethod
    def union(*members: Validator) -> Validator:
        return _Union(members)

    @staticmethod
    def optional(inner: Validator) -> Validator:
        return _Optional(inner)

    @staticmethod
    def nullable(inner: Validator) -> Validator:
        return _Union([inner, _V.null()])


v = _V()


def args_validator(args: dict[str, Validator] | Validator | None) -> Validator | None:
    """``args=`` may be a dict of field validators (as in Convex) or a ``v.object``."""
    if args is None or isinstance(args, Validator):
        return args
    return _Object(args)
