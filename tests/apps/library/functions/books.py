from prefmem import mutation, query, v


@mutation(args={"title": v.string(), "shelf": v.string()})
async def add(ctx, args):
    return await ctx.db.insert("books", args)


@mutation(args={"id": v.id("books"), "title": v.string()})
async def retitle(ctx, args):
    await ctx.db.patch(args["id"], {"title": args["title"]})


@mutation(args={"id": v.id("books")})
async def remove(ctx, args):
    await ctx.db.delete(args["id"])


@query(args={"text": v.string(), "shelf": v.optional(v.string())})
async def search(ctx, args):
    def q(s):
        s = s.search("title", args["text"])
        return s.eq("shelf", args["shelf"]) if "shelf" in args else s
    return [b["title"] for b in await ctx.db.query("books").with_search_index("search_title", q).take(10)]


@mutation(args={"title": v.string(), "text": v.string()})
async def add_and_search(ctx, args):
    await ctx.db.insert("books", {"title": args["title"], "shelf": "new"})
    found = await ctx.db.query("books").with_search_index("search_title", lambda s: s.search("title", args["text"])).collect()
    return [b["title"] for b in found]


@query(args={})
async def search_by_year(ctx, args):
    return await ctx.db.query("books").with_search_index(
        "search_title", lambda s: s.search("title", "x").eq("year", 1999.0)).collect()
