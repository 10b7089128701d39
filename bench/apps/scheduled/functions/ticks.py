from prefmem import internal_mutation, v


@internal_mutation(args={"n": v.number()})
async def tick(ctx, args):
    await ctx.db.insert("ticks", {"n": args["n"]})


@internal_mutation(args={"count": v.number(), "at": v.optional(v.number()), "spread_ms": v.optional(v.number())})
async def fan_out(ctx, args):
    count = int(args["count"])
    for i in range(count):
        if "at" in args:
            when = args["at"] + args.get("spread_ms", 0.0) * i / max(1, count - 1)
            await ctx.scheduler.run_at(when, tick, {"n": float(i)})
        else:
            await ctx.scheduler.run_after(0, tick, {"n": float(i)})
