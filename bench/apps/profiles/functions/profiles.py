from prefmem import mutation, query, v


@query(args={"user": v.string()})
async def get(ctx, args):
    return await ctx.db.query("profiles").with_index("by_user", lambda q: q.eq("user", args["user"])).unique()


@mutation(args={"users": v.array(v.string())})
async def seed(ctx, args):
    for user in args["users"]:
        await ctx.db.insert("profiles", {"user": user, "bio": "", "edits": 0})
    return len(args["users"])


@mutation(args={"user": v.string(), "bio": v.string()})
async def set_bio(ctx, args):
    profile = await ctx.db.query("profiles").with_index("by_user", lambda q: q.eq("user", args["user"])).unique()
    await ctx.db.patch(profile["_id"], {"bio": args["bio"], "edits": profile["edits"] + 1})
    return profile["edits"] + 1
