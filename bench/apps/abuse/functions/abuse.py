from prefmem import mutation, query, v


@query(args={"n": v.number(), "i": v.number()})
async def heavy(ctx, args):
    """CPU work in proportion to n: a stand-in for an expensive page (``i`` makes each distinct)."""
    total = 0
    for k in range(int(args["n"])):
        total += k * k
    return float(total % 1000 + args["i"])


@query(args={"name": v.string(), "pad": v.number()})
async def counter(ctx, args):
    row = await ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", args["name"])).first()
    return {"n": row["n"] if row else 0.0, "pad": "x" * int(args["pad"])}


@mutation(args={"name": v.string()})
async def bump(ctx, args):
    row = await ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", args["name"])).first()
    if row is None:
        await ctx.db.insert("counters", {"name": args["name"], "n": 1.0})
    else:
        await ctx.db.patch(row["_id"], {"n": row["n"] + 1})


@mutation(args={"payload": v.string()})
async def write(ctx, args):
    await ctx.db.insert("rows", {"payload": args["payload"]})


@mutation(args={})
async def probe(ctx, args):
    return None
