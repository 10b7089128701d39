"""Runs due scheduled functions: mutations exactly once, actions at most once.

The executor owns no state of its own beyond what is in flight: everything it needs is in
``_scheduled_functions``, so after a restart it picks up where the last process stopped.
It wakes when a commit touches the job table, or when the next job falls due.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING, Any

from prefmem.errors import PrefmemError
from prefmem.functions import FunctionDef
from prefmem.runner import Outcome
from prefmem.scheduler import jobs

if TYPE_CHECKING:
    from prefmem.application import Application

log = logging.getLogger("prefmem.scheduler")

MAX_PARALLEL = 10
IDLE_POLL_S = 1.0
PURGE_EVERY_S = 3600.0


class ScheduledFailure(Exception):
    pass


class Executor:
    def __init__(self, app: "Application", *, max_parallel: int = MAX_PARALLEL) -> None:
        self.app = app
        self.max_parallel = max_parallel
        self._in_flight: dict[str, asyncio.Task] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._job_indexes: set[int] = set()
        self.completed = 0
        self.start_delays_ms: list[float] = []  # scheduled time → start, for the benchmark
        app.write_log.add_listener(self._on_commit)

    # -- lifecycle ----------------------------------------------------------------------

    async def recover(self) -> int:
        """Fail actions a previous process left inProgress; returns how many."""
        outcome = await self.app.mutation(jobs.fail_interrupted, {}, None)
        return outcome.unwrap()

    def start(self) -> None:
        self._job_indexes = {ix.index_id for ix in self.app.catalog.indexes_of(jobs.TABLE)}
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="prefmem-scheduler")

    def stop_starting(self) -> None:
        """Start no more jobs (the server is shutting down); those running go on."""
        if self._task is not None:
            self._task.cancel()

    async def stop(self, finish_by: float | None = None) -> None:
        """Stop; jobs still running at loop time ``finish_by`` (default: now) are cancelled.

        A cancelled action is recorded as failed before this returns: actions run at most
        once, so it is not started again after a restart.
        """
        self.stop_starting()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=5.0)
        loop = asyncio.get_running_loop()
        running = set(self._in_flight.values())
        if running and finish_by is not None and finish_by > loop.time():
            await asyncio.wait(running, timeout=finish_by - loop.time())
        running = {task for task in running if not task.done()}
        for task in running:
            task.cancel()
        if running:  # each records its failure on the way out
            await asyncio.wait(running, timeout=5.0)

    def _on_commit(self, ts: int, keys: list[tuple[int, bytes]]) -> None:
        if not keys or any(index_id in self._job_indexes for index_id, _ in keys):
            self._wake.set()

    # -- the loop -----------------------------------------------------------------------

    async def _loop(self) -> None:
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() - last_purge > PURGE_EVERY_S:
                    last_purge = loop.time()
                    await self.purge()
                self._wake.clear()
                started = await self.start_due()
                wait = IDLE_POLL_S
                upcoming = await self._query(jobs.next_time, {})
                if upcoming is not None:
                    wait = max(0.0, min(wait, (upcoming - self.app.clock.now_ms()) / 1000.0))
                if started and len(self._in_flight) >= self.max_parallel:
                    wait = IDLE_POLL_S  # full: woken again when a job finishes
                # A timer that sets the wake event, not asyncio.wait_for: on Python 3.11
                # wait_for can swallow a cancellation that races with the event, and stop()
                # would then wait for ever.
                timer = loop.call_later(wait, self._wake.set)
                try:
                    await self._wake.wait()
                finally:
                    timer.cancel()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 — keep the scheduler alive, say why
                log.exception("scheduler loop error")
                await asyncio.sleep(IDLE_POLL_S)

    async def _query(self, fn: FunctionDef, args: dict) -> Any:
        return (await self.app.query(fn, args, None)).unwrap()

    async def start_due(self) -> int:
        """Start every due job there is room for; returns how many started."""
        room = self.max_parallel - len(self._in_flight)
        if room <= 0:
            return 0
        due = await self._query(jobs.due_jobs, {"now": self.app.clock.now_ms(),
                                                "limit": room + len(self._in_flight)})
        started = 0
        for job in due:
            if job["_id"] in self._in_flight or len(self._in_flight) >= self.max_parallel:
                continue
            task = asyncio.get_running_loop().create_task(self._run_job(job), name=f"job {job['name']}")
            self._in_flight[job["_id"]] = task
            task.add_done_callback(functools.partial(self._done, job["_id"]))
            started += 1
        return started

    def _done(self, job_id: str, _task: asyncio.Task) -> None:
        self._in_flight.pop(job_id, None)
        self.completed += 1
        self._wake.set()

    async def run_until_idle(self) -> int:
        """Run due jobs, and the due jobs they schedule, until none is due (test harness)."""
        ran = 0
        while True:
            started = await self.start_due()
            if not started and not self._in_flight:
                return ran
            ran += started
            if self._in_flight:
                await asyncio.wait(list(self._in_flight.values()))

    async def purge(self) -> int:
        removed = 0
        while True:
            outcome = await self.app.mutation(jobs.purge, {}, None)
            count = outcome.unwrap()
            removed += count
            if count < 500:
                return removed

    # -- one job ------------------------------------------------------------------------

    async def _run_job(self, job: dict) -> None:
        job_id, path = job["_id"], job["name"]
        args = job["args"][0] if job["args"] else {}
        self.start_delays_ms.append(max(0.0, self.app.clock.now_ms() - job["scheduledTime"]))
        try:
            fn = self.app.registry.get(path, allow_internal=True)
        except PrefmemError as err:
            await self._finish(job_id, f"{err}")
            return
        if fn.kind == "mutation":
            outcome = await self.app.mutation(jobs.run_mutation_job(fn, job_id), args, None)
            if not outcome.ok:
                self._log_failure(path, outcome)
                await self._finish(job_id, outcome.error or "failed")
            return
        started = await self.app.mutation(jobs.start_action, {"id": job_id}, None)
        if not started.ok or not started.value:
            return
        try:
            outcome = await self.app.action(fn, args, None)
        except asyncio.CancelledError:
            await self._finish(job_id, "the server shut down while this action was running: it was cancelled, "
                                       "and actions are never retried")
            raise
        if not outcome.ok:
            self._log_failure(path, outcome)
        await self._finish(job_id, None if outcome.ok else (outcome.error or "failed"))

    async def _finish(self, job_id: str, error: str | None) -> None:
        outcome = await self.app.mutation(jobs.finish, {"id": job_id, "error": error}, None)
        if not outcome.ok:
            log.error("could not record the end of scheduled job %s: %s", job_id, outcome.error)

    @staticmethod
    def _log_failure(path: str, outcome: Outcome) -> None:
        log.warning("scheduled %s failed [Request ID: %s]: %s", path, outcome.request_id, outcome.error)
