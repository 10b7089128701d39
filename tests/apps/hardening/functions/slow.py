import asyncio

from prefmem import action, internal_mutation, mutation, query, v


@action(args={"label": v.string()})
async def hang(ctx, args):
    """Records that it started, then waits far longer than any shutdown grace period."""
    await ctx.run_mutation("slow:_started", {"label": args["label"]})
    await asyncio.sleep(3600)
    return "finished"


@internal_mutation(args={"label": v.string()})
async def _started(ctx, args):
    await ctx.db.insert("events", {"label": args["label"]})


@mutation(args={"label": v.string()})
async def schedule_hang(ctx, args):
    return await ctx.scheduler.run_after(0, "slow:hang", {"label": args["label"]})


@query(args={"label": v.string()})
async def started(ctx, args):
    return float(len(await ctx.db.query("events").with_index("by_label", lambda q: q.eq("label", args["label"])).collect()))


@query(args={})
async def jobs(ctx, args):
    return [{"name": j["name"], "state": j["state"]} for j in await ctx.db.system.query("_scheduled_functions").collect()]
