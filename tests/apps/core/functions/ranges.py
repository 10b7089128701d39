"""Each query breaks one with_index rule; ``kind`` picks which."""

from prefmem import query, v

BAD = {
    "eq_out_of_order": ("by_name_age", lambda q: q.eq("age", 1)),
    "eq_skips_field": ("by_name_age", lambda q: q.eq("name", "a").eq("_creationTime", 1.0)),
    "eq_after_bound": ("by_name_age", lambda q: q.gt("name", "a").eq("age", 1)),
    "two_lower_bounds": ("by_name_age", lambda q: q.eq("name", "a").gt("age", 1).gte("age", 2)),
    "two_upper_bounds": ("by_name_age", lambda q: q.eq("name", "a").lt("age", 1).lte("age", 2)),
    "bound_on_wrong_field": ("by_name_age", lambda q: q.gt("age", 1)),
    "eq_after_all_fields": ("by_name", lambda q: q.eq("name", "a").eq("_creationTime", 1.0)),
    "bound_after_all_fields": ("by_name", lambda q: q.eq("name", "a").gt("name", "b")),
    "unknown_index": ("by_nothing", lambda q: q),
    "not_returned": ("by_name", lambda q: None),
    "bad_value": ("by_name", lambda q: q.eq("name", object())),
}


@query(args={"kind": v.string()})
async def bad(ctx, args):
    index, range_fn = BAD[args["kind"]]
    return await ctx.db.query("users").with_index(index, range_fn).collect()


@query(args={})
async def unknown_table(ctx, args):
    return await ctx.db.query("nope").collect()


@query(args={})
async def filter_not_boolean(ctx, args):
    return await ctx.db.query("users").filter(lambda q: q.field("name")).collect()


@query(args={})
async def query_writes(ctx, args):
    return await ctx.db.insert("users", {"name": "from a query"})
