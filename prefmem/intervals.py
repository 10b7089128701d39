"""Which read intervals contain a written key: the stabbing structure behind reactivity.

Every key inside ``[lo, hi)`` starts with the common prefix of ``lo`` and ``hi`` (a byte
string between two strings that share a prefix shares it too). So intervals are kept in
buckets keyed by that prefix, one dict per prefix length, and a key is stabbed by looking
up its own prefixes of the lengths in use, then testing the few intervals found.

Read sets are mostly "everything with this index prefix" (an ``eq`` on an index, a
``get``), whose common prefix is the ``eq`` prefix itself: a stab is then a handful of
dict lookups whatever the number of subscriptions, which is what makes invalidation cost
follow the keys written and the queries hit rather than the subscriptions held. A bucket
that grows large (many different ranges under one prefix) becomes an interval tree.
"""

from __future__ import annotations

import os
from typing import Any, Iterator, cast

from intervaltree import Interval, IntervalTree

TREE_ABOVE = 32  # a bucket holding more intervals than this is searched as a tree


class _Bucket:
    __slots__ = ("items", "tree")

    def __init__(self) -> None:
        self.items: dict[tuple[bytes, bytes, Any], None] = {}
        self.tree: IntervalTree | None = None

    def add(self, lo: bytes, hi: bytes, data: Any) -> bool:
        entry = (lo, hi, data)
        if entry in self.items:
            return False
        self.items[entry] = None
        if self.tree is not None:
            self.tree.add(Interval(lo, hi, data))
        elif len(self.items) > TREE_ABOVE:
            self.tree = IntervalTree(Interval(a, b, d) for a, b, d in self.items)
        return True

    def remove(self, lo: bytes, hi: bytes, data: Any) -> None:
        if self.items.pop((lo, hi, data), False) is not False and self.tree is not None:
            self.tree.discard(Interval(lo, hi, data))
            if len(self.items) <= TREE_ABOVE // 2:
                self.tree = None

    def stab(self, key: bytes) -> Iterator[Any]:
        if self.tree is not None:
            for interval in self.tree.at(key):
                yield interval.data
            return
        for lo, hi, data in self.items:
            if lo <= key < hi:
                yield data


class IntervalIndex:
    """Half-open byte intervals, each carrying a value; ``stab(key)`` yields the values of
    the intervals containing ``key``."""

    def __init__(self) -> None:
        self._by_length: dict[int, dict[bytes, _Bucket]] = {}
        self._lengths: list[int] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, lo: bytes, hi: bytes, data: Any) -> bool:
        """Add ``[lo, hi)`` for ``data``; False if that exact interval is already there for it."""
        if not lo < hi:
            return False
        # Bytes: the str ``""`` typeshed also allows is what an empty list gives.
        prefix = cast(bytes, os.path.commonprefix([lo, hi]))
        buckets = self._by_length.get(len(prefix))
        if buckets is None:
            buckets = self._by_length[len(prefix)] = {}
            self._lengths = sorted(self._by_length)
        bucket = buckets.get(prefix)
        if bucket is None:
            bucket = buckets[prefix] = _Bucket()
        added = bucket.add(lo, hi, data)
        self._count += added
        return added

    def remove(self, lo: bytes, hi: bytes, data: Any) -> None:
        prefix = cast(bytes, os.path.commonprefix([lo, hi]))
        buckets = self._by_length.get(len(prefix))
        if buckets is None:
            return
        bucket = buckets.get(prefix)
        if bucket is None:
            return
        before = len(bucket.items)
        bucket.remove(lo, hi, data)
        self._count -= before - len(bucket.items)
        if not bucket.items:
            del buckets[prefix]
            if not buckets:
                del self._by_length[len(prefix)]
                self._lengths = sorted(self._by_length)

    def stab(self, key: bytes) -> Iterator[Any]:
        for length in self._lengths:
            if length > len(key):
                break
            bucket = self._by_length[length].get(key[:length])
            if bucket is not None:
                yield from bucket.stab(key)
