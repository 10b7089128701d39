"""Ranked items: rows can be inserted anywhere in the order, for the pagination tests."""

import logging

from prefmem import ConvexError, action, mutation, query, v

log = logging.getLogger("feed")


@mutation(args={"list": v.string(), "rank": v.number(), "label": v.string()})
async def add(ctx, args):
    return await ctx.db.insert("items", {"list": args["list"], "rank": args["rank"], "label": args["label"]})


@mutation(args={"list": v.string(), "items": v.array(v.object({"rank": v.number(), "label": v.string()}))})
async def add_many(ctx, args):
    return [await ctx.db.insert("items", {"list": args["list"], **item}) for item in args["items"]]


@mutation(args={"id": v.id("items")})
async def remove(ctx, args):
    await ctx.db.delete(args["id"])


@query(args={"list": v.string(), "paginationOpts": v.any()})
async def page(ctx, args):
    return await ctx.db.query("items").with_index(
        "by_list_rank", lambda q: q.eq("list", args["list"])).paginate(args["paginationOpts"])


@query(args={"list": v.string()})
async def all(ctx, args):  # noqa: A001
    return await ctx.db.query("items").with_index("by_list_rank", lambda q: q.eq("list", args["list"])).collect()


@query(args={"list": v.string()})
async def labels(ctx, args):
    print("reading", args["list"])
    rows = await ctx.db.query("items").with_index("by_list_rank", lambda q: q.eq("list", args["list"])).collect()
    return [row["label"] for row in rows]


@mutation(args={"list": v.string(), "label": v.string()})
async def noisy_add(ctx, args):
    print("adding", args["label"])
    log.warning("warned about %s", args["label"])
    return await ctx.db.insert("items", {"list": args["list"], "rank": 0.0, "label": args["label"]})


@mutation(args={"label": v.string()})
async def reject(ctx, args):
    raise ConvexError({"code": "REJECTED", "label": args["label"]})


@mutation(args={})
async def explode(ctx, args):
    raise RuntimeError("secret internal detail 42")


@action(args={"text": v.string()})
async def shout(ctx, args):
    print("shouting", args["text"])
    count = float(len(await ctx.run_query("items:all", {"list": "default"})))
    return {"text": args["text"].upper(), "count": count}
