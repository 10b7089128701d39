"""Saved and purchased items of the signed-in shopper."""

from prefmem import mutation, query, v

from ._lib.identity import current_user, ensure_user, not_found
from ._lib.signals import add_saved, log_signal
from .catalog import with_image_url


@query(name="list", args={"kind": v.optional(v.union(v.literal("saved"), v.literal("purchased")))})
async def list_items(ctx, args):
    """The shopper's saved (and purchased) items, newest first, each with its product."""
    user = await current_user(ctx)
    if user is None:
        return []
    rows = await ctx.db.query("saved_items").with_index("by_user", lambda q: q.eq("userId", user["_id"])) \
        .order("desc").collect()
    out = []
    for row in rows:
        if "kind" in args and row["kind"] != args["kind"]:
            continue
        product = await ctx.db.get(row["productId"])
        out.append({**row, "product": None if product is None else await with_image_url(ctx, product)})
    return out


@mutation(args={"productId": v.id("products"), "size": v.optional(v.string())})
async def add(ctx, args):
    """Save an item (also logged as a "save" signal); returns the saved item's id."""
    user = await ensure_user(ctx)
    await log_signal(ctx, user, {"type": "save", **args})  # checks the product and size
    return await add_saved(ctx, user["_id"], args["productId"], "saved", args.get("size"))


@mutation(args={"id": v.optional(v.id("saved_items")), "productId": v.optional(v.id("products"))})
async def remove(ctx, args):
    """Unsave by saved-item id or by product; only the shopper's own rows."""
    user = await ensure_user(ctx)
    if "id" in args:
        row = await ctx.db.get(args["id"])
        if row is None or row["userId"] != user["_id"]:
            raise not_found("saved item")
        await ctx.db.delete(row["_id"])
        return 1.0
    if "productId" in args:
        rows = await ctx.db.query("saved_items").with_index(
            "by_user_product",
            lambda q: q.eq("userId", user["_id"]).eq("productId", args["productId"]).eq("kind", "saved")).collect()
        for row in rows:
            await ctx.db.delete(row["_id"])
        return len(rows)
    raise not_found("saved item")
