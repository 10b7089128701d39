"""The last hour, in memory and bounded: health samples and per-function counters.

``HealthHistory`` keeps one sample of the server's counters every few seconds (a fixed
number of samples, whatever the load). ``FunctionStats`` counts calls, errors and
durations per function and minute from the execution log's records; durations go into a
fixed logarithmic histogram per minute (about 30 % wide buckets), so p50 and p99 cost the
same memory at ten calls a minute or a million.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from prefmem.dashboard.metrics import Counters

HOUR_MS = 3600_000.0
MINUTE_MS = 60_000.0


class HealthHistory:
    def __init__(self, every_s: float, span_s: float = 3600.0) -> None:
        self.every_s = every_s
        self.span_ms = span_s * 1000.0
        self._samples: deque[tuple[float, Counters]] = deque(maxlen=int(span_s / every_s) + 1)

    def __len__(self) -> int:
        return len(self._samples)

    def add(self, time_ms: float, counters: Counters) -> None:
        self._samples.append((time_ms, counters))

    def series(self, now_ms: float, current: Counters) -> list[dict[str, Any]]:
        """One point per sample interval of the last hour: rates over the interval, gauges
        at its end. The current counters make a last point once a second has passed."""
        points = [(t, c) for t, c in self._samples if t >= now_ms - self.span_ms]
        if not points or now_ms - points[-1][0] >= 1000.0:
            points.append((now_ms, current))
        out = []
        for (t0, a), (t1, b) in zip(points, points[1:]):
            seconds = (t1 - t0) / 1000.0
            if seconds <= 0:
                continue
            out.append({
                "t": t1,
                "commitsPerS": max(0, b.commits - a.commits) / seconds,
                "mutationsPerS": max(0, b.mutations - a.mutations) / seconds,
                "queryRunsPerS": max(0, b.query_runs - a.query_runs) / seconds,
                "liveQueries": b.live_queries,
                "connections": b.connections,
                "databaseBytes": b.database_bytes,
                "walBytes": b.wal_bytes,
            })
        return out


# Duration buckets: 0 holds everything up to 10 µs, bucket i > 0 up to 10 µs * 1.3**i;
# the last one (≈ 150 s) also holds everything longer.
_BUCKETS = 64
_BASE_MS = 0.01
_FACTOR = 1.3
_LOG_FACTOR = math.log(_FACTOR)


def _bucket(duration_ms: float) -> int:
    if duration_ms <= _BASE_MS:
        return 0
    return min(_BUCKETS - 1, 1 + int(math.log(duration_ms / _BASE_MS) / _LOG_FACTOR))


def _bucket_ms(index: int) -> float:
    """A bucket's representative duration: the geometric middle of its bounds."""
    if index == 0:
        return _BASE_MS
    return _BASE_MS * _FACTOR ** (index - 0.5)


def _percentile(histogram: array, total: int, q: float) -> float | None:
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return _bucket_ms(index)
    return _bucket_ms(_BUCKETS - 1)


@dataclass
class _Minute:
    calls: int = 0
    errors: int = 0
    durations: array = field(default_factory=lambda: array("I", bytes(4 * _BUCKETS)))


OTHER = "(other functions)"


class FunctionStats:
    """Calls, errors and duration percentiles per function, by minute, for the last hour.

    At most ``most_functions`` paths are kept apart (HTTP actions are logged by URL, which
    a prefix route makes unbounded); executions of any further path count under ``OTHER``.
    """

    def __init__(self, most_functions: int = 256, span_minutes: int = 60) -> None:
        self.most_functions = most_functions
        self.span_minutes = span_minutes
        self._minutes: dict[str, dict[int, _Minute]] = {}
        self.counted = 0
        self.missed = 0  # executions that left the log before they were counted
        self.since_ms: float | None = None  # the oldest execution counted

    def add(self, path: str, ok: bool, duration_ms: float, time_ms: float) -> None:
        by_minute = self._minutes.get(path)
        if by_minute is None:
            if len(self._minutes) >= self.most_functions:
                path = OTHER
            by_minute = self._minutes.setdefault(path, {})
        minute = int(time_ms // MINUTE_MS)
        entry = by_minute.get(minute)
        if entry is None:
            entry = by_minute[minute] = _Minute()
            self._prune(by_minute, minute)
        entry.calls += 1
        entry.errors += not ok
        entry.durations[_bucket(duration_ms)] += 1
        self.counted += 1
        if self.since_ms is None or time_ms < self.since_ms:
            self.since_ms = time_ms

    def note_missed(self, count: int) -> None:
        self.missed += count

    def _prune(self, by_minute: dict[int, _Minute], newest: int) -> None:
        for minute in [m for m in by_minute if m <= newest - self.span_minutes]:
            del by_minute[minute]

    def prune(self, now_ms: float) -> None:
        """Forget minutes older than the span, and functions with none left (room for new paths)."""
        now_minute = int(now_ms // MINUTE_MS)
        for path in list(self._minutes):
            self._prune(self._minutes[path], now_minute)
            if not self._minutes[path]:
                del self._minutes[path]

    def summary(self, now_ms: float) -> list[dict[str, Any]]:
        """Per function: the hour's totals and percentiles, and one point per minute."""
        now_minute = int(now_ms // MINUTE_MS)
        first = now_minute - self.span_minutes + 1
        out = []
        for path, by_minute in sorted(self._minutes.items()):
            total = _Minute()
            series = []
            for minute in range(first, now_minute + 1):
                entry = by_minute.get(minute)
                if entry is None:
                    series.append({"t": minute * MINUTE_MS, "calls": 0, "errors": 0, "p50": None, "p99": None})
                    continue
                total.calls += entry.calls
                total.errors += entry.errors
                for index, count in enumerate(entry.durations):
                    total.durations[index] += count
                series.append({"t": minute * MINUTE_MS, "calls": entry.calls, "errors": entry.errors,
                               "p50": _percentile(entry.durations, entry.calls, 0.5),
                               "p99": _percentile(entry.durations, entry.calls, 0.99)})
            if total.calls == 0:
                continue
            out.append({"path": path, "calls": total.calls, "errors": total.errors,
                        "p50": _percentile(total.durations, total.calls, 0.5),
                        "p99": _percentile(total.durations, total.calls, 0.99), "series": series})
        return out
