"""Recent commits, newest last: ``(ts, written index keys)``.

The one record every consumer of commits reads: the committer validates a transaction's
read set against the entries after its snapshot (optimistic concurrency control); live
queries advance over it (a result stays valid while no entry after its timestamp touches
its reads); the scheduler wakes on writes to its table. Within one process the committer
appends its own commits; where several processes share a database, each also appends the
others' commits as it learns of them, always in timestamp order.

Retention is bounded by time and count. A reader asking about timestamps older than what
is kept (``floor_ts``) is told "everything may have changed", which is always safe.
"""

from __future__ import annotations

import asyncio
import bisect
from typing import Any, Callable

import msgspec

from prefmem.database.readset import ReadSet

Keys = list[tuple[int, bytes]]
Listener = Callable[[int, Keys], None]

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[tuple[int, bytes]])


def encode_keys(keys: Keys) -> bytes:
    return _encoder.encode(keys)


def decode_keys(data: bytes) -> Keys:
    return _decoder.decode(data)


class WrittenKeys:
    """Written keys gathered per index and sorted, to test many read sets against them."""

    def __init__(self, entries: list[tuple[int, Keys]]) -> None:
        by_index: dict[int, list[bytes]] = {}
        for _ts, keys in entries:
            for index_id, key in keys:
                by_index.setdefault(index_id, []).append(key)
        for index_keys in by_index.values():
            index_keys.sort()
        self._by_index = by_index

    def __bool__(self) -> bool:
        return bool(self._by_index)

    def hit(self, read_set: ReadSet) -> bool:
        """Whether some key lies in some interval of ``read_set``."""
        by_index = self._by_index
        for index_id, intervals in read_set.intervals.items():
            keys = by_index.get(index_id)
            if not keys:
                continue
            for lo, hi in intervals:
                at = bisect.bisect_left(keys, lo)
                if at < len(keys) and keys[at] < hi:
                    return True
        return False


class WriteLog:
    # Entries kept: long enough for any snapshot in use (a batch, a flush, a pinned HTTP
    # read), short enough that a write-heavy minute does not live in memory.
    retention_ns = 30 * 1_000_000_000
    max_entries = 8192

    def __init__(self, head_ts: int) -> None:
        self._ts: list[int] = []
        self._keys: list[Keys] = []
        self.head_ts = head_ts  # every commit up to here is in the log (or below the floor)
        self.floor_ts = head_ts  # entries at or below this may be gone
        self._listeners: list[Listener] = []
        self._waiters: list[tuple[int, asyncio.Future]] = []

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def append(self, ts: int, keys: Keys) -> None:
        if ts <= self.head_ts:
            return  # already known (a process reads its own commits back from a shared log)
        self._ts.append(ts)
        self._keys.append(keys)
        self.head_ts = ts
        self._prune(ts)
        for listener in self._listeners:
            listener(ts, keys)
        if self._waiters:
            ready = [w for w in self._waiters if w[0] <= ts]
            if ready:
                self._waiters = [w for w in self._waiters if w[0] > ts]
                for _, future in ready:
                    if not future.done():
                        future.set_result(None)

    def skip_to(self, ts: int) -> None:
        """Entries up to ``ts`` were lost (pruned from a shared log before this process read
        them): raise the floor, so every reader older than it re-reads everything."""
        if ts > self.head_ts:
            self.head_ts = ts
        if ts > self.floor_ts:
            self.floor_ts = ts
        for listener in self._listeners:
            listener(ts, [])

    def _prune(self, now_ts: int) -> None:
        cut = bisect.bisect_left(self._ts, now_ts - self.retention_ns)
        cut = max(cut, len(self._ts) - self.max_entries)
        if cut > 0:
            self.floor_ts = max(self.floor_ts, self._ts[cut - 1])
            del self._ts[:cut], self._keys[:cut]

    def entries_after(self, ts: int, upto: int | None = None) -> list[tuple[int, Keys]]:
        """Entries with ``ts < entry ts <= upto``, oldest first."""
        start = bisect.bisect_right(self._ts, ts)
        end = len(self._ts) if upto is None else bisect.bisect_right(self._ts, upto)
        return list(zip(self._ts[start:end], self._keys[start:end]))

    def covers(self, ts: int) -> bool:
        """Whether every entry after ``ts`` is still here."""
        return ts >= self.floor_ts

    def written_since(self, ts: int) -> WrittenKeys | None:
        """The keys written after ``ts``, or None if some of those entries are gone."""
        if not self.covers(ts):
            return None
        return WrittenKeys(self.entries_after(ts))

    def changed_since(self, read_set: ReadSet, ts: int, upto: int | None = None) -> bool:
        """Whether a commit in ``(ts, upto]`` wrote into ``read_set`` (True if unknown)."""
        if not self.covers(ts):
            return True
        if not read_set.intervals:
            return False
        return WrittenKeys(self.entries_after(ts, upto)).hit(read_set)

    async def wait_for(self, ts: int) -> None:
        """Return once the log has reached ``ts``."""
        if ts <= self.head_ts:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((ts, future))
        await future


def catch_up(log: WriteLog, source: Any, upto: int) -> None:
    """Append what other processes committed up to ``upto``, read from ``source`` (a
    snapshot, or the commit slot: anything with ``log_after`` and ``log_floor``)."""
    if upto <= log.head_ts:
        return
    floor = source.log_floor()
    if floor > log.head_ts:
        log.skip_to(floor)
    for ts, data in source.log_after(log.head_ts):
        if ts > upto:
            break
        log.append(ts, decode_keys(data))
    if log.head_ts < upto:
        log.skip_to(upto)
