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

    The standard library's encoder loops in Python per five bytes; ids are made on every
    insert, so this one works on the whole payload as one integer.
    """
    pad = -len(raw) % 5
    value = int.from_bytes(raw, "big") << (8 * pad)
    groups = (len(raw) + pad) // 5 * 4
    text = "".join([_PAIRS[(value >> shift) & 0x3FF] for shift in range(10 * (groups - 1), -1, -10)])
    return text[: (len(raw) * 8 + 4) // 5]


_entropy = bytearray()  # os.urandom drawn 4 KiB at a time: one syscall per ~400 ids, not per id
os.register_at_fork(after_in_child=_entropy.clear)  # a forked child must not repeat the parent's ids


def _random_bytes(n: int) -> bytes:
    if len(_entropy) < n:
        _entropy[:] = os.urandom(4096)
    out = bytes(_entropy[-n:])
    del _entropy[-n:]
    return out


def new_id(table: str) -> str:
    stamp = (time.time_ns() // 1_000_000).to_bytes(_TIME_BYTES, "big")
    payload = _table_prefix(table) + stamp + _random_bytes(_RANDOM_BYTES - _TIME_BYTES)
    return encode_base32(payload + _checksum(payload))


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


def table_number(table: str) -> int:
    """A table's number, derived from its name so ids need no registry to be checked."""
    return binascii.crc32(table.encode("utf-8")) & 0x0FFFFFFF


def id_table_matches(text: object, table: str) -> bool:
    return isinstance(text, str) and text == text.lower() and table_number_of(text) == table_number(table)
