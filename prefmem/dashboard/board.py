"""The dashboard's server side: its system functions, what they show, and one task.

The task samples the server's health every ``sample_every_s`` (a few counters and two
file sizes: nothing per function call). Only while a dashboard is open (a live query
depends on an in-memory source, see ``metrics``) does it also, every ``pulse_every_s``,
count the execution log's new records into the per-function counters and rerun the
views whose source changed (a worker process first fetches its siblings' executions into
its log). A server nobody opens the dashboard of does neither.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prefmem.dashboard import data, files, functions, health, logs, metrics, schedules
from prefmem.dashboard.history import FunctionStats, HealthHistory
from prefmem.dashboard.login import LoginCodes
from prefmem.functions import FunctionDef, Registry

log = logging.getLogger("prefmem.dashboard")

# Table counts (a count per table) and function counters (a summary of every function's
# hour) cost more to recompute than the log, and change by the minute: at most this often.
SLOW_SOURCES_EVERY_MS = 1000.0


class Dashboard:
    def __init__(self, server: Any, *, sample_every_s: float = 5.0, pulse_every_s: float = 0.25) -> None:
        self.server = server
        self.app = server.backend.app
        self.health = HealthHistory(sample_every_s)
        self.stats = FunctionStats()
        self.login = LoginCodes(self.app)
        self.pulse_every_s = pulse_every_s
        self.started_ms = self.app.clock.now_ms()
        self.functions: list[FunctionDef] = [
            *data.functions(self), *functions.functions(self), *logs.functions(self),
            *schedules.functions(self), *files.functions(self), *health.functions(self)]
        self._open = False  # a dashboard's live queries watch an in-memory source
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._log_seq = 0
        self._commits_seen = -1
        self._stats_changed = False
        self._slow_at = 0.0
        self._crons_seen: Any = None
        self._sibling_crons: list[dict] = []  # described by the worker that runs them, fetched while open
        self._sibling_counters: list[dict] = []  # the other workers' counters, fetched at each sample

    def register(self, registry: Registry) -> None:
        """Add the system functions to a registry (the first, and each one a reload makes)."""
        registry.add_system(self.functions)

    # -- the task -----------------------------------------------------------------------

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="prefmem-dashboard")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=5.0)

    def watch(self, ctx: Any, source: bytes) -> None:
        """Called by a system query showing ``source``: rerun it when the source changes."""
        metrics.watch(ctx, source)
        if not self._open:
            self._open = True
            if self._wake is not None:
                self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_sample = loop.time()
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                now = loop.time()
                if now >= next_sample:
                    next_sample = now + self.health.every_s
                    if self.server.siblings is not None:  # the other workers' counters, added to this one's
                        self._sibling_counters = await self.server.siblings.counters()
                    self.sample()
                if self._open:
                    self._open = metrics.watched(self.server)
                    if self._open:
                        siblings = self.server.siblings
                        if siblings is not None:  # the other workers' executions, and the crons one runs
                            await siblings.pull(self.app.execution_log)
                            if self.server.crons is None:
                                self._sibling_crons = await siblings.crons()
                        self.pulse()
            except Exception:  # noqa: BLE001 — the dashboard must never take the server down
                log.exception("dashboard: sampling failed")
            wait = max(0.0, next_sample - loop.time())
            if self._open:
                wait = min(wait, self.pulse_every_s)
            # A timer that sets the event, not wait_for (see the scheduler's executor).
            timer = loop.call_later(wait, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()

    def crons(self) -> list[dict]:
        """The crons, from this worker if it runs them, else as the one that does described them."""
        crons = self.server.crons
        return crons.describe() if crons is not None else self._sibling_crons

    def counters(self) -> metrics.Counters:
        """The deployment's counters: this worker's and, as last sampled, its siblings'."""
        return metrics.total(metrics.counters(self.server), self._sibling_counters)

    def sample(self) -> None:
        self.health.add(self.app.clock.now_ms(), self.counters())
        if metrics.watched(self.server):
            metrics.changed(self.server, [health.HEALTH])

    def pulse(self) -> list[bytes]:
        """Bring the open dashboard's in-memory sources up to date; rerun what changed (returned)."""
        changed: list[bytes] = []
        now = self.app.clock.now_ms()
        execution_log = self.app.execution_log
        if execution_log.last_seq != self._log_seq:
            records = execution_log.since(self._log_seq)
            if records and self._log_seq and records[0].seq > self._log_seq + 1:
                self.stats.note_missed(records[0].seq - self._log_seq - 1)
            for record in records:
                self.stats.add(record.path, record.ok, record.duration_ms, record.time_ms)
            self._log_seq = execution_log.last_seq
            self.stats.prune(now)
            self._stats_changed = True
            changed.append(logs.LOGS)
        if now - self._slow_at >= SLOW_SOURCES_EVERY_MS:
            commits = metrics.commits(self.server)
            slow = [source for source, due in ((functions.FUNCTIONS, self._stats_changed),
                                               (data.COUNTS, commits != self._commits_seen)) if due]
            if slow:
                self._stats_changed, self._commits_seen, self._slow_at = False, commits, now
                changed += slow
        crons = self.server.crons
        seen = (self._sibling_crons or None) if crons is None else [(name, run.started_ms, run.finished_ms)
                                                                    for name, run in sorted(crons.last_runs.items())]
        if seen != self._crons_seen:
            self._crons_seen = seen
            changed.append(schedules.CRONS)
        metrics.changed(self.server, changed)
        return changed
