"""Read sets and write sets: what a transaction consumed and what it changed.

A read set is, per index, the key intervals a function actually read; a write set is, per
index, the keys (old and new versions) a commit changed. A subscription is stale exactly
when some written key lies inside one of its intervals.
"""

from __future__ import annotations

import msgspec


class ReadSet(msgspec.Struct):
    """A Struct, not a dataclass: one is built for every execution, and a Struct is built in C."""

    intervals: dict[int, list[tuple[bytes, bytes]]] = msgspec.field(default_factory=dict)
    reads_identity: bool = False

    def add(self, index_id: int, lo: bytes, hi: bytes) -> None:
        if lo < hi:
            self.intervals.setdefault(index_id, []).append((lo, hi))

    def contains(self, index_id: int, key: bytes) -> bool:
        return any(lo <= key < hi for lo, hi in self.intervals.get(index_id, ()))

    def overlaps(self, writes: "WriteSet") -> bool:
        """The plain reference test; the reactivity layer does the same with interval trees."""
        return any(self.contains(index_id, key) for index_id, key in writes.keys)

    def __len__(self) -> int:
        return sum(len(r) for r in self.intervals.values())


class WriteSet(msgspec.Struct):
    keys: list[tuple[int, bytes]] = msgspec.field(default_factory=list)
    documents: int = 0

    def extend(self, other: "WriteSet") -> None:
        self.keys.extend(other.keys)
        self.documents += other.documents
