"""Failures, as a client reads them."""

from prefmem import ConvexError, Int64, action, internal_query, mutation, query, v


class FooError(ConvexError):
    """An application's own ConvexError: clients read its name."""


@mutation(args={})
async def raise_foo(ctx, args):
    raise FooError({"code": "FOO", "n": Int64(123)})


@mutation(args={"message": v.string()})
async def reject(ctx, args):
    raise ConvexError(args["message"])


@query(args={})
async def raise_value_error(ctx, args):
    raise ValueError("plain failure")


@action(args={})
async def nested(ctx, args):
    await ctx.run_mutation(reject, {"message": "inner"})


@action(args={})
async def nested_plain(ctx, args):
    await ctx.run_query(raise_value_error, {})


@internal_query(args={})
async def hidden(ctx, args):
    return "internal"


@query(args={"name": v.string()})
async def typed_query(ctx, args):
    return args["name"]


@mutation(args={"name": v.string()})
async def typed_mutation(ctx, args):
    return args["name"]


@action(args={"name": v.string()})
async def typed_action(ctx, args):
    return args["name"]


@query(args={})
async def return_set(ctx, args):
    return {"tags": {"a"}}


@query(args={})
async def return_map(ctx, args):
    return {1: "one"}


@mutation(args={})
async def store_set(ctx, args):
    await ctx.db.insert("things", {"label": "set", "tags": frozenset({"x"})})
