"""Validators ``v.*``: the shapes of arguments, return values and documents.

Each validator compiles itself once into a plain checking function (closures over the
already-compiled children), so a check is a walk over the value with no interpretation of
the validator tree on the hot path. A check returns the value to store: the only
conversion is a Python ``int`` given for ``v.number()``, which becomes the equal float, as
the official Python client sends whole numbers.

Every failure names the path (``args.items[2].price``) and the expected type.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable

from prefmem import ids
from prefmem.errors import InvalidValue, ValidationError
from prefmem.values import INT64_MAX, INT64_MIN, check_field_name, check_value, describe, to_json, type_name

Check = Callable[[Any, str], Any]


def _fail(path: str, expected: str, value: Any) -> ValidationError:
    where = path or "value"
    return ValidationError(f"{where} must be {expected}, got {describe(value)}")


class Validator:
    """Base class: ``check(value, path)`` validates and returns the value to use."""

    is_optional = False
    expected = "a value"

    def __init__(self) -> None:
        self._check: Check | None = None

    def compile(self) -> Check:
        raise NotImplementedError

    def check(self, value: Any, path: str = "") -> Any:
        if self._check is None:
            self._check = self.compile()
        return self._check(value, path)

    @functools.cached_property
    def shape(self) -> tuple[int, int] | None:
        """``(levels of nested objects, most fields of an object)`` bounding every value this validator
        accepts, when it has such a bound and checks that each scalar is a Convex value;
        None otherwise (``v.any``, arrays, records). Within the limits, such a validator
        alone says a value is a Convex value: the separate shape walk can be skipped."""
        return self._shape()

    def _shape(self) -> tuple[int, int] | None:
        return None

    def describe_json(self) -> Any:
        """A JSON description of the validator, for reports and tooling."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"v<{self.expected}>"


class _Scalar(Validator):
    """A validator of one scalar it checks fully (a Convex value whatever it accepts): no nesting."""

    def _shape(self) -> tuple[int, int] | None:
        return 0, 0


class _Simple(_Scalar):
    def __init__(self, kind: str, expected: str, test: Callable[[Any], bool]) -> None:
        super().__init__()
        self.kind = kind
        self.expected = expected
        self._test = test

    def compile(self) -> Check:
        test, expected = self._test, self.expected

        def check(value: Any, path: str) -> Any:
            if not test(value):
                raise _fail(path, expected, value)
            return value

        return check

    def describe_json(self) -> Any:
        return {"type": self.kind}


class _String(_Scalar):
    expected = "a string"

    def compile(self) -> Check:
        def check(value: Any, path: str) -> Any:
            if type(value) is str and value.isascii():
                return value
            if not isinstance(value, str):
                raise _fail(path, "a string", value)
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError(f"{path or 'value'} is not valid Unicode (it holds a lone surrogate)") from None
            return value

        return check

    def describe_json(self) -> Any:
        return {"type": "string"}


class _Number(_Scalar):
    expected = "a number (float64)"

    def compile(self) -> Check:
        def check(value: Any, path: str) -> Any:
            if isinstance(value, float):
                return value
            if isinstance(value, int) and not isinstance(value, bool):
                if not INT64_MIN <= value <= INT64_MAX:
                    raise ValidationError(f"{path or 'value'}: integer {value} does not fit in int64")
                as_float = float(value)
                if as_float != value:
                    raise ValidationError(f"{path or 'value'}: integer {value} has no exact float64 value")
                return as_float
            raise _fail(path, self.expected, value)

        return check

    def describe_json(self) -> Any:
        return {"type": "number"}


class _Int64(_Scalar):
    expected = "an int64"

    def compile(self) -> Check:
        def check(value: Any, path: str) -> Any:
            if isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX:
                return value
            raise _fail(path, self.expected, value)

        return check

    def describe_json(self) -> Any:
        return {"type": "bigint"}


class _Any(Validator):
    expected = "any value"

    def compile(self) -> Check:
        return lambda value, path: value

    def describe_json(self) -> Any:
        return {"type": "any"}


class _Id(_Scalar):
    def __init__(self, table: str) -> None:
        super().__init__()
        self.table = table
        self.expected = f"an id of table {table!r}"

    def compile(self) -> Check:
        table, expected = self.table, self.expected

        def check(value: Any, path: str) -> Any:
            if not ids.id_table_matches(value, table):
                raise _fail(path, expected, value)
            return value

        return check

    def describe_json(self) -> Any:
        return {"type": "id", "tableName": self.table}


class _Literal(Validator):
    def __init__(self, literal: Any) -> None:
        super().__init__()
        if not (literal is None or isinstance(literal, (str, int, float, bool))):
            raise TypeError(f"v.literal takes a string, number or boolean, got {type_name(literal)}")
        self.literal = literal
        self.expected = f"the literal {literal!r}"

    def compile(self) -> Check:
        literal, expected = self.literal, self.expected
        literal_type = type(literal)

        def check(value: Any, path: str) -> Any:
            if type(value) is not literal_type or value != literal:
                if literal_type is float and type(value) is int and value == literal:
                    return float(value)
                raise _fail(path, expected, value)
            return value

        return check

    def _shape(self) -> tuple[int, int] | None:
        try:
            check_value(self.literal)
        except InvalidValue:  # an integer beyond int64: leave it to the shape walk to refuse
            return None
        return 0, 0

    def describe_json(self) -> Any:
        return {"type": "literal", "value": to_json(self.literal)}


class _Array(Validator):
    def __init__(self, element: Validator) -> None:
        super().__init__()
        _require_validator(element, "v.array")
        self.element = element
        self.expected = f"an array of {element.expected}"

    def compile(self) -> Check:
        element = self.element.compile()
        expected = self.expected

        def check(value: Any, path: str) -> Any:
            if not isinstance(value, list):
                raise _fail(path, expected, value)
            return [element(item, f"{path}[{i}]") for i, item in enumerate(value)]

        return check

    def describe_json(self) -> Any:
        return {"type": "array", "value": self.element.describe_json()}


class _Object(Validator):
    expected = "an object"

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
        required = [name for name, (_, optional) in compiled.items() if not optional]

        def check(value: Any, path: str) -> Any:
            if not isinstance(value, dict):
                raise _fail(path, "an object", value)
            out = {}
            for name, item in value.items():
                spec = compiled.get(name)
                if spec is None:
                    where = f"{path}.{name}" if path else name
                    raise ValidationError(
                        f"{where} is not an allowed field (expected only {', '.join(sorted(compiled)) or 'no fields'})")
                out[name] = spec[0](item, f"{path}.{name}" if path else name)
            for name in required:
                if name not in value:
                    where = f"{path}.{name}" if path else name
                    raise ValidationError(f"{where} is required ({self.fields[name].expected}) but missing")
            return out

        return check

    def _shape(self) -> tuple[int, int] | None:
        shapes = [val.shape for val in self.fields.values()]
        if None in shapes:
            return None
        depth = 1 + max((depth for depth, _ in shapes), default=0)
        return depth, max(len(self.fields), max((width for _, width in shapes), default=0))

    def describe_json(self) -> Any:
        return {
            "type": "object",
            "value": {name: {"fieldType": val.describe_json(), "optional": val.is_optional}
                      for name, val in self.fields.items()},
        }


class _Record(Validator):
    def __init__(self, keys: Validator, values: Validator) -> None:
        super().__init__()
        _require_validator(keys, "v.record keys")
        _require_validator(values, "v.record values")
        self.keys, self.values = keys, values
        self.expected = f"a record of {keys.expected} to {values.expected}"

    def compile(self) -> Check:
        keys, values, expected = self.keys.compile(), self.values.compile(), self.expected

        def check(value: Any, path: str) -> Any:
            if not isinstance(value, dict):
                raise _fail(path, expected, value)
            out = {}
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                check_field_name(key, path)
                keys(key, f"{where} (key)")
                out[key] = values(item, where)
            return out

        return check

    def describe_json(self) -> Any:
        return {"type": "record", "keys": self.keys.describe_json(), "values": self.values.describe_json()}


class _Union(Validator):
    def __init__(self, members: Iterable[Validator]) -> None:
        super().__init__()
        self.members = list(members)
        for member in self.members:
            _require_validator(member, "v.union")
        self.expected = " or ".join(m.expected for m in self.members) or "nothing (empty union)"

    def compile(self) -> Check:
        members = [m.compile() for m in self.members]
        expected = self.expected

        def check(value: Any, path: str) -> Any:
            errors = []
            for member in members:
                try:
                    return member(value, path)
                except ValidationError as err:
                    errors.append(str(err))
            # One member close enough to fail deeper than the top level is the likely intent.
            deep = [e for e in errors if not e.startswith(f"{path or 'value'} must be")]
            if len(deep) == 1:
                raise ValidationError(deep[0])
            raise _fail(path, expected, value)

        return check

    def _shape(self) -> tuple[int, int] | None:
        shapes = [m.shape for m in self.members]
        if None in shapes or not shapes:
            return None
        return max(depth for depth, _ in shapes), max(width for _, width in shapes)

    def describe_json(self) -> Any:
        return {"type": "union", "value": [m.describe_json() for m in self.members]}


class _Optional(Validator):
    is_optional = True

    def __init__(self, inner: Validator) -> None:
        super().__init__()
        _require_validator(inner, "v.optional")
        self.inner = inner
        self.expected = inner.expected

    def compile(self) -> Check:
        return self.inner.compile()

    def _shape(self) -> tuple[int, int] | None:
        return self.inner.shape

    def describe_json(self) -> Any:
        return self.inner.describe_json()


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
        return _Simple("boolean", "a boolean", lambda x: isinstance(x, bool))

    @staticmethod
    def null() -> Validator:
        return _Simple("null", "null", lambda x: x is None)

    @staticmethod
    def bytes() -> Validator:
        return _Simple("bytes", "bytes", lambda x: isinstance(x, bytes))

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
