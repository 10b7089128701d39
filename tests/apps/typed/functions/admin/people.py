"""A module in a folder: ``admin/people:create`` is ``api.admin.people.create``."""

from prefmem import action, internal_query, mutation, v


@mutation(args={"name": v.string(), "photo": v.optional(v.id("_storage"))}, returns=v.id("people"))
async def create(ctx, args):
    return await ctx.db.insert("people", args)


@internal_query(args={"name": v.string()}, returns=v.array(v.id("people")))
async def _named(ctx, args):
    return [p["_id"] for p in await ctx.db.query("people").collect() if p["name"] == args["name"]]


@action(args={"name": v.string()}, returns=v.object({"created": v.id("people"), "found": v.float64()}))
async def create_and_count(ctx, args):
    """Runs a mutation and an internal query, as an action does."""
    created = await ctx.run_mutation("admin/people:create", {"name": args["name"]})
    found = await ctx.run_query("admin/people:_named", {"name": args["name"]})
    return {"created": created, "found": float(len(found))}
