"""Numbers: a plain int is a Convex number, an Int64 is an int64."""

from prefmem import Int64, mutation, query, v


@mutation(args={"label": v.string()})
async def add(ctx, args):
    return await ctx.db.insert("things", {"label": args["label"], "n": 3, "big": Int64(2**62)})


@query(args={})
async def count(ctx, args):
    return len(await ctx.db.query("things").collect())


@query(args={"label": v.string()})
async def stored(ctx, args):
    doc = await ctx.db.query("things").with_index("by_label", lambda q: q.eq("label", args["label"])).unique()
    return {"n": doc["n"], "nType": type(doc["n"]).__name__, "big": doc["big"], "bigType": type(doc["big"]).__name__}


@query(args={"n": v.int64(), "x": v.number()})
async def echo(ctx, args):
    return {"n": args["n"], "x": args["x"], "nType": type(args["n"]).__name__, "xType": type(args["x"]).__name__}


@query(args={})
async def on_staged(ctx, args):
    return await ctx.db.query("things").with_index("by_n", lambda q: q.eq("n", 3)).collect()
