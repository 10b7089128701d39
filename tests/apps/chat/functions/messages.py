import asyncio

from prefmem import ConvexError, UNSET, internal_mutation, mutation, query, v


@mutation(args={"name": v.string()})
async def create_channel(ctx, args):
    return await ctx.db.insert("channels", {"name": args["name"]})


@mutation(args={"channel": v.id("channels"), "body": v.string(), "author": v.optional(v.string())})
async def send(ctx, args):
    if not args["body"].strip():
        raise ConvexError({"code": "EMPTY", "message": "a message needs a body"})
    print("sending", args["body"])
    return await ctx.db.insert("messages", {"channel": args["channel"], "body": args["body"],
                                            "author": args.get("author", "me")})


@query(args={"channel": v.id("channels")}, returns=v.array(v.any()))
async def recent(ctx, args):
    return await ctx.db.query("messages").with_index(
        "by_channel", lambda q: q.eq("channel", args["channel"])).order("desc").take(50)


@query(args={"channel": v.id("channels"), "paginationOpts": v.any()})
async def page(ctx, args):
    return await ctx.db.query("messages").with_index(
        "by_channel", lambda q: q.eq("channel", args["channel"])).paginate(args["paginationOpts"])


@mutation(args={"id": v.id("messages"), "likes": v.optional(v.number())})
async def set_likes(ctx, args):
    await ctx.db.patch(args["id"], {"likes": args["likes"] if "likes" in args else UNSET})


@mutation(args={"channel": v.id("channels"), "body": v.string()})
async def send_then_fail(ctx, args):
    await ctx.db.insert("messages", {"channel": args["channel"], "body": args["body"], "author": "x"})
    raise ValueError("boom after writing")


@query
async def sleepy(ctx, args):
    await asyncio.sleep(0)
    return 1


@query
def ping(ctx, args):
    return "pong"


@internal_mutation(args={})
async def wipe(ctx, args):
    for doc in await ctx.db.query("messages").collect():
        await ctx.db.delete(doc["_id"])


@query(args={"channel": v.id("channels")})
async def who_sees(ctx, args):
    """Reads the identity only for private channels: shared while public, per user once private."""
    channel = await ctx.db.get(args["channel"])
    if channel["name"].startswith("private"):
        identity = await ctx.auth.get_user_identity()
        return None if identity is None else identity.subject
    return "everyone"


@mutation(args={"channel": v.id("channels"), "name": v.string()})
async def rename_channel(ctx, args):
    await ctx.db.patch(args["channel"], {"name": args["name"]})
