"""Channels: create one (names are unique) and list them."""

from prefmem import ConvexError, mutation, query, v


@mutation(args={"name": v.string()})
async def create(ctx, args):
    name = args["name"].strip()
    if not name:
        raise ConvexError({"code": "BAD_NAME", "message": "a channel needs a name"})
    existing = await ctx.db.query("channels").with_index("by_name", lambda q: q.eq("name", name)).first()
    if existing is not None:
        return existing["_id"]  # creating a channel twice returns the one already there
    return await ctx.db.insert("channels", {"name": name})


@query(args={})
async def list(ctx, args):  # noqa: A001 — `channels:list` is the public name
    return await ctx.db.query("channels").with_index("by_name").collect()
