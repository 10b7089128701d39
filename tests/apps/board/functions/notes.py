"""Notes, and functions that log, fail, read the identity and schedule, for the dashboard's tests."""

import logging

from prefmem import ConvexError, action, internal_mutation, mutation, query, v


@mutation(args={"title": v.string(), "priority": v.number()})
async def add(ctx, args):
    print(f"adding {args['title']}")
    return await ctx.db.insert("notes", args)


@mutation(args={"count": v.number()})
async def add_many(ctx, args):
    for i in range(int(args["count"])):
        await ctx.db.insert("notes", {"title": f"note {i:03d}", "priority": float(i % 5)})


@query(args={})
async def titles(ctx, args):
    return [n["title"] for n in await ctx.db.query("notes").collect()]


@query(args={})
async def whoami(ctx, args):
    identity = await ctx.auth.get_user_identity()
    return None if identity is None else identity.subject


@action(args={"text": v.string()})
async def shout(ctx, args):
    logging.warning("shouting %s", args["text"])
    return args["text"].upper()


@mutation(args={"reason": v.string()})
async def refuse(ctx, args):
    print("about to refuse")
    raise ConvexError({"reason": args["reason"]})


@internal_mutation(args={"title": v.string()})
async def add_later(ctx, args):
    await ctx.db.insert("notes", {"title": args["title"], "priority": 0.0})


@mutation(args={"title": v.string(), "delay": v.number()})
async def schedule(ctx, args):
    return await ctx.scheduler.run_after(args["delay"], add_later, {"title": args["title"]})
