"""The ``_scheduled_functions`` system table and the transactions that move a job along.

A job's life: ``pending`` → (mutation) ``success`` | ``failed``, or (action) ``inProgress``
→ ``success`` | ``failed``; ``pending`` → ``canceled`` at any time before it starts.
Every state change is a transaction of its own, run through the same committer as
application mutations, except a scheduled mutation's ``success``: that is written inside
the mutation's own transaction, which is what makes it run exactly once.
"""

from __future__ import annotations

from typing import Any

from prefmem.database.reader import system_writer
from prefmem.errors import InvalidQuery, LimitExceeded
from prefmem.functions import FunctionDef, system_function
from prefmem.schema import TableDef, define_table
from prefmem.validators import v

TABLE = "_scheduled_functions"
RETENTION_MS = 7 * 24 * 3600 * 1000.0

STATE = v.union(
    v.object({"kind": v.literal("pending")}),
    v.object({"kind": v.literal("inProgress")}),
    v.object({"kind": v.literal("success")}),
    v.object({"kind": v.literal("failed"), "error": v.string()}),
    v.object({"kind": v.literal("canceled")}),
)


def table_def() -> TableDef:
    return define_table({
        "name": v.string(),
        "args": v.array(v.any()),
        "scheduledTime": v.number(),
        "completedTime": v.optional(v.number()),
        "state": STATE,
    }).index("by_state", ["state.kind", "scheduledTime"]).index("by_completed", ["completedTime"])


# ---------------------------------------------------------------------------- writing jobs

async def insert_job(db: Any, path: str, args: dict, when_ms: float) -> str:
    return await system_writer(db).insert(TABLE, {"name": path, "args": [args], "scheduledTime": float(when_ms),
                                          "state": {"kind": "pending"}})


async def cancel_job(db: Any, job_id: Any, now_ms: float) -> None:
    job = await db.system.get(job_id)
    if job is None:
        raise InvalidQuery(f"scheduler.cancel: {job_id!r} is not a scheduled function")
    if job["state"]["kind"] in ("pending", "inProgress"):
        await system_writer(db).patch(job_id, {"state": {"kind": "canceled"}, "completedTime": now_ms})


class Budget:
    """Counts what one function schedules, against the ``functions_scheduled`` limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self) -> None:
        self.used += 1
        if self.used > self.limit:
            raise LimitExceeded("functions_scheduled", f"scheduled more than {self.limit} functions in one execution")


# ---------------------------------------------------------------------------- system functions

@system_function("query", "scheduler:due")
async def due_jobs(ctx: Any, args: dict) -> list[dict]:
    """Pending jobs whose time has come, oldest first."""
    return await ctx.db.system.query(TABLE).with_index(
        "by_state", lambda q: q.eq("state.kind", "pending").lte("scheduledTime", args["now"])).take(args["limit"])


@system_function("query", "scheduler:next_time")
async def next_time(ctx: Any, args: dict) -> float | None:
    job = await ctx.db.system.query(TABLE).with_index("by_state", lambda q: q.eq("state.kind", "pending")).first()
    return None if job is None else job["scheduledTime"]


@system_function("mutation", "scheduler:schedule")
async def schedule(ctx: Any, args: dict) -> str:
    """ctx.scheduler from an action: the job is written at once, in its own transaction."""
    return await insert_job(ctx.db, args["name"], args["args"], args["when"])


@system_function("mutation", "scheduler:cancel")
async def cancel(ctx: Any, args: dict) -> None:
    await cancel_job(ctx.db, args["id"], ctx.now)


@system_function("mutation", "scheduler:start_action")
async def start_action(ctx: Any, args: dict) -> bool:
    """Mark an action job inProgress before it runs: after a crash it is never run again."""
    job = await ctx.db.system.get(args["id"])
    if job is None or job["state"]["kind"] != "pending":
        return False
    await system_writer(ctx.db).patch(args["id"], {"state": {"kind": "inProgress"}})
    return True


@system_function("mutation", "scheduler:finish")
async def finish(ctx: Any, args: dict) -> None:
    job = await ctx.db.system.get(args["id"])
    if job is None or job["state"]["kind"] in ("success", "failed", "canceled"):
        return  # canceled while running, or already settled: keep what is recorded
    state: dict = {"kind": "success"} if args["error"] is None else {"kind": "failed", "error": args["error"]}
    await system_writer(ctx.db).patch(args["id"], {"state": state, "completedTime": ctx.now})


@system_function("mutation", "scheduler:fail_interrupted")
async def fail_interrupted(ctx: Any, args: dict) -> int:
    """At start-up: actions found inProgress were cut off by a crash; they are failed, not rerun."""
    count = 0
    for job in await ctx.db.system.query(TABLE).with_index(
            "by_state", lambda q: q.eq("state.kind", "inProgress")).take(1000):
        await system_writer(ctx.db).patch(job["_id"], {
            "state": {"kind": "failed", "error": "the server stopped while this action was running; "
                                                 "actions are never retried"},
            "completedTime": ctx.now})
        count += 1
    return count


@system_function("mutation", "scheduler:purge")
async def purge(ctx: Any, args: dict) -> int:
    """Remove settled jobs older than the retention period (7 days)."""
    cutoff = ctx.now - RETENTION_MS
    removed = 0
    for job in await ctx.db.system.query(TABLE).with_index(
            "by_completed", lambda q: q.gt("completedTime", None).lt("completedTime", cutoff)).take(500):
        await system_writer(ctx.db).delete(job["_id"])
        removed += 1
    return removed


def run_mutation_job(fn: FunctionDef, job_id: str) -> FunctionDef:
    """The user's mutation plus its job's ``success`` mark, as one transaction.

    If the job is no longer pending (canceled, or already run) nothing happens; if the
    mutation raises, its savepoint is rolled back with the mark, and the executor records
    ``failed`` in a fresh transaction.
    """

    async def handler(ctx: Any, args: dict) -> bool:
        job = await ctx.db.system.get(job_id)
        if job is None or job["state"]["kind"] != "pending":
            return False
        result = fn.handler(ctx, args)
        if hasattr(result, "__await__"):
            await result
        # A mutation that canceled its own job ends canceled, as in Convex.
        if (await ctx.db.system.get(job_id))["state"]["kind"] == "pending":
            await system_writer(ctx.db).patch(job_id, {"state": {"kind": "success"}, "completedTime": ctx.now})
        return True

    return FunctionDef(handler, "mutation", internal=True, args=fn.args, path=fn.path)
