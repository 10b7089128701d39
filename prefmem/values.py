"""Convex values in Python: checking, wire JSON, the total order and index-key bytes.

Python types carry Convex's types: ``None`` is null, ``int`` is int64, ``float`` is
float64, ``bool``, ``str``, ``bytes``, ``list`` is array and ``dict`` is object. ``bool``
is tested before ``int`` everywhere because Python makes it a subclass of ``int``.

The index-key encoding is the one mechanism the rest of the runtime leans on: bytes that
sort exactly as the values do, so an index range, a read set, an invalidation test and a
pagination cursor are all the same thing, an interval of byte strings.
"""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

from prefmem.errors import InvalidValue

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# Type tags, in the cross-type order: missing < null < int64 < float64 < boolean
# < string < bytes < array < object. 0x00 is the terminator and 0xFF never starts a
# value, so ``prefix + b"\xff"`` is above every key that extends ``prefix``.
TAG_MISSING = 0x01
TAG_NULL = 0x02
TAG_INT = 0x03
TAG_FLOAT = 0x04
TAG_BOOL = 0x05
TAG_STRING = 0x06
TAG_BYTES = 0x07
TAG_ARRAY = 0x08
TAG_OBJECT = 0x09
KEY_END = b"\xff"


class Missing:
    """The value of an absent field in an index key: it sorts below null."""

    _instance: "Missing | None" = None

    def __new__(cls) -> "Missing":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing()


def type_name(value: Any) -> str:
    """The Convex name of a Python value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def describe(value: Any, limit: int = 60) -> str:
    """A short rendering of a value for error messages."""
    text = f"{type_name(value)} {value!r}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_field_name(name: Any, path: str) -> None:
    if not isinstance(name, str):
        raise InvalidValue(f"{path or 'value'}: object keys must be strings, got {describe(name)}")
    if not name:
        raise InvalidValue(f"{path or 'value'}: object keys must not be empty")
    if name.startswith("$"):
        raise InvalidValue(f"{path or 'value'}: object key {name!r} starts with '$', which is reserved")


_PLAIN_SCALARS = frozenset({type(None), bool, float, bytes})


def _scalar_ok(value: Any, kind: type) -> bool | None:
    """True / False for a scalar, None for a container (or a type to reject later)."""
    if kind in _PLAIN_SCALARS:
        return True
    if kind is str:
        if value.isascii():
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if kind is int:
        return INT64_MIN <= value <= INT64_MAX
    return None


def _is_valid(value: Any, depth: int, max_depth: int, max_array: int, max_fields: int) -> bool:
    """The common case, fast: no paths are built while everything is fine.

    Loops rather than ``all(...)`` over generators, and scalar members checked inline
    without a call each: arguments and documents pass through here on every mutation.
    """
    if depth > max_depth:
        return False
    kind = type(value)
    ok = _scalar_ok(value, kind)
    if ok is not None:
        return ok
    depth += 1
    if kind is list:
        if len(value) > max_array:
            return False
        items: Any = value
    elif kind is dict:
        if len(value) > max_fields:
            return False
        for key in value:
            if type(key) is not str or not key or key[0] == "$":
                return False
        items = value.values()
    else:
        return False
    for item in items:
        item_kind = type(item)
        if item_kind in _PLAIN_SCALARS or (item_kind is str and item.isascii()):
            continue
        if not _is_valid(item, depth, max_depth, max_array, max_fields):
            return False
    return True


def check_value(
    value: Any,
    path: str = "",
    *,
    max_depth: int = 16,
    max_array: int = 8192,
    max_fields: int = 1024,
    _depth: int = 0,
) -> None:
    """Raise ``InvalidValue`` unless ``value`` is a Convex value within the shape limits."""
    if _depth == 0 and _is_valid(value, 0, max_depth, max_array, max_fields):
        return
    # Something is off (or the value uses subclasses): walk again, naming where.
    if _depth > max_depth:
        raise InvalidValue(f"{path or 'value'}: nesting depth exceeds the limit 'nesting_depth' of {max_depth}")
    if value is None or isinstance(value, (bool, float, bytes)):
        return
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise InvalidValue(f"{path or 'value'}: integer {value} does not fit in int64")
        return
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidValue(f"{path or 'value'}: string is not valid Unicode (lone surrogate)") from None
        return
    if isinstance(value, list):
        if len(value) > max_array:
            raise InvalidValue(f"{path or 'value'}: array has {len(value)} items, over the limit 'array_items' of {max_array}")
        for i, item in enumerate(value):
            check_value(item, f"{path}[{i}]", max_depth=max_depth, max_array=max_array,
                        max_fields=max_fields, _depth=_depth + 1)
        return
    if isinstance(value, dict):
        if len(value) > max_fields:
            raise InvalidValue(f"{path or 'value'}: object has {len(value)} fields, over the limit 'object_fields' of {max_fields}")
        for key, item in value.items():
            check_field_name(key, path)
            check_value(item, f"{path}.{key}" if path else key, max_depth=max_depth, max_array=max_array,
                        max_fields=max_fields, _depth=_depth + 1)
        return
    raise InvalidValue(f"{path or 'value'}: {type(value).__name__} is not a Convex value")


# ---------------------------------------------------------------------------- wire JSON

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidValue(f"{what} must hold a base64 string, got {describe(text)}")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise InvalidValue(f"{what} holds invalid base64 {text!r}") from None


def _float_needs_tag(x: float) -> bool:
    return not math.isfinite(x) or (x == 0.0 and math.copysign(1.0, x) < 0)


def to_json(value: Any) -> Any:
    """Encode a Convex value as Convex's JSON (``$integer``, ``$float``, ``$bytes``)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return {"$integer": _b64(struct.pack("<q", value))}
    if isinstance(value, float):
        if _float_needs_tag(value):
            return {"$float": _b64(struct.pack("<d", value))}
        return value
    if isinstance(value, bytes):
        return {"$bytes": _b64(value)}
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    raise InvalidValue(f"{type(value).__name__} is not a Convex value")


_JSON_SCALARS = frozenset({str, float, bool, type(None)})  # members that decode to themselves


def from_json(data: Any) -> Any:
    """Decode Convex's JSON into Python values. JSON numbers are float64, as on the wire.

    Plain members of an array or object are converted in the loop, without a call each:
    every mutation's arguments come through here."""
    try:
        return _from_json(data)
    except RecursionError:
        # A JSON parser accepts nesting hundreds deep; Convex values nest at most 16 (Limits).
        raise InvalidValue("the value is nested too deeply to be a Convex value") from None


def _from_json(data: Any) -> Any:
    if data is None or isinstance(data, (bool, str)):
        return data
    if isinstance(data, (int, float)):
        return float(data)
    if isinstance(data, list):
        items = []
        for item in data:
            kind = type(item)
            items.append(item if kind in _JSON_SCALARS else float(item) if kind is int else _from_json(item))
        return items
    if isinstance(data, dict):
        if len(data) == 1:
            ((key, inner),) = data.items()
            if key == "$integer":
                raw = _unb64(inner, "$integer")
                if len(raw) != 8:
                    raise InvalidValue(f"$integer must be 8 bytes, got {len(raw)}")
                return struct.unpack("<q", raw)[0]
            if key == "$float":
                raw = _unb64(inner, "$float")
                if len(raw) != 8:
                    raise InvalidValue(f"$float must be 8 bytes, got {len(raw)}")
                return struct.unpack("<d", raw)[0]
            if key == "$bytes":
                return _unb64(inner, "$bytes")
        out = {}
        for key, item in data.items():
            if isinstance(key, str) and key.startswith("$"):
                raise InvalidValue(f"object key {key!r} starts with '$', which is reserved")
            kind = type(item)
            out[key] = item if kind in _JSON_SCALARS else float(item) if kind is int else _from_json(item)
        return out
    raise InvalidValue(f"{type(data).__name__} is not valid Convex JSON")


# ---------------------------------------------------------------------------- index keys

_pack_f64 = struct.Struct(">d").pack
_unpack_u64 = struct.Struct(">Q").unpack


def _escaped(data: bytes) -> bytes:
    # 0x00 inside the payload becomes 0x00 0xFF, and a lone 0x00 ends it, so a shorter
    # string still sorts before any longer one it is a prefix of.
    if b"\x00" in data:
        data = data.replace(b"\x00", b"\x00\xff")
    return data + b"\x00"


def _float_bytes(value: float) -> bytes:
    bits = _unpack_u64(_pack_f64(value))[0]
    # IEEE total order as unsigned bytes: flip the sign bit of positives, all bits of negatives.
    return (bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)).to_bytes(8, "big")


def _encode_into(value: Any, out: bytearray) -> None:
    kind = type(value)  # the common exact types first; subclasses take the isinstance chain
    if kind is str or kind is float:
        out.append(TAG_STRING if kind is str else TAG_FLOAT)
        out += _escaped(value.encode("utf-8")) if kind is str else _float_bytes(value)
        return
    if value is MISSING:
        out.append(TAG_MISSING)
    elif value is None:
        out.append(TAG_NULL)
    elif value is True:
        out += b"\x05\x01"
    elif value is False:
        out += b"\x05\x00"
    elif isinstance(value, int):
        out.append(TAG_INT)
        out += (value - INT64_MIN).to_bytes(8, "big")
    elif isinstance(value, float):
        out.append(TAG_FLOAT)
        out += _float_bytes(value)
    elif isinstance(value, str):
        out.append(TAG_STRING)
        out += _escaped(value.encode("utf-8"))
    elif isinstance(value, bytes):
        out.append(TAG_BYTES)
        out += _escaped(value)
    elif isinstance(value, list):
        out.append(TAG_ARRAY)
        for item in value:
            _encode_into(item, out)
        out.append(0)
    elif isinstance(value, dict):
        out.append(TAG_OBJECT)
        for key in sorted(value):
            out.append(TAG_STRING)
            out += _escaped(key.encode("utf-8"))
            _encode_into(value[key], out)
        out.append(0)
    else:
        raise InvalidValue(f"{type(value).__name__} is not a Convex value")


def encode_key(*values: Any) -> bytes:
    """Order-preserving bytes of a tuple of values: ``a < b`` iff ``encode_key(a) < encode_key(b)``."""
    out = bytearray()
    for value in values:
        _encode_into(value, out)
    return bytes(out)


def value_key(value: Any) -> bytes:
    """``encode_key(value)`` for one value. The key of a tuple is its members' keys joined,
    so index keys are built from these; strings and floats (ids, ``_creationTime``, most
    indexed fields) skip the bytearray."""
    kind = type(value)
    if kind is str:
        return b"\x06" + _escaped(value.encode("utf-8"))
    if kind is float:
        return b"\x04" + _float_bytes(value)
    out = bytearray()
    _encode_into(value, out)
    return bytes(out)


def compare(a: Any, b: Any) -> int:
    """Convex's total order across types, as -1, 0 or 1."""
    ka, kb = encode_key(a), encode_key(b)
    return (ka > kb) - (ka < kb)


def lookup_path(doc: dict, path: str) -> Any:
    """The value at a dotted field path, or ``MISSING``."""
    current: Any = doc
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return MISSING
        current = current[part]
    return current
