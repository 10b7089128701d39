"""Messages: send, page through (``usePaginatedQuery``-ready), search, delete, clean up."""

import logging

from prefmem import ConvexError, action, internal_mutation, mutation, query, v

log = logging.getLogger("chat")


@mutation(args={"channel": v.id("channels"), "author": v.string(), "body": v.string()})
async def send(ctx, args):
    body = args["body"].strip()
    if not body:
        raise ConvexError({"code": "EMPTY", "message": "a message needs a body"})
    if await ctx.db.get(args["channel"]) is None:
        raise ConvexError({"code": "NO_CHANNEL", "message": "that channel does not exist"})
    print(f"{args['author']} -> {body}")  # reaches the caller as a log line
    # Sending a message ends the author's typing indicator.
    typing = await ctx.db.query("typing").with_index(
        "by_channel_user", lambda q: q.eq("channel", args["channel"]).eq("user", args["author"])).first()
    if typing is not None:
        await ctx.db.delete(typing["_id"])
    return await ctx.db.insert("messages", {"channel": args["channel"], "author": args["author"], "body": body})


@mutation(args={"id": v.id("messages")})
async def remove(ctx, args):
    if await ctx.db.get(args["id"]) is not None:
        await ctx.db.delete(args["id"])


@query(args={"channel": v.id("channels"), "paginationOpts": v.any()})
async def list(ctx, args):  # noqa: A001 — `messages:list` is the public name
    """Oldest first, one page at a time: ``{page, isDone, continueCursor}``."""
    return await ctx.db.query("messages").with_index(
        "by_channel", lambda q: q.eq("channel", args["channel"])).paginate(args["paginationOpts"])


@query(args={"channel": v.id("channels"), "count": v.optional(v.number())})
async def recent(ctx, args):
    """The latest messages, newest first."""
    return await ctx.db.query("messages").with_index(
        "by_channel", lambda q: q.eq("channel", args["channel"])).order("desc").take(int(args.get("count", 20)))


@query(args={"channel": v.id("channels"), "text": v.string()})
async def search(ctx, args):
    return await ctx.db.query("messages").with_search_index(
        "search_body", lambda q: q.search("body", args["text"]).eq("channel", args["channel"])).take(20)


@action(args={"channel": v.id("channels")})
async def summarize(ctx, args):
    """An action: reads through a query and reports who said how much."""
    messages = await ctx.run_query("messages:recent", {"channel": args["channel"], "count": 100})
    counts: dict[str, int] = {}  # plain ints are Convex numbers: JS clients get numbers
    for message in messages:
        counts[message["author"]] = counts.get(message["author"], 0) + 1
    log.info("summarized %d messages", len(messages))
    return {"messages": len(messages), "byAuthor": counts}


@mutation(args={"channel": v.id("channels")})
async def explode(ctx, args):
    """Fails with an ordinary exception: its text reaches clients only in dev mode."""
    raise RuntimeError(f"the database password is hunter2 (channel {args['channel']})")


@internal_mutation(args={"channel": v.id("channels"), "keep": v.number()})
async def trim(ctx, args):
    """Message cleanup: keep only the newest ``keep`` messages of a channel."""
    old = await ctx.db.query("messages").with_index(
        "by_channel", lambda q: q.eq("channel", args["channel"])).order("desc").collect()
    for message in old[int(args["keep"]):]:
        await ctx.db.delete(message["_id"])
    return max(0, len(old) - int(args["keep"]))
