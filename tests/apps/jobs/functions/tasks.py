"""Functions that schedule other functions, for the scheduler's tests."""

from prefmem import action, internal_action, internal_mutation, internal_query, mutation, query, v


@internal_mutation(args={"label": v.string()})
async def record(ctx, args):
    await ctx.db.insert("events", {"label": args["label"]})


@internal_mutation(args={"label": v.string()})
async def record_then_fail(ctx, args):
    await ctx.db.insert("events", {"label": args["label"]})
    raise RuntimeError("scheduled failure")


@mutation(args={"label": v.string(), "delay": v.number()})
async def later(ctx, args):
    return await ctx.scheduler.run_after(args["delay"], record, {"label": args["label"]})


@mutation(args={"label": v.string()})
async def later_failing(ctx, args):
    return await ctx.scheduler.run_after(0, "tasks:record_then_fail", {"label": args["label"]})


@mutation(args={"label": v.string()})
async def schedule_then_raise(ctx, args):
    await ctx.scheduler.run_after(0, record, {"label": args["label"]})
    raise RuntimeError("the scheduling mutation failed")


@mutation(args={"id": v.id("_scheduled_functions")})
async def cancel(ctx, args):
    await ctx.scheduler.cancel(args["id"])


@mutation(args={"label": v.string(), "count": v.number()})
async def fan_out(ctx, args):
    for i in range(int(args["count"])):
        await ctx.scheduler.run_after(0, record, {"label": f"{args['label']}-{i}"})


@internal_action(args={"label": v.string(), "seconds": v.number()})
async def slow_action(ctx, args):
    import asyncio

    await ctx.run_mutation(record, {"label": args["label"] + ":started"})
    await asyncio.sleep(args["seconds"])
    await ctx.run_mutation(record, {"label": args["label"] + ":finished"})


@mutation(args={"label": v.string(), "seconds": v.number()})
async def start_slow_action(ctx, args):
    return await ctx.scheduler.run_after(0, slow_action, args)


@action(args={"label": v.string()})
async def schedule_from_action(ctx, args):
    return await ctx.scheduler.run_after(0, record, {"label": args["label"]})


@query(args={"label": v.string()})
async def count(ctx, args):
    return float(len(await ctx.db.query("events").with_index("by_label", lambda q: q.eq("label", args["label"])).collect()))


@query(args={})
async def labels(ctx, args):
    return sorted(e["label"] for e in await ctx.db.query("events").collect())


@query(args={"id": v.id("_scheduled_functions")})
async def job(ctx, args):
    return await ctx.db.system.get(args["id"])


@query(args={})
async def jobs(ctx, args):
    return await ctx.db.system.query("_scheduled_functions").collect()


async def _own_job(db, name):
    """The running job of ``name``: what a function finds when it looks itself up."""
    running = [j for j in await db.system.query("_scheduled_functions").collect()
               if j["name"] == name and j["state"]["kind"] in ("pending", "inProgress")]
    return running[0]["_id"]


@internal_mutation(args={"label": v.string()})
async def cancel_myself(ctx, args):
    await ctx.db.insert("events", {"label": args["label"]})
    await ctx.scheduler.cancel(await _own_job(ctx.db, "tasks:cancel_myself"))


@internal_action(args={"label": v.string()})
async def cancel_myself_action(ctx, args):
    job_id = await ctx.run_query(find_own_job, {"name": "tasks:cancel_myself_action"})
    await ctx.scheduler.cancel(job_id)
    await ctx.run_mutation(record, {"label": args["label"]})


@internal_query(args={"name": v.string()})
async def find_own_job(ctx, args):
    return await _own_job(ctx.db, args["name"])


@mutation(args={"label": v.string(), "action": v.boolean()})
async def schedule_self_cancelling(ctx, args):
    target = cancel_myself_action if args["action"] else cancel_myself
    return await ctx.scheduler.run_after(0, target, {"label": args["label"]})


@query(args={})
async def events(ctx, args):
    return await ctx.db.query("events").collect()
