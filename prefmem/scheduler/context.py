"""``ctx.scheduler``: scheduling from a mutation (atomic with it) or an action (at once)."""

from __future__ import annotations

from typing import Any

from prefmem.errors import PrefmemError
from prefmem.scheduler import jobs


class MutationScheduler:
    """``ctx.scheduler`` in a mutation: jobs are written in the mutation's own transaction."""

    def __init__(self, db: Any, app: Any, now_ms: float) -> None:
        self._db = db
        self._app = app
        self._now = now_ms
        self._budget = jobs.Budget(app.limits.functions_scheduled)

    def _path(self, ref: Any) -> str:
        fn = self._app.registry.resolve(ref)
        if fn.kind not in ("mutation", "action"):
            raise PrefmemError(f"only mutations and actions can be scheduled, {fn.path} is a {fn.kind}")
        return fn.path or ""

    async def run_after(self, delay_ms: float, ref: Any, args: dict | None = None) -> str:
        return await self.run_at(self._now + max(0.0, float(delay_ms)), ref, args)

    async def run_at(self, timestamp_ms: float, ref: Any, args: dict | None = None) -> str:
        self._budget.take()
        return await jobs.insert_job(self._db, self._path(ref), args or {}, float(timestamp_ms))

    async def cancel(self, job_id: str) -> None:
        await jobs.cancel_job(self._db, job_id, self._now)


class ActionScheduler(MutationScheduler):
    """``ctx.scheduler`` in an action: each call commits at once, in its own transaction."""

    def __init__(self, app: Any, now_ms: float) -> None:
        super().__init__(None, app, now_ms)

    async def run_at(self, timestamp_ms: float, ref: Any, args: dict | None = None) -> str:
        self._budget.take()
        outcome = await self._app.mutation(
            jobs.schedule, {"name": self._path(ref), "args": args or {}, "when": float(timestamp_ms)}, None)
        return outcome.unwrap()

    async def run_after(self, delay_ms: float, ref: Any, args: dict | None = None) -> str:
        return await self.run_at(self._app.clock.now_ms() + max(0.0, float(delay_ms)), ref, args)

    async def cancel(self, job_id: str) -> None:
        (await self._app.mutation(jobs.cancel, {"id": job_id}, None)).unwrap()
