"""Read-modify-write mutations, each returning what it saw, so a test can replay them serially."""

from prefmem import mutation, query, v


async def _counter(ctx, name):
    return await ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", name)).unique()


@mutation(args={"name": v.string()})
async def increment(ctx, args):
    """Add one; returns the new value (a lost update would return a duplicate)."""
    doc = await _counter(ctx, args["name"])
    if doc is None:
        await ctx.db.insert("counters", {"name": args["name"], "value": 1.0})
        return 1.0
    await ctx.db.patch(doc["_id"], {"value": doc["value"] + 1})
    return doc["value"] + 1


@mutation(args={"source": v.string(), "target": v.string()})
async def copy(ctx, args):
    """Set ``target`` to ``source``'s value + 1: the result depends on what was read."""
    source = await _counter(ctx, args["source"])
    value = (source["value"] if source is not None else 0.0) + 1.0
    target = await _counter(ctx, args["target"])
    if target is None:
        await ctx.db.insert("counters", {"name": args["target"], "value": value})
    else:
        await ctx.db.patch(target["_id"], {"value": value})
    return value


@mutation(args={"entry": v.string()})
async def append(ctx, args):
    """A blind insert plus a count of everything before it."""
    before = float(len(await ctx.db.query("ledger").collect()))
    await ctx.db.insert("ledger", {"entry": args["entry"]})
    return before


@mutation(args={"entry": v.string()})
async def append_blind(ctx, args):
    """A blind insert: it reads nothing another commit could change."""
    await ctx.db.insert("ledger", {"entry": args["entry"]})
    return args["entry"]


@mutation(args={"names": v.array(v.string())})
async def set_oncall(ctx, args):
    for name in args["names"]:
        await ctx.db.insert("oncall", {"name": name, "on": True})


@mutation(args={"me": v.string(), "other": v.string()})
async def go_off_call(ctx, args):
    """Leave if the other one is still on call: serially, one of two always stays."""
    me = await ctx.db.query("oncall").with_index("by_name", lambda q: q.eq("name", args["me"])).unique()
    other = await ctx.db.query("oncall").with_index("by_name", lambda q: q.eq("name", args["other"])).unique()
    if other["on"]:
        await ctx.db.patch(me["_id"], {"on": False})
        return True
    return False


@query(args={})
async def state(ctx, args):
    counters = {c["name"]: c["value"] for c in await ctx.db.query("counters").collect()}
    oncall = {c["name"]: c["on"] for c in await ctx.db.query("oncall").collect()}
    ledger = [e["entry"] for e in await ctx.db.query("ledger").collect()]
    return {"counters": counters, "oncall": oncall, "ledger": ledger}


@query(args={})
async def whoami(ctx, args):
    """The serving process, so a test knows which worker a connection reached."""
    import os

    print(f"served by {os.getpid()}")  # and which worker ran an execution in the log
    return float(os.getpid())
