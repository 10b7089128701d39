"""Convex values in Python: checking, wire JSON, the total order and index-key bytes.

Python types carry Convex's types as the official Python client does: ``None`` is null,
``int`` and ``float`` are float64 (a Convex *number*), ``Int64`` (an ``int`` subclass) is
int64, ``bool``, ``str``, ``bytes``, ``list`` is array and ``dict`` is object. An integral
float64 within ±2^53 reads back as ``int`` (``range(doc["n"])`` works); -0.0, NaN and the
infinities stay ``float``. ``bool`` is tested before ``int`` everywhere because Python
makes it a subclass of ``int``; ``Int64`` is told apart from ``int`` by its exact type.

The index-key encoding is the one mechanism the rest of the runtime leans on: bytes that
sort exactly as the values do, so an index range, a read set, an invalidation test and a
pagination cursor are all the same thing, an interval of byte strings.
"""

from __future__ import annotations

import base64
import decimal
import json
import math
import struct
from typing import Any

import msgspec

from prefmem.errors import InvalidValue

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# The integers a float64 holds exactly, as the official Python client bounds a plain int.
SAFE_MIN = -(2**53)
SAFE_MAX = 2**53


class Int64(int):
    """An int64 (a ``BigInt`` in JavaScript, ``ConvexInt64`` in the official Python client).

    A plain ``int`` is a Convex number; wrap it to send or store an int64. Arithmetic on
    an ``Int64`` gives a plain ``int``, as ``int`` subclasses do: a position declared
    ``v.int64()`` turns the result back into one.
    """

    __slots__ = ()

    def __new__(cls, value: Any = 0) -> "Int64":
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"Int64({value!r}): not an integer")
        number = int.__new__(cls, value)
        if not INT64_MIN <= number <= INT64_MAX:
            raise ValueError(f"Int64({int(number)}): does not fit in 64 bits")
        return number

    def __repr__(self) -> str:
        return f"Int64({int(self)})"

    def __str__(self) -> str:  # f"{n}" prints the number, as for any int
        return int.__repr__(self)

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
    if type(value) is Int64:
        return "int64"
    if isinstance(value, (int, float)):
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


def number_out_of_range(value: int) -> InvalidValue:
    return InvalidValue(f"Integer {value} is outside the range of a Convex number (float64, -2^53 to 2^53); "
                        "wrap it as Int64(n) to send or store an int64")


def unsupported(value: Any, path: str, original: Any) -> InvalidValue:
    """Convex's words for a Python value with no Convex type (a set, a dict with non-string
    keys, an object): the JavaScript client says the same of a ``Set``, a ``Map``, a class."""
    if isinstance(value, (set, frozenset)):
        shown = "Set" + js_stringify(sorted(value, key=repr))
    elif isinstance(value, dict):
        shown = "Map" + js_stringify([[k, v] for k, v in value.items()])
    else:
        shown = f"{type(value).__name__} {js_stringify(value)}"
    if not path:
        return InvalidValue(f"{shown} is not a supported Convex type.")
    return InvalidValue(f"{shown} is not a supported Convex type (present at path {path} in original object "
                        f"{js_stringify(original)}). To learn about Convex's supported types, see "
                        "https://docs.convex.dev/using/types.")


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
        return SAFE_MIN <= value <= SAFE_MAX
    if kind is Int64:
        return True  # its constructor checked the range
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
    _original: Any = None,
) -> None:
    """Raise ``InvalidValue`` unless ``value`` is a Convex value within the shape limits.

    ``path`` is Convex's (``.field[0].inner``), as its messages name where a value is."""
    if _depth == 0:
        if _is_valid(value, 0, max_depth, max_array, max_fields):
            return
        _original = value
    # Something is off (or the value uses subclasses): walk again, naming where.
    if _depth > max_depth:
        raise InvalidValue(f"{path or 'value'}: nesting depth exceeds the limit 'nesting_depth' of {max_depth}")
    if value is None or isinstance(value, (bool, float, bytes)):
        return
    if isinstance(value, int):
        if type(value) is not Int64 and not SAFE_MIN <= value <= SAFE_MAX:
            raise number_out_of_range(value)
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
                        max_fields=max_fields, _depth=_depth + 1, _original=_original)
        return
    if isinstance(value, dict):
        if any(not isinstance(key, str) for key in value):
            raise unsupported(value, path, _original)
        if len(value) > max_fields:
            raise InvalidValue(f"{path or 'value'}: object has {len(value)} fields, over the limit 'object_fields' of {max_fields}")
        for key, item in value.items():
            check_field_name(key, path)
            check_value(item, f"{path}.{key}", max_depth=max_depth, max_array=max_array,
                        max_fields=max_fields, _depth=_depth + 1, _original=_original)
        return
    raise unsupported(value, path, _original)


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
    """Encode a Convex value as Convex's JSON (``$integer``, ``$float``, ``$bytes``).

    A plain ``int`` is a number: it goes out as a JSON float, never as ``$integer``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if type(value) is Int64:
            return {"$integer": _b64(struct.pack("<q", value))}
        return float(value)
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
    raise unsupported(value, "", value)


_JSON_SCALARS = frozenset({str, float, bool, type(None)})  # members that decode to themselves


def from_json(data: Any) -> Any:
    """Decode Convex's JSON into Python values. JSON numbers are float64, as on the wire:
    they stay ``float`` here, so that a ``v.int64()`` argument refuses a number as Convex
    does; the runner gives handlers ``python_numbers`` of them once they are validated.

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
                return Int64(struct.unpack("<q", raw)[0])
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


# ---------------------------------------------------------------------------- numbers as handlers see them

def _is_integral(x: float) -> bool:
    return x.is_integer() and SAFE_MIN <= x <= SAFE_MAX and (x != 0.0 or math.copysign(1.0, x) > 0.0)


def python_number(x: float) -> int | float:
    """A float64 as Python code reads it back: an ``int`` when integral within ±2^53."""
    return int(x) if _is_integral(x) else x


def python_numbers(value: Any) -> Any:
    """``value`` with every integral float64 within ±2^53 as an ``int`` (-0.0 stays a float).

    The same Convex value, as Python code reads it back. Returns ``value`` itself, not a
    copy, when nothing changes. Floats are handled in the loop, not by a call of this each:
    documents and arguments come through here."""
    kind = type(value)
    if kind is float:
        return int(value) if _is_integral(value) else value
    if kind is dict:
        entries: Any = value.items()
    elif kind is list:
        entries = enumerate(value)
    else:
        return value
    changed: Any = None
    for key, item in entries:
        item_kind = type(item)
        if item_kind is float:
            if not _is_integral(item):
                continue
            new: Any = int(item)
        elif item_kind is dict or item_kind is list:
            new = python_numbers(item)
            if new is item:
                continue
        else:
            continue
        if changed is None:
            changed = dict(value) if kind is dict else list(value)
        changed[key] = new
    return value if changed is None else changed


# ---------------------------------------------------------------------------- stored encoding

# Documents (and stored replies) are msgpack. Before int64 was explicit, a msgpack integer
# was an int64; now a plain int is a number and an int64 is an extension value. Values
# written since start with a byte msgpack never uses, so the two are told apart per row
# and databases written before keep their int64s (``_from_legacy``).
_STORED_MARK = 0xC1
_EXT_INT64 = 1


def _encode_int64(value: Any) -> Any:
    if type(value) is Int64:
        return msgspec.msgpack.Ext(_EXT_INT64, struct.pack(">q", value))
    raise NotImplementedError


def _decode_ext(code: int, data: memoryview) -> Any:
    if code != _EXT_INT64:
        raise InvalidValue(f"stored value holds an unknown msgpack extension {code}")
    return Int64(int.from_bytes(data, "big", signed=True))


_stored_encoder = msgspec.msgpack.Encoder(enc_hook=_encode_int64)
_stored_decoder = msgspec.msgpack.Decoder(ext_hook=_decode_ext)
_legacy_decoder = msgspec.msgpack.Decoder()


def encode_stored(value: Any, *, as_read: bool = False) -> bytes:
    """The bytes stored for a Convex value; integral numbers are written as msgpack
    integers, so that reading them back needs no walk over the value. ``as_read``: its
    numbers already are as ``python_numbers`` gives them (a validator made them so)."""
    return b"\xc1" + _stored_encoder.encode(value if as_read else python_numbers(value))


# The msgpack of a value as stored, without the marker: what the size limits measure.
stored_msgpack = _stored_encoder.encode


def decode_stored(data: bytes) -> Any:
    if data and data[0] == _STORED_MARK:
        return _stored_decoder.decode(memoryview(data)[1:])
    return _from_legacy(_legacy_decoder.decode(data))


def _from_legacy(value: Any) -> Any:
    kind = type(value)
    if kind is int:
        return Int64(value)
    if kind is float:
        return int(value) if _is_integral(value) else value
    if kind is list:
        return [_from_legacy(item) for item in value]
    if kind is dict:
        return {key: _from_legacy(item) for key, item in value.items()}
    return value


# ---------------------------------------------------------------------------- values in messages

_MAX_SHOWN = 16384  # as the npm package truncates a value it prints in an error


def js_stringify(value: Any) -> str:
    """A value as Convex's JavaScript prints it in messages (``JSON.stringify`` with
    bigints as ``"123n"``), e.g. a ``ConvexError``'s data in its message."""
    text = _js(value)
    if len(text) > _MAX_SHOWN:
        rest = "[...truncated]"
        text = text[: _MAX_SHOWN - len(rest)] + rest
    return text


def _is_array_index(key: str) -> bool:
    return key.isdigit() and key.isascii() and str(int(key)) == key and int(key) < 2**32 - 1


def _js(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is Int64:
        return f'"{int(value)}n"'
    if isinstance(value, (int, float)):
        return js_number(float(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_js(item) for item in value) + "]"
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        # JavaScript objects list integer-like keys first, in numeric order.
        keys = sorted((k for k in value if _is_array_index(k)), key=int) + [k for k in value if not _is_array_index(k)]
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_js(value[k])}" for k in keys) + "}"
    return "{}"  # bytes (an ArrayBuffer), sets, maps, objects: JSON shows no properties


def js_number(x: float) -> str:
    """``Number.prototype.toString`` (as JSON.stringify writes a number)."""
    if not math.isfinite(x):
        return "null"
    if x == 0.0:
        return "0"
    sign = "-" if x < 0 else ""
    digits_tuple, exponent = decimal.Decimal(repr(abs(x))).normalize().as_tuple()[1:]
    assert isinstance(exponent, int)  # not "n", "N" or "F": x is finite
    digits = "".join(map(str, digits_tuple))
    k, n = len(digits), len(digits) + exponent
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"


def display(value: Any) -> str:
    """A value as Convex's own messages print it (``Value: ...`` of a validation error):
    strings quoted, numbers as Rust prints a float (``123.0``), int64s bare, object keys
    unquoted and sorted."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is Int64:
        return str(int(value))
    if isinstance(value, (int, float)):
        return rust_float(float(value))
    if isinstance(value, str):
        return _rust_string(value)
    if isinstance(value, bytes):
        return f'b"{_b64(value)}"'
    if isinstance(value, list):
        return "[" + ", ".join(display(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {display(value[key])}" for key in sorted(value)) + "}"
    return repr(value)


def rust_float(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = repr(x)
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}e{int(exponent)}"
    return text


def _rust_string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in _RUST_ESCAPES:
            out.append(_RUST_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_RUST_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


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
        if type(value) is Int64:
            out.append(TAG_INT)
            out += (value - INT64_MIN).to_bytes(8, "big")
        else:  # a number: within ±2^53, so float() is exact
            out.append(TAG_FLOAT)
            out += _float_bytes(float(value))
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
        raise unsupported(value, "", value)


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
