"""Writes, reads of own writes, errors and visibility."""

from prefmem import UNSET, ConvexError, internal_mutation, internal_query, mutation, query, v


@mutation(args={"name": v.string(), "age": v.optional(v.number())})
async def add(ctx, args):
    return await ctx.db.insert("users", args)


@mutation(args={"table": v.string(), "doc": v.any()})
async def insert_raw(ctx, args):
    return await ctx.db.insert(args["table"], args["doc"])


@mutation(args={"id": v.string(), "fields": v.any(), "unset": v.optional(v.array(v.string()))})
async def patch(ctx, args):
    fields = dict(args["fields"])
    for name in args.get("unset", []):
        fields[name] = UNSET
    await ctx.db.patch(args["id"], fields)
    return await ctx.db.get(args["id"])


@mutation(args={"id": v.string(), "doc": v.any()})
async def replace(ctx, args):
    await ctx.db.replace(args["id"], args["doc"])
    return await ctx.db.get(args["id"])


@mutation(args={"id": v.string()})
async def delete(ctx, args):
    await ctx.db.delete(args["id"])


@query(args={"id": v.string()})
async def get(ctx, args):
    return await ctx.db.get(args["id"])


@query(args={"table": v.string()})
async def all(ctx, args):
    return await ctx.db.query(args["table"]).collect()


@mutation(args={"name": v.string()})
async def insert_then_fail(ctx, args):
    await ctx.db.insert("users", {"name": args["name"]})
    await ctx.db.insert("notes", {"body": "written before the failure"})
    raise RuntimeError("failed after writing")


@mutation(args={"name": v.string(), "missing": v.string()})
async def insert_then_patch_missing(ctx, args):
    await ctx.db.insert("users", {"name": args["name"]})
    await ctx.db.patch(args["missing"], {"name": "x"})


@mutation(args={"id": v.string(), "fields": v.any()})
async def patch_then_convex_error(ctx, args):
    await ctx.db.patch(args["id"], args["fields"])
    raise ConvexError({"code": "NOPE", "after": "patch"})


@mutation(args={"name": v.string()})
async def read_own_writes(ctx, args):
    uid = await ctx.db.insert("users", {"name": args["name"], "age": 1})
    seen = {"get": await ctx.db.get(uid)}
    seen["index"] = await ctx.db.query("users").with_index("by_name", lambda q: q.eq("name", args["name"])).collect()
    await ctx.db.patch(uid, {"age": 2})
    seen["after_patch"] = (await ctx.db.get(uid))["age"]
    await ctx.db.replace(uid, {"name": args["name"] + "!"})
    seen["after_replace"] = await ctx.db.get(uid)
    seen["old_name_index"] = await ctx.db.query("users").with_index(
        "by_name", lambda q: q.eq("name", args["name"])).collect()
    await ctx.db.delete(uid)
    seen["after_delete"] = await ctx.db.get(uid)
    seen["count"] = await ctx.db.query("users").count()
    seen["kept"] = await ctx.db.insert("users", {"name": args["name"]})
    return seen


@mutation(args={"n": v.int64()})
async def insert_many(ctx, args):
    return [await ctx.db.insert("users", {"name": f"u{k}"}) for k in range(args["n"])]


@query(args={"table": v.string(), "text": v.string()})
async def normalize(ctx, args):
    return ctx.db.normalize_id(args["table"], args["text"])


@internal_query(args={})
async def secret(ctx, args):
    return "internal data"


@internal_mutation(args={"name": v.string()})
async def internal_add(ctx, args):
    return await ctx.db.insert("users", {"name": args["name"]})


@mutation(args={"data": v.any()})
async def fail_with_data(ctx, args):
    await ctx.db.insert("notes", {"body": "scheduled to vanish"})
    raise ConvexError(args["data"])


@query(args={"name": v.string(), "count": v.int64(), "ratio": v.number(), "tags": v.array(v.string()),
             "owner": v.id("users"), "flag": v.optional(v.boolean()),
             "nested": v.optional(v.object({"deep": v.array(v.union(v.string(), v.null()))}))})
async def typed(ctx, args):
    return args


@query(args={"x": v.number()}, returns=v.string())
async def wrong_return(ctx, args):
    return args["x"]


@query(args={"table": v.string(), "index": v.string(), "eq": v.optional(v.array(v.array(v.any())))})
async def by_index(ctx, args):
    def range_fn(q):
        for field, value in args.get("eq", []):
            q = q.eq(field, value)
        return q

    return [d["_id"] for d in await ctx.db.query(args["table"]).with_index(args["index"], range_fn).collect()]


@mutation(args={})
async def convex_error_with_data(ctx, args):
    raise ConvexError({"code": "NOPE", "count": 2.0})


@mutation(args={})
async def convex_error_with_bad_data(ctx, args):
    raise ConvexError({"tags": {"a", "b"}})


@mutation(args={"body_code": v.int64(), "int_key": v.boolean()})
async def insert_odd_note(ctx, args):
    """Writes what no client can send: a lone surrogate, or a key that is not a string."""
    doc = {"body": chr(args["body_code"])}
    if args["int_key"]:
        doc[1] = "x"
    return await ctx.db.insert("notes", doc)
