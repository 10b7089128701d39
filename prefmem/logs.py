"""Capture what a function prints or logs, as Convex log lines for its caller.

A context variable names the collector of the running execution, so concurrent actions
(each its own asyncio task, each with its own context) never mix their lines. Output made
outside any execution goes to the real stream unchanged.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import secrets
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from prefmem.functions import SYSTEM_PREFIX

_collector: contextvars.ContextVar["LogCollector | None"] = contextvars.ContextVar("prefmem_log_collector",
                                                                                  default=None)

_LEVELS = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARN", logging.ERROR: "ERROR",
           logging.CRITICAL: "ERROR"}


class LogCollector:
    def __init__(self, limit: int) -> None:
        self.lines: list[str] = []
        self.limit = limit
        self.dropped = 0
        self._partial = ""

    def add(self, level: str, message: str) -> None:
        if len(self.lines) >= self.limit:
            self.dropped += 1
            return
        self.lines.append(f"[{level}] {message}")

    def write(self, text: str) -> None:
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            self.add("LOG", line)

    def finish(self) -> list[str]:
        if self._partial:
            self.add("LOG", self._partial)
            self._partial = ""
        if self.dropped:
            self.lines.append(f"[WARN] {self.dropped} more log lines were dropped: limit 'log_lines' is "
                              f"{self.limit} per execution")
            self.dropped = 0
        return self.lines


class _Stdout(io.TextIOBase):
    """Stands in for sys.stdout: lines written during an execution go to its collector."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def write(self, text: str) -> int:
        collector = _collector.get()
        if collector is None:
            return self._real.write(text)
        collector.write(text)
        return len(text)

    def flush(self) -> None:
        if _collector.get() is None:
            self._real.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _Handler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        collector = _collector.get()
        if collector is None:
            # Outside executions behave like logging's last-resort handler would have (none
            # where a program set it to None, as logging allows).
            last_resort = logging.lastResort
            if last_resort is not None and record.levelno >= logging.WARNING and logging.getLogger().handlers == [self]:
                last_resort.handle(record)
            return
        try:
            collector.add(_LEVELS.get(record.levelno, "INFO"), record.getMessage())
        except Exception:  # a broken log call must not fail the function
            pass


_installed = False


def install() -> None:
    """Route print() and logging into collectors; idempotent."""
    global _installed
    # Checked on every call: something else (pytest's capture, redirect_stdout) may have
    # swapped sys.stdout since the last install, and print() would then bypass collectors.
    if not isinstance(sys.stdout, _Stdout):
        sys.stdout = _Stdout(sys.stdout)
    if _installed:
        return
    _installed = True
    root = logging.getLogger()
    root.addHandler(_Handler(level=logging.DEBUG))
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def start(limit: int) -> tuple[LogCollector, contextvars.Token]:
    collector = LogCollector(limit)
    return collector, _collector.set(collector)


def stop(token: contextvars.Token) -> None:
    _collector.reset(token)


@dataclass
class ExecutionRecord:
    """One finished execution, as ``prefmem logs`` shows it."""

    seq: int
    time_ms: float
    path: str
    kind: str
    ok: bool
    error: str | None
    lines: list[str]
    duration_ms: float
    request_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "timestamp": self.time_ms, "path": self.path, "kind": self.kind, "ok": self.ok,
                "error": self.error, "requestId": self.request_id, "logLines": self.lines,
                "durationMs": round(self.duration_ms, 3)}



class ExecutionLog:
    """The most recent executions of a server, for ``prefmem logs`` and the dashboard.

    Every mutation adds one, so records are kept as plain tuples and made into
    ``ExecutionRecord`` only when someone reads them. The runtime's own functions
    (``_system/...``: the scheduler's polling, the dashboard's queries) are left out: they
    would crowd the application's executions out of the log, and the dashboard, which
    reruns its queries when the log changes, would keep changing it.

    A worker process also keeps the executions its siblings ran, fetched when someone reads
    the deployment's log (``prefmem/siblings.py``); they take this log's own sequence
    numbers, and ``own=True`` leaves them out.
    """

    def __init__(self, size: int = 2000) -> None:
        self.id = secrets.token_hex(4)  # whose sequence numbers: a worker's log has its own
        self._records: deque[tuple] = deque(maxlen=size)
        self._seq = 0
        self._changed: asyncio.Event | None = None

    @property
    def last_seq(self) -> int:
        return self._seq

    def add(self, path: str, kind: str, error: str | None, lines: list[str], started: float,
            request_id: str | None = None) -> None:
        """``error``: the failure as Convex words it, never redacted (the log is the admin's);
        ``request_id``: the one the caller's message names, to find this entry by."""
        if path.startswith(SYSTEM_PREFIX):
            return
        self._seq += 1
        self._records.append((self._seq, time.time() * 1000.0, path, kind, error is None, error, tuple(lines),
                              (time.perf_counter() - started) * 1000.0, request_id, True))
        if self._changed is not None:
            self._changed.set()

    def add_sibling(self, entry: dict[str, Any]) -> None:
        """An execution another worker process ran, as its ``ExecutionRecord.to_json`` gave it."""
        self._seq += 1
        self._records.append((self._seq, float(entry["timestamp"]), str(entry["path"]), str(entry["kind"]),
                              bool(entry["ok"]), entry["error"], tuple(entry["logLines"]),
                              float(entry["durationMs"]), entry["requestId"], False))
        if self._changed is not None:
            self._changed.set()

    def since(self, seq: int, *, own: bool = False) -> list[ExecutionRecord]:
        """``own``: only what this process ran."""
        return [ExecutionRecord(r[0], r[1], r[2], r[3], r[4], r[5], list(r[6]), r[7], r[8]) for r in self._records
                if r[0] > seq and (r[9] or not own)]

    async def wait_since(self, seq: int, timeout_s: float, *, own: bool = False) -> list[ExecutionRecord]:
        """Records after ``seq``, waiting up to ``timeout_s`` for the first one (long poll)."""
        deadline = time.monotonic() + timeout_s
        while not (found := self.since(seq, own=own)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            if self._changed is None:
                self._changed = asyncio.Event()
            self._changed.clear()
            timer = asyncio.get_running_loop().call_later(remaining, self._changed.set)
            try:
                await self._changed.wait()
            finally:
                timer.cancel()
        return found
