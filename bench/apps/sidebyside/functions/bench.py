from prefmem import mutation, query, v


# ---------------------------------------------------------------- seeding (idempotent)

@mutation(args={"users": v.array(v.string())})
async def seed(ctx, args):
    """A profile and a budget for every user that has none yet."""
    made = 0
    for user in args["users"]:
        found = await ctx.db.query("profiles").with_index("by_user", lambda q: q.eq("user", user)).unique()
        if found is None:
            await ctx.db.insert("profiles", {"user": user, "seq": 0})
            await ctx.db.insert("budgets", {"user": user, "version": 0, "amount": 0})
            made += 1
    return made


@mutation(args={})
async def seed_shared(ctx, args):
    found = await ctx.db.query("shared").with_index("by_name", lambda q: q.eq("name", "shared")).unique()
    if found is None:
        await ctx.db.insert("shared", {"name": "shared", "seq": 0})
    return None


# ---------------------------------------------------------------- W1 / W4: per-user profiles

@query(args={"user": v.string()})
async def profile(ctx, args):
    return await ctx.db.query("profiles").with_index("by_user", lambda q: q.eq("user", args["user"])).unique()


@mutation(args={"user": v.string(), "seq": v.number()})
async def signal(ctx, args):
    """One signal: insert it and update the user's profile, in one transaction."""
    await ctx.db.insert("signals", {"user": args["user"], "seq": args["seq"]})
    profile = await ctx.db.query("profiles").with_index("by_user", lambda q: q.eq("user", args["user"])).unique()
    await ctx.db.patch(profile["_id"], {"seq": args["seq"]})
    return None


# ---------------------------------------------------------------- W2: one shared query

@query(args={})
async def shared(ctx, args):
    return await ctx.db.query("shared").with_index("by_name", lambda q: q.eq("name", "shared")).unique()


@mutation(args={"seq": v.number()})
async def bump_shared(ctx, args):
    doc = await ctx.db.query("shared").with_index("by_name", lambda q: q.eq("name", "shared")).unique()
    await ctx.db.patch(doc["_id"], {"seq": args["seq"]})
    return None


# ---------------------------------------------------------------- W3: two dependent queries

@query(args={"user": v.string()})
async def budget(ctx, args):
    return await ctx.db.query("budgets").with_index("by_user", lambda q: q.eq("user", args["user"])).unique()


@query(args={"user": v.string()})
async def products(ctx, args):
    """The user's products priced at or under the user's budget (reads the budget first)."""
    budget = await ctx.db.query("budgets").with_index("by_user", lambda q: q.eq("user", args["user"])).unique()
    limit = budget["amount"] if budget is not None else 0
    return await ctx.db.query("products").with_index(
        "by_user_price", lambda q: q.eq("user", args["user"]).lte("price", limit)).collect()


@mutation(args={"user": v.string(), "version": v.number()})
async def raise_budget(ctx, args):
    """Budget version N allows price 10·N, and a product at exactly that price appears: one commit."""
    budget = await ctx.db.query("budgets").with_index("by_user", lambda q: q.eq("user", args["user"])).unique()
    amount = 10 * args["version"]
    await ctx.db.patch(budget["_id"], {"version": args["version"], "amount": amount})
    await ctx.db.insert("products", {"user": args["user"], "version": args["version"], "price": amount})
    return None


# ---------------------------------------------------------------- W5: small inserts

@mutation(args={"seq": v.number(), "payload": v.string()})
async def insert(ctx, args):
    await ctx.db.insert("items", {"seq": args["seq"], "payload": args["payload"]})
    return None


# ---------------------------------------------------------------- contended: few rows, many writers

@mutation(args={"names": v.array(v.string())})
async def seed_counters(ctx, args):
    for name in args["names"]:
        found = await ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", name)).unique()
        if found is None:
            await ctx.db.insert("counters", {"name": name, "count": 0})
    return None


@mutation(args={"name": v.string()})
async def increment(ctx, args):
    """Read a counter and write it back one higher: two of these on one counter conflict."""
    counter = await ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", args["name"])).unique()
    await ctx.db.patch(counter["_id"], {"count": counter["count"] + 1})
    return counter["count"] + 1


@query(args={})
async def counters(ctx, args):
    return {c["name"]: c["count"] for c in await ctx.db.query("counters").collect()}
