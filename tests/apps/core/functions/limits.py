"""Functions that go past the limits configured by the tests."""

from prefmem import mutation, query, v


@query(args={"table": v.string()})
async def read_all(ctx, args):
    return len(await ctx.db.query(args["table"]).collect())


@query(args={"ids": v.array(v.string())})
async def get_many(ctx, args):
    return [await ctx.db.get(i) for i in args["ids"]]


@mutation(args={"n": v.int64(), "size": v.int64()})
async def write_many(ctx, args):
    return [await ctx.db.insert("blobs", {"data": "x" * args["size"]}) for _ in range(args["n"])]


@mutation(args={"data": v.any()})
async def write_blob(ctx, args):
    return await ctx.db.insert("blobs", {"data": args["data"]})


@mutation(args={"depth": v.int64()})
async def write_nested(ctx, args):
    value = "leaf"
    for _ in range(args["depth"]):
        value = {"d": value}
    return await ctx.db.insert("blobs", {"data": value})


@query(args={"depth": v.int64()})
async def return_nested(ctx, args):
    value = "leaf"
    for _ in range(args["depth"]):
        value = [value]
    return value


@query(args={"size": v.int64()})
async def return_big(ctx, args):
    return "x" * args["size"]


@query(args={"data": v.any()})
async def echo(ctx, args):
    return "ok"


@query(args={"n": v.int64()})
async def log_lines(ctx, args):
    for k in range(args["n"]):
        print(f"line {k}")
    return args["n"]


@query(args={})
async def first_blob(ctx, args):
    return (await ctx.db.query("blobs").first())["_id"]


@query(args={"data": v.any()})
async def filtered_count(ctx, args):
    return len(await ctx.db.query("blobs").filter(lambda q: q.eq(q.field("data"), args["data"])).collect())


@mutation(args={"point": v.object({"x": v.object({"y": v.object({"z": v.string()})})})})
async def write_point(ctx, args):
    return await ctx.db.insert("notes", {"body": args["point"]["x"]["y"]["z"]})
