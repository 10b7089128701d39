"""Crons: ``functions/crons.py`` declares them, APScheduler's triggers time them.

Each job runs its function through the application (a mutation through the committer, an
action directly). APScheduler keeps at most one run of a job going at a time and logs a
run it skips because the previous one is still going (``max_instances=1``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger("prefmem.crons")

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class CronJob:
    name: str
    trigger: BaseTrigger
    ref: Any
    args: dict
    schedule: str  # a readable description, for logs and `prefmem` output


def _int(spec: dict, key: str, low: int, high: int, default: int | None = None) -> int:
    value = spec.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"cron schedule field {key!r} must be an integer from {low} to {high}, got {value!r}")
    return value


class Crons:
    """The registry a ``functions/crons.py`` fills: ``crons = Crons()``."""

    def __init__(self) -> None:
        self.jobs: dict[str, CronJob] = {}

    def _add(self, name: str, trigger: BaseTrigger, ref: Any, args: dict | None, schedule: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("a cron job needs a non-empty name")
        if name in self.jobs:
            raise ValueError(f"cron job {name!r} is declared twice")
        self.jobs[name] = CronJob(name, trigger, ref, dict(args or {}), schedule)

    def interval(self, name: str, schedule: dict, ref: Any, args: dict | None = None) -> None:
        units = {k: schedule[k] for k in ("seconds", "minutes", "hours") if k in schedule}
        if len(units) != 1 or set(schedule) - set(units):
            raise ValueError(f"crons.interval({name!r}): give exactly one of seconds, minutes, hours")
        ((unit, amount),) = units.items()
        if not isinstance(amount, (int, float)) or isinstance(amount, bool) or amount <= 0:
            raise ValueError(f"crons.interval({name!r}): {unit} must be a positive number")
        self._add(name, IntervalTrigger(**{unit: amount}, timezone="UTC"), ref, args, f"every {amount} {unit}")

    def cron(self, name: str, expression: str, ref: Any, args: dict | None = None) -> None:
        try:
            trigger = CronTrigger.from_crontab(expression, timezone="UTC")
        except ValueError as err:
            raise ValueError(f"crons.cron({name!r}): {expression!r} is not a 5-field cron expression: {err}") from None
        self._add(name, trigger, ref, args, f"cron {expression} (UTC)")

    def hourly(self, name: str, schedule: dict, ref: Any, args: dict | None = None) -> None:
        minute = _int(schedule, "minuteUTC", 0, 59)
        self._add(name, CronTrigger(minute=minute, timezone="UTC"), ref, args, f"hourly at :{minute:02d} UTC")

    def daily(self, name: str, schedule: dict, ref: Any, args: dict | None = None) -> None:
        hour, minute = _int(schedule, "hourUTC", 0, 23), _int(schedule, "minuteUTC", 0, 59, 0)
        self._add(name, CronTrigger(hour=hour, minute=minute, timezone="UTC"), ref, args,
                  f"daily at {hour:02d}:{minute:02d} UTC")

    def weekly(self, name: str, schedule: dict, ref: Any, args: dict | None = None) -> None:
        day = schedule.get("dayOfWeek")
        if day not in _DAYS:
            raise ValueError(f"crons.weekly({name!r}): dayOfWeek must be one of {', '.join(_DAYS)}, got {day!r}")
        hour, minute = _int(schedule, "hourUTC", 0, 23), _int(schedule, "minuteUTC", 0, 59, 0)
        self._add(name, CronTrigger(day_of_week=day[:3], hour=hour, minute=minute, timezone="UTC"), ref, args,
                  f"weekly on {day} at {hour:02d}:{minute:02d} UTC")

    def monthly(self, name: str, schedule: dict, ref: Any, args: dict | None = None) -> None:
        day = _int(schedule, "day", 1, 31)
        hour, minute = _int(schedule, "hourUTC", 0, 23), _int(schedule, "minuteUTC", 0, 59, 0)
        self._add(name, CronTrigger(day=day, hour=hour, minute=minute, timezone="UTC"), ref, args,
                  f"monthly on day {day} at {hour:02d}:{minute:02d} UTC")


@dataclass
class CronRun:
    """A job's latest run, as the dashboard shows it (``finished_ms`` None while it runs)."""

    started_ms: float
    finished_ms: float | None = None
    error: str | None = None


class CronRunner:
    """Runs an application's crons on an APScheduler ``AsyncIOScheduler``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.runs: dict[str, int] = {}
        self.last_runs: dict[str, CronRun] = {}
        self._crons: Crons | None = None

    def start(self) -> None:
        self.load()
        self.scheduler.start()

    def load(self) -> None:
        """(Re)read ``functions/crons.py``: replaces every job, so edits apply on reload."""
        self.scheduler.remove_all_jobs()
        self._crons = None
        module = self.app.registry.module("crons")
        crons = getattr(module, "crons", None) if module is not None else None
        if crons is None:
            return
        if not isinstance(crons, Crons):
            log.error("functions/crons.py: `crons` must be a prefmem.Crons, got %s", type(crons).__name__)
            return
        self._crons = crons
        for job in crons.jobs.values():
            fn = self.app.registry.resolve(job.ref)
            if fn.kind not in ("mutation", "action"):
                log.error("cron %s: %s is a %s; crons run mutations and actions", job.name, fn.path, fn.kind)
                continue
            self.scheduler.add_job(self._run, job.trigger, args=[job.name, fn, job.args], id=job.name, name=job.name,
                                   max_instances=1, coalesce=True, misfire_grace_time=None, replace_existing=True)
            log.info("cron %s: %s %s", job.name, fn.path, job.schedule)

    async def _run(self, name: str, fn: Any, args: dict) -> None:
        self.runs[name] = self.runs.get(name, 0) + 1
        run = self.last_runs[name] = CronRun(self.app.clock.now_ms())
        outcome = await self.app.run(fn, args, None)
        run.finished_ms, run.error = self.app.clock.now_ms(), outcome.error
        if not outcome.ok:
            log.warning("cron %s (%s) failed [Request ID: %s]: %s", name, fn.path, outcome.request_id, outcome.error)

    def describe(self) -> list[dict[str, Any]]:
        """Every declared job with its function, schedule, latest run and next run time (ms)."""
        if self._crons is None:
            return []
        out = []
        for job in self._crons.jobs.values():
            scheduled = self.scheduler.get_job(job.name)
            next_run = getattr(scheduled, "next_run_time", None) if scheduled is not None else None
            last = self.last_runs.get(job.name)
            try:
                path = self.app.registry.resolve(job.ref).path
            except Exception as err:  # noqa: BLE001 — a cron naming a missing function is shown, not hidden
                path = f"{job.ref!r} ({err})"
            out.append({
                "name": job.name, "function": path, "schedule": job.schedule, "args": job.args,
                "scheduled": scheduled is not None, "runs": self.runs.get(job.name, 0),
                "nextRun": next_run.timestamp() * 1000.0 if next_run is not None else None,
                "lastRun": None if last is None else {"startedAt": last.started_ms, "finishedAt": last.finished_ms,
                                                      "error": last.error},
            })
        return out

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
