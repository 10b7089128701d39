"""Document ids that name their table.

An id is lowercase base32 (URL-safe, no padding) of: the table's number as a varint, 16
bytes (the creation millisecond in 6, then 10 random bytes), and a 2-byte checksum. The
table number lets ``db.get`` and ``v.id(table)`` know the table from the id alone; the
checksum turns most typos into "not an id" instead of a lookup of the wrong document.

Why the millisecond first: documents and the ``by_id`` index are keyed by id, and random
keys scatter a batch's inserts over the whole B-tree, so each commit rewrote about one
page per insert. Ids made close in time share a prefix and land on the same few pages:
an insert costs a third of the SQLite time (bench/README.md, W5). 80 random bits still
make an id unguessable from its neighbours.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import time

_RANDOM_BYTES = 16  # the body after the table number: 6 bytes of time, 10 random
_TIME_BYTES = 6
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)  # every 10-bit group as two characters


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes) -> tuple[int, int]:
    value = shift = 0
    for i, byte in enumerate(data[:5]):
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i + 1
        shift += 7
    raise ValueError("bad varint")


def _checksum(payload: bytes) -> bytes:
    return (binascii.crc32(payload) & 0xFFFF).to_bytes(2, "big")


def encode_base32(raw: bytes) -> str:
    """``base64.b32encode(raw)``, lowercase, without padding: ten bits per table lookup.

    The standard library's encoder loops in Python per five bytes; this one works on a
    short payload (an id, an id's head) as one integer. Quadratic in the length: not for
    long inputs.
    """
    pad = -len(raw) % 5
    value = int.from_bytes(raw, "big") << (8 * pad)
    groups = (len(raw) + pad) // 5 * 4
    text = "".join([_PAIRS[(value >> shift) & 0x3FF] for shift in range(10 * (groups - 1), -1, -10)])
    return text[: (len(raw) * 8 + 4) // 5]


# An id's random part is made from its characters: random bytes, each taken mod 32, are
# translated once per block (in C) into base32 characters and into the digits of Python's
# base-32 integers, whose ``int(digits, 32)`` gives the ten bytes those characters encode.
# One syscall and two translations per ~400 ids, and no Python loop per character.
_POOL_IDS = 409
_DIGITS = b"0123456789abcdefghijklmnopqrstuv"
_TO_CHARS = bytes(_ALPHABET.encode("ascii")[b % 32] for b in range(256))
_TO_DIGITS = bytes(_DIGITS[b % 32] for b in range(256))
_pool_digits = b""
_pool_chars = ""
_pool_next = _POOL_IDS  # the next unused slot of 16 characters


def _clear_pool() -> None:
    global _pool_next
    _pool_next = _POOL_IDS


os.register_at_fork(after_in_child=_clear_pool)  # a forked child must not repeat the parent's ids


def _random_slot() -> tuple[bytes, str]:
    """Ten random bytes and their sixteen base32 characters."""
    global _pool_digits, _pool_chars, _pool_next
    if _pool_next >= _POOL_IDS:
        drawn = os.urandom(16 * _POOL_IDS)  # 256 is a multiple of 32: every character is uniform
        _pool_digits, _pool_chars = drawn.translate(_TO_DIGITS), drawn.translate(_TO_CHARS).decode("ascii")
        _pool_next = 0
    at = 16 * _pool_next
    _pool_next += 1
    return int(_pool_digits[at: at + 16], 32).to_bytes(10, "big"), _pool_chars[at: at + 16]


# Per table, the id head of the current millisecond: (ms, head bytes, their characters,
# the CRC of the head). The head (table number, creation millisecond) is the same for
# every id of a table made in one millisecond; when it is a whole number of 5-byte groups
# its characters are too, and only the random part and the checksum are new per id.
_heads: dict[str, tuple[int, bytes, str | None, int]] = {}


def _head(table: str, ms: int) -> tuple[int, bytes, str | None, int]:
    head = _table_prefix(table) + ms.to_bytes(_TIME_BYTES, "big")
    chars = encode_base32(head) if len(head) % 5 == 0 else None
    _heads[table] = found = (ms, head, chars, binascii.crc32(head))
    return found


def new_id(table: str) -> str:
    ms = time.time_ns() // 1_000_000
    head = _heads.get(table)
    if head is None or head[0] != ms:
        head = _head(table, ms)
    random_bytes, random_chars = _random_slot()
    if head[2] is None:  # a table number whose varint leaves the head unaligned: encode it all
        payload = head[1] + random_bytes
        return encode_base32(payload + _checksum(payload))
    check = binascii.crc32(random_bytes, head[3]) & 0xFFFF
    # The 2-byte checksum and 4 zero bits of padding are the last four characters.
    return head[2] + random_chars + _PAIRS[check >> 6] + _PAIRS[(check & 0x3F) << 4]


@functools.lru_cache(maxsize=4096)
def _table_prefix(table: str) -> bytes:
    return _varint(table_number(table))


def table_number_of(text: object) -> int | None:
    """The table number encoded in ``text``, or None if it is not a well-formed id."""
    if not isinstance(text, str) or not 20 <= len(text) <= 40:
        return None
    return _decode_table_number(text)


@functools.lru_cache(maxsize=65536)
def _decode_table_number(text: str) -> int | None:
    # Ids are checked on every argument validation and every get: a recently seen id is
    # decoded once.
    padded = text.upper() + "=" * (-len(text) % 8)
    try:
        raw = base64.b32decode(padded)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < _RANDOM_BYTES + 3 or _checksum(raw[:-2]) != raw[-2:]:
        return None
    # The unused low bits of the last character must be zero: otherwise up to 16 spellings
    # would decode to one id, and a lookup by a non-canonical spelling finds nothing.
    if encode_base32(raw) != text.lower():
        return None
    try:
        number, used = _read_varint(raw)
    except ValueError:
        return None
    if used + _RANDOM_BYTES + 2 != len(raw):
        return None
    return number


@functools.lru_cache(maxsize=4096)
def table_number(table: str) -> int:
    """A table's number, derived from its name so ids need no registry to be checked."""
    number = binascii.crc32(table.encode("utf-8")) & 0x0FFFFFFF
    _names.setdefault(number, table)
    return number


# Names of the tables whose numbers were asked for (every table of an open database is),
# so a message can name the table an id belongs to, as Convex's do.
_names: dict[int, str] = {}


def table_name_of(text: object) -> str | None:
    """The name of the table ``text`` is an id of, if it is an id of a table known here."""
    number = table_number_of(text)
    return None if number is None else _names.get(number)


def id_table_matches(text: object, table: str) -> bool:
    return isinstance(text, str) and text == text.lower() and table_number_of(text) == table_number(table)
