"""Logging signals: ``interactions:log`` (one validated signal, schedules learning) and the
internal mutation behind the purchase webhook (idempotent on the event id)."""

from prefmem import ConvexError, internal_mutation, mutation, v

from ._lib.reasons import DISMISS_REASONS, RETURN_REASONS
from ._lib.identity import ensure_user
from ._lib.signals import add_saved, log_signal

PRODUCT = v.id("products")
# Reasons are codes, not sentences: the page words them, the learner reads them.
DISMISS_REASON = v.union(*(v.literal(code) for code in DISMISS_REASONS))
RETURN_REASON = v.union(*(v.literal(code) for code in RETURN_REASONS))


def _sig(type_, **fields):
    return v.object({"type": v.literal(type_), **fields})


# Each signal type has its own shape; an unknown field or a missing productId is refused.
SIGNAL_ARGS = v.union(
    _sig("view", productId=PRODUCT),
    _sig("like", productId=PRODUCT),
    _sig("save", productId=PRODUCT, size=v.optional(v.string())),
    _sig("cart", productId=PRODUCT, size=v.optional(v.string())),
    _sig("purchase", productId=PRODUCT, size=v.optional(v.string())),
    _sig("dismiss", productId=PRODUCT, reason=v.optional(DISMISS_REASON)),
    _sig("return", productId=PRODUCT, reason=v.optional(RETURN_REASON), size=v.optional(v.string())),
    _sig("search", query=v.string(), shown=v.optional(v.array(PRODUCT))),
)


@mutation(args=SIGNAL_ARGS)
async def log(ctx, args):
    """Log one signal of the signed-in shopper; a purchase is also kept as a purchased item.

    Returns ``{"logged", "signalId", "learningScheduled"}`` (nothing is logged while learning
    is paused, except that a purchase still appears among purchased items).
    """
    user = await ensure_user(ctx)
    signal = dict(args)
    if signal["type"] == "purchase":
        signal["source"] = "app"
    result = await log_signal(ctx, user, signal)
    if args["type"] == "purchase":
        await add_saved(ctx, user["_id"], args["productId"], "purchased", args.get("size"))
    return result


@internal_mutation(args={"eventId": v.string(), "userId": v.string(), "productId": v.optional(v.string()),
                         "sku": v.optional(v.string()), "size": v.optional(v.string()),
                         "orderId": v.optional(v.string())})
async def _record_purchase_event(ctx, args):
    """Record one purchase webhook event exactly once: ``{"status": "logged" | "duplicate" | ...}``."""
    seen = await ctx.db.query("webhook_events").with_index("by_event", lambda q: q.eq("eventId", args["eventId"])).first()
    if seen is not None:
        return {"status": "duplicate", "signalId": seen.get("signalId")}
    user_id = ctx.db.normalize_id("users", args["userId"])
    user = await ctx.db.get(user_id) if user_id else None
    if user is None:
        return {"status": "unknown_user"}
    product = None
    if args.get("productId"):
        pid = ctx.db.normalize_id("products", args["productId"])
        product = await ctx.db.get(pid) if pid else None
    elif args.get("sku"):
        product = await ctx.db.query("products").with_index("by_sku", lambda q: q.eq("sku", args["sku"])).first()
    if product is None:
        return {"status": "unknown_product"}
    signal = {"type": "purchase", "productId": product["_id"], "source": "webhook"}
    for field in ("size", "orderId"):
        if args.get(field):
            signal[field] = args[field]
    try:
        result = await log_signal(ctx, user, signal)
    except ConvexError as err:
        return {"status": "invalid", "message": err.data.get("message") if isinstance(err.data, dict) else str(err)}
    await add_saved(ctx, user["_id"], product["_id"], "purchased", args.get("size"), args.get("orderId"))
    event = {"eventId": args["eventId"], "receivedAt": float(ctx.now), "userId": user["_id"]}
    if result["signalId"]:
        event["signalId"] = result["signalId"]
    await ctx.db.insert("webhook_events", event)
    return {"status": "logged", "signalId": result["signalId"]}
