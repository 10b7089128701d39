"""Ids: URL-safe, unique, encode their table, reject anything else (including non-canonical spellings)."""

from __future__ import annotations

import base64
import binascii
import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from prefmem import ids

ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
table_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,20}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(table_names, table_names)
def test_id_encodes_its_table(table, other):
    doc_id = ids.new_id(table)
    assert re.fullmatch(r"[a-z2-7]+", doc_id)  # URL-safe, lowercase base32
    assert ids.table_number_of(doc_id) == ids.table_number(table)
    assert ids.id_table_matches(doc_id, table)
    if ids.table_number(other) != ids.table_number(table):
        assert not ids.id_table_matches(doc_id, other)
    assert not ids.id_table_matches(doc_id.upper(), table)


def test_ids_are_unique():
    made = {ids.new_id("users") for _ in range(5000)}
    assert len(made) == 5000


@settings(max_examples=200, deadline=None)
@given(table_names, st.integers(0, 40), st.integers(1, 31))
def test_single_character_changes_are_not_the_same_id(table, position, delta):
    """Any other spelling either is not an id or is a different id: never an alias of this one."""
    doc_id = ids.new_id(table)
    position %= len(doc_id)
    changed = doc_id[:position] + ALPHABET[(ALPHABET.index(doc_id[position]) + delta) % 32] + doc_id[position + 1:]
    if ids.table_number_of(changed) is not None:
        # Accepted spellings must be canonical, so a lookup by the string finds the right document.
        assert _canonical(changed)


def _canonical(text: str) -> bool:
    import base64
    raw = base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    return base64.b32encode(raw).decode().rstrip("=").lower() == text


def test_padding_bits_do_not_make_aliases():
    doc_id = ids.new_id("users")
    last = ALPHABET.index(doc_id[-1])
    aliases = [doc_id[:-1] + ALPHABET[last ^ k] for k in range(1, 32)]
    assert [a for a in aliases if ids.table_number_of(a) is not None] == []


def test_garbage_is_not_an_id():
    for text in ["", "x", "a" * 36, "!" * 36, ids.new_id("users")[:-2], ids.new_id("users") + "aa", None, 5, b"id"]:
        assert ids.table_number_of(text) is None, text


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=40))
def test_base32_matches_the_standard_library(raw):
    assert ids.encode_base32(raw) == base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def _short_varint_table() -> str:
    """A table whose number takes fewer than 4 varint bytes (about one name in 130)."""
    n = 0
    while ids.table_number(f"t{n}") >= 1 << 21:
        n += 1
    return f"t{n}"


@settings(max_examples=200, deadline=None)
@given(table_names, st.booleans())
def test_an_id_is_the_base32_of_its_payload_and_checksum(table, short_varint):
    """Ids made from cached heads and pooled random characters spell exactly the standard
    encoding, whether the table's head fills whole base32 groups or not."""
    if short_varint:
        table = _short_varint_table()
    for _ in range(3):  # a cached head is reused
        doc_id = ids.new_id(table)
        raw = base64.b32decode(doc_id.upper() + "=" * (-len(doc_id) % 8))
        payload = raw[:-2]
        assert raw[-2:] == (binascii.crc32(payload) & 0xFFFF).to_bytes(2, "big")
        assert doc_id == base64.b32encode(payload + raw[-2:]).decode().rstrip("=").lower()
        assert len(payload) == len(ids._table_prefix(table)) + 16


def test_random_parts_differ_across_a_pool_refill():
    made = [ids.new_id("users") for _ in range(3 * ids._POOL_IDS)]
    assert len({doc_id[-20:-4] for doc_id in made}) == len(made)


def test_ids_start_with_their_creation_millisecond():
    """Ids made close in time share a prefix, so a batch's inserts land on the same B-tree pages."""
    before = time.time_ns() // 1_000_000
    made = [ids.new_id("users") for _ in range(50)]
    after = time.time_ns() // 1_000_000
    prefix = len(ids._table_prefix("users"))
    stamps = []
    for doc_id in made:
        raw = base64.b32decode(doc_id.upper() + "=" * (-len(doc_id) % 8))
        stamps.append(int.from_bytes(raw[prefix:prefix + 6], "big"))
    assert all(before <= s <= after for s in stamps)
    assert stamps == sorted(stamps)


def test_a_forked_child_does_not_repeat_the_parents_ids():
    """Randomness is drawn in blocks; a child process must not reuse the parent's block."""
    import os

    ids.new_id("users")  # the parent now holds a block of entropy
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, ids.new_id("users").encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.waitpid(pid, 0)
    parent = ids.new_id("users")
    prefix = len(ids._table_prefix("users"))

    def random_part(doc_id: str) -> bytes:
        raw = base64.b32decode(doc_id.upper() + "=" * (-len(doc_id) % 8))
        return raw[prefix + 6:-2]

    assert random_part(child) != random_part(parent)
