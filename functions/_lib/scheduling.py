"""One pending learning run per shopper.

``schedule_learning`` is called by every mutation that changes what the learner sees
(a logged signal, an override, forget, reset, retention). It looks for the shopper's
``pending`` row in ``learning_runs`` (index ``by_user_state``) and, only if there is none,
inserts one and schedules ``learning:run`` for it. A run flips its row to ``running`` as
it starts, so a signal logged while it runs schedules the next one; signals arriving
while a run is pending are picked up by that run (it reads the log when it starts).
"""

from __future__ import annotations

from typing import Any

LEARN_DELAY_MS = 1_000.0  # batches a burst of signals into one run


async def pending_run(ctx: Any, user_id: str) -> dict | None:
    return await ctx.db.query("learning_runs").with_index(
        "by_user_state", lambda q: q.eq("userId", user_id).eq("state", "pending")).first()


async def schedule_learning(ctx: Any, user_id: str, reason: str, delay_ms: float = LEARN_DELAY_MS) -> str:
    """The id of the shopper's pending learning run, scheduling one if there is none."""
    existing = await pending_run(ctx, user_id)
    if existing is not None:
        return existing["_id"]
    run_id = await ctx.db.insert("learning_runs", {"userId": user_id, "state": "pending", "reason": reason,
                                                   "requestedAt": float(ctx.now)})
    job_id = await ctx.scheduler.run_after(delay_ms, "learning:run", {"userId": user_id, "runId": run_id})
    await ctx.db.patch(run_id, {"jobId": job_id})
    return run_id
