"""Generic functions for the property tests: the index range, the filter and the consumer
come in as JSON-like descriptions, so one query function serves every generated case.

spec = {
    "index": "by_a_b" | ... | None (full table scan),
    "eq": [[field, value], ...],
    "lower": [op, field, value] | None,     # op: gt | gte
    "upper": [op, field, value] | None,     # op: lt | lte
    "order": "asc" | "desc",
    "filter": expr | None,                  # ["f", path] | ["v", value] | [op, expr...]
    "consumer": ["collect"] | ["take", n] | ["first"] | ["count"],
}
"""

from prefmem import internal_query, mutation, query, v


def build_range(spec):
    def range_fn(q):
        for field, value in spec.get("eq") or []:
            q = q.eq(field, value)
        for bound in (spec.get("lower"), spec.get("upper")):
            if bound is not None:
                op, field, value = bound
                q = getattr(q, op)(field, value)
        return q

    return range_fn


def build_expr(q, expr):
    head = expr[0]
    if head == "f":
        return q.field(expr[1])
    if head == "v":
        return expr[1]
    args = [build_expr(q, e) for e in expr[1:]]
    method = {"and": "and_", "or": "or_", "not": "not_"}.get(head, head)
    return getattr(q, method)(*args)


def build_query(ctx, spec):
    query_ = ctx.db.query("items")
    if spec.get("index") is not None:
        query_ = query_.with_index(spec["index"], build_range(spec))
    if spec.get("order"):
        query_ = query_.order(spec["order"])
    if spec.get("filter") is not None:
        query_ = query_.filter(lambda q: build_expr(q, spec["filter"]))
    return query_


@query(args={"spec": v.any()})
async def run(ctx, args):
    spec = args["spec"]
    query_ = build_query(ctx, spec)
    consumer = spec.get("consumer") or ["collect"]
    if consumer[0] == "collect":
        return [d["_id"] for d in await query_.collect()]
    if consumer[0] == "take":
        return [d["_id"] for d in await query_.take(consumer[1])]
    if consumer[0] == "first":
        doc = await query_.first()
        return [] if doc is None else [doc["_id"]]
    if consumer[0] == "count":
        return await query_.count()
    if consumer[0] == "iter":
        return [d["_id"] async for d in query_]
    raise ValueError(f"unknown consumer {consumer!r}")


@query(args={"spec": v.any(), "paginationOpts": v.any()})
async def page(ctx, args):
    result = await build_query(ctx, args["spec"]).paginate(args["paginationOpts"])
    return {**result, "page": [d["_id"] for d in result["page"]]}


@mutation(args={"docs": v.array(v.any())})
async def reset(ctx, args):
    """Replace the whole table with ``docs``; return their ids in insertion order."""
    for doc in await ctx.db.query("items").collect():
        await ctx.db.delete(doc["_id"])
    return [await ctx.db.insert("items", doc) for doc in args["docs"]]


@internal_query(args={})
async def dump(ctx, args):
    return await ctx.db.query("items").collect()


@mutation(args={"doc": v.any()})
async def insert(ctx, args):
    return await ctx.db.insert("items", args["doc"])


@query(args={"n": v.number()})
async def unique_n(ctx, args):
    doc = await ctx.db.query("items").with_index("by_n", lambda q: q.eq("n", args["n"])).unique()
    return None if doc is None else doc["_id"]


@mutation(args={"delete": v.array(v.id("items"))})
async def reset_keep(ctx, args):
    for doc_id in args["delete"]:
        await ctx.db.delete(doc_id)


@mutation(args={"id": v.id("items"), "doc": v.any()})
async def replace(ctx, args):
    await ctx.db.replace(args["id"], args["doc"])
