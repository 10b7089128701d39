"""Writing signals: the one place a signal enters the log (and schedules learning)."""

from __future__ import annotations

from typing import Any

from prefmem import ConvexError

from .scheduling import schedule_learning

MAX_QUERY = 200
MAX_REASON = 200
MAX_SHOWN = 50  # a search logs at most this many of the results it showed


async def log_signal(ctx: Any, user: dict, signal: dict) -> dict:
    """Validate references, store ``signal`` for ``user`` and schedule learning.

    ``signal`` has the public shape (``type`` + that type's fields). When the shopper
    paused learning nothing is stored (``{"logged": False}``): pausing means no new
    evidence, while what was already learned stays usable.
    """
    kind = signal["type"]
    doc: dict[str, Any] = {"userId": user["_id"], "type": kind, "ts": float(ctx.now)}
    if kind == "search":
        query = signal["query"].strip()
        if not query:
            raise ConvexError({"code": "BAD_SIGNAL", "message": "a search signal needs a query"})
        doc["query"] = query[:MAX_QUERY]
        if signal.get("shown"):
            doc["shown"] = list(dict.fromkeys(signal["shown"]))[:MAX_SHOWN]  # the results seen, in order
    else:
        product = await ctx.db.get(signal["productId"])
        if product is None:
            raise ConvexError({"code": "NOT_FOUND", "message": "no such product"})
        doc["productId"] = product["_id"]
        for field in ("reason", "size", "orderId", "source"):
            if field in signal and signal[field] is not None:
                value = str(signal[field]).strip()[:MAX_REASON]
                if value:
                    doc[field] = value
        if "size" in doc and product.get("sizes") and doc["size"] not in product["sizes"] and kind != "return":
            raise ConvexError({"code": "BAD_SIGNAL", "message": f"size {doc['size']!r} is not a size of this product"})
    if user["learningPaused"]:
        return {"logged": False, "signalId": None, "learningScheduled": False}
    signal_id = await ctx.db.insert("signals", doc)
    await schedule_learning(ctx, user["_id"], "signal")
    return {"logged": True, "signalId": signal_id, "learningScheduled": True}


async def add_saved(ctx: Any, user_id: str, product_id: str, kind: str, size: str | None = None,
                    order_id: str | None = None) -> str:
    """A saved / purchased item row (saved items are unique per product; purchases are not)."""
    if kind == "saved":
        existing = await ctx.db.query("saved_items").with_index(
            "by_user_product", lambda q: q.eq("userId", user_id).eq("productId", product_id).eq("kind", "saved")).first()
        if existing is not None:
            return existing["_id"]
    doc: dict[str, Any] = {"userId": user_id, "productId": product_id, "kind": kind, "createdAt": float(ctx.now)}
    if size:
        doc["size"] = size
    if order_id:
        doc["orderId"] = order_id
    return await ctx.db.insert("saved_items", doc)
