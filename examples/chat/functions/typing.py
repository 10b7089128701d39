"""Typing indicators that expire on their own through the scheduler."""

from prefmem import internal_mutation, mutation, query, v

TYPING_MS = 3000.0


@mutation(args={"channel": v.id("channels"), "user": v.string(), "ttl_ms": v.optional(v.number())})
async def start(ctx, args):
    ttl = args.get("ttl_ms", TYPING_MS)
    expires = ctx.now + ttl
    row = await ctx.db.query("typing").with_index(
        "by_channel_user", lambda q: q.eq("channel", args["channel"]).eq("user", args["user"])).first()
    if row is None:
        row_id = await ctx.db.insert("typing", {"channel": args["channel"], "user": args["user"], "expiresAt": expires})
    else:
        row_id = row["_id"]
        await ctx.db.patch(row_id, {"expiresAt": expires})
    await ctx.scheduler.run_after(ttl, expire, {"id": row_id})
    return row_id


@internal_mutation(args={"id": v.id("typing")})
async def expire(ctx, args):
    row = await ctx.db.get(args["id"])
    # A later keystroke pushed expiresAt out: that keystroke scheduled its own expiry.
    if row is not None and row["expiresAt"] <= ctx.now:
        await ctx.db.delete(row["_id"])


@query(args={"channel": v.id("channels")})
async def who(ctx, args):
    rows = await ctx.db.query("typing").with_index("by_channel_user", lambda q: q.eq("channel", args["channel"])).collect()
    return sorted(row["user"] for row in rows)
