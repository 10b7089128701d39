"""The Schedules view: scheduled functions by state, cancelling one, and the crons."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefmem.dashboard.data import PAGINATION, page_size
from prefmem.dashboard.system import system_function
from prefmem.errors import InvalidQuery
from prefmem.functions import FunctionDef
from prefmem.scheduler import jobs
from prefmem.validators import v

if TYPE_CHECKING:
    from prefmem.dashboard.board import Dashboard

CRONS = b"crons"
STATES = ("pending", "inProgress", "success", "failed", "canceled")


def functions(board: "Dashboard") -> list[FunctionDef]:

    @system_function("query", "schedules:list", args={
        "state": v.optional(v.union(*(v.literal(state) for state in STATES))), "paginationOpts": PAGINATION})
    async def list_jobs(ctx: Any, args: dict) -> dict:
        opts = {"numItems": page_size(args["paginationOpts"]), "cursor": args["paginationOpts"]["cursor"]}
        table = ctx.db.system.query(jobs.TABLE)
        state = args.get("state")
        if state is None:
            query = table.order("desc")
        else:
            # Waiting jobs soonest first; finished ones most recent first.
            query = table.with_index("by_state", lambda q: q.eq("state.kind", state)).order(
                "asc" if state == "pending" else "desc")
        return await query.paginate(opts)

    @system_function("mutation", "schedules:cancel", args={"id": v.string()})
    async def cancel(ctx: Any, args: dict) -> None:
        if ctx.db.normalize_id(jobs.TABLE, args["id"]) is None:
            raise InvalidQuery(f"{args['id']!r} is not a scheduled function's id")
        await jobs.cancel_job(ctx.db, args["id"], ctx.now)

    @system_function("query", "schedules:crons")
    async def crons(ctx: Any, args: dict) -> list[dict]:
        board.watch(ctx, CRONS)
        return board.crons()

    return [list_jobs, cancel, crons]
