import os

from prefmem import action, mutation, query, v


@query(args={})
async def whoami(ctx, args):
    identity = await ctx.auth.get_user_identity()
    return None if identity is None else identity.token_identifier


@mutation(args={"body": v.string()})
async def add(ctx, args):
    identity = await ctx.auth.get_user_identity()
    author = identity.token_identifier if identity is not None else "anonymous"
    await ctx.db.insert("notes", {"author": author, "body": args["body"]})
    return author


@query(args={})
async def mine(ctx, args):
    identity = await ctx.auth.get_user_identity()
    if identity is None:
        return []
    rows = await ctx.db.query("notes").with_index("by_author", lambda q: q.eq("author", identity.token_identifier)).collect()
    return [row["body"] for row in rows]


@query(args={"n": v.number(), "name": v.optional(v.string())})
async def slow(ctx, args):
    """CPU work in proportion to n (a stand-in for a heavy page), reading one counter."""
    total = 0
    for i in range(int(args["n"])):
        total += i * i
    row = await ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", args.get("name", ""))).first()
    return {"total": float(total), "n": row["n"] if row else 0.0}


@mutation(args={"name": v.string()})
async def bump(ctx, args):
    row = await ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", args["name"])).first()
    if row is None:
        await ctx.db.insert("counters", {"name": args["name"], "n": 1.0})
        return 1.0
    await ctx.db.patch(row["_id"], {"n": row["n"] + 1})
    return row["n"] + 1


@query(args={"name": v.string(), "pad": v.number()})
async def counter(ctx, args):
    """A counter with ``pad`` bytes of padding: a result as large as a test needs."""
    row = await ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", args["name"])).first()
    return {"n": row["n"] if row else 0.0, "pad": "x" * int(args["pad"])}


@action(args={"bytes": v.number()})
async def blob(ctx, args):
    return "x" * int(args["bytes"])


@query(args={})
async def process(ctx, args):
    """Which server process answers (the worker-process tests): its pid."""
    return float(os.getpid())
