"""The shopper's control over their data: export, forget, pause, delete the account.

(Reset of what was learned is ``preferences:reset_learned``; retention is the
``learning:retention`` cron.) Every function acts only on the signed-in shopper's rows,
found through indexes that start with ``userId``.
"""

from prefmem import ConvexError, action, internal_mutation, internal_query, mutation, v

from ._lib.identity import current_user, ensure_user, not_found, require_identity, require_user, token_hash
from ._lib.scheduling import schedule_learning
from .preferences import profile_for, stored_profile

FORGET_BATCH = 4000


# ---------------------------------------------------------------------------- export

@internal_query(args={})
async def _export_data(ctx, args):
    user = await current_user(ctx)
    if user is None:
        return None
    uid = user["_id"]

    async def rows(table, index):
        return await ctx.db.query(table).with_index(index, lambda q: q.eq("userId", uid)).collect()

    photo = user.get("inspirationPhotoId")
    pref = await stored_profile(ctx, uid)
    return {
        "exportedAt": float(ctx.now),
        "user": user,
        "inspirationPhotoUrl": await ctx.storage.get_url(photo) if photo else None,
        "profile": await profile_for(ctx, user),
        "storedProfile": pref,
        "overrides": await rows("overrides", "by_user_key"),
        "savedItems": await rows("saved_items", "by_user"),
        "signals": await rows("signals", "by_user_ts"),
        "learningRuns": await rows("learning_runs", "by_user_state"),
        "webhookEvents": await rows("webhook_events", "by_user"),
    }


@action(args={})
async def export(ctx, args):
    """Everything stored about the signed-in shopper, as one JSON value."""
    await require_identity(ctx)
    data = await ctx.run_query("privacy:_export_data", {})
    if data is None:
        return {"user": None}
    return data


# ---------------------------------------------------------------------------- forget

async def _delete_signals(ctx, uid, lo=None, hi=None, limit=FORGET_BATCH):
    def rng(q):
        q = q.eq("userId", uid)
        if lo is not None:
            q = q.gte("ts", lo)
        if hi is not None:
            q = q.lte("ts", hi)
        return q
    signals = await ctx.db.query("signals").with_index("by_user_ts", rng).take(limit)
    for s in signals:
        await ctx.db.delete(s["_id"])
    return len(signals)


@internal_mutation(args={"userId": v.id("users"), "from": v.optional(v.float64()), "before": v.optional(v.float64())})
async def _purge_signals(ctx, args):
    """Continue a large forget / reset: delete the next batch, reschedule while any is left."""
    hi = args["before"] - 1e-6 if "before" in args else None
    n = await _delete_signals(ctx, args["userId"], args.get("from"), hi)
    if n == FORGET_BATCH:
        await ctx.scheduler.run_after(0, "privacy:_purge_signals", args)
    elif await ctx.db.get(args["userId"]) is not None:
        await schedule_learning(ctx, args["userId"], "forget", 0.0)
    return n


@mutation(args={"signalId": v.optional(v.id("signals")), "productId": v.optional(v.id("products")),
                "from": v.optional(v.number()), "to": v.optional(v.number())})
async def forget(ctx, args):
    """Forget one signal (``signalId``), all signals about an item (``productId``, "it was a
    gift"), or those in a date range (``from`` / ``to``, ms, inclusive); then re-learn.

    The profile is then exactly the one recomputed without those signals.
    """
    user = await ensure_user(ctx)
    uid = user["_id"]
    chosen = [k for k in ("signalId", "productId") if k in args] + (["range"] if "from" in args or "to" in args else [])
    if len(chosen) != 1:
        raise ConvexError({"code": "BAD_ARGS", "message": "give one of signalId, productId, or from/to"})
    forgotten = 0
    if "signalId" in args:
        s = await ctx.db.get(args["signalId"])
        if s is None or s["userId"] != uid:
            raise not_found("signal")
        await ctx.db.delete(s["_id"])
        forgotten = 1
    elif "productId" in args:
        rows = await ctx.db.query("signals").with_index(
            "by_user_product", lambda q: q.eq("userId", uid).eq("productId", args["productId"])).collect()
        for s in rows:
            await ctx.db.delete(s["_id"])
        forgotten = len(rows)
    else:
        lo, hi = args.get("from"), args.get("to")
        if lo is not None and hi is not None and lo > hi:
            raise ConvexError({"code": "BAD_ARGS", "message": "from must not be after to"})
        forgotten = await _delete_signals(ctx, uid, lo, hi)
        if forgotten == FORGET_BATCH:
            more = {"userId": uid}
            if lo is not None:
                more["from"] = float(lo)
            if hi is not None:
                more["before"] = float(hi) + 1e-6
            await ctx.scheduler.run_after(0, "privacy:_purge_signals", more)
    await schedule_learning(ctx, uid, "forget", 0.0)
    return {"forgotten": forgotten}


# ---------------------------------------------------------------------------- pause

@mutation(args={"paused": v.boolean()})
async def set_learning_paused(ctx, args):
    """Pause (no new signals are logged) or resume learning."""
    user = await ensure_user(ctx)
    await ctx.db.patch(user["_id"], {"learningPaused": args["paused"]})
    return args["paused"]


# ---------------------------------------------------------------------------- delete

@mutation(args={})
async def delete_account(ctx, args):
    """Delete the signed-in shopper and every row of theirs (and their photo), in one transaction."""
    user = await require_user(ctx)
    uid = user["_id"]
    counts = {}
    for table, index in (("signals", "by_user_ts"), ("overrides", "by_user_key"), ("saved_items", "by_user"),
                         ("preferences", "by_user"), ("learning_runs", "by_user_state"),
                         ("webhook_events", "by_user")):
        n = 0
        for row in await ctx.db.query(table).with_index(index, lambda q: q.eq("userId", uid)).collect():
            if table == "learning_runs" and row["state"] == "pending" and row.get("jobId"):
                await ctx.scheduler.cancel(row["jobId"])
            await ctx.db.delete(row["_id"])
            n += 1
        counts[table] = n
    if user.get("inspirationPhotoId"):
        await ctx.storage.delete(user["inspirationPhotoId"])
        counts["files"] = 1.0
    await ctx.db.delete(uid)
    counts["users"] = 1.0
    key = token_hash(user["tokenIdentifier"])
    tombstone = await ctx.db.query("deleted_accounts").with_index("by_token_hash", lambda q: q.eq("tokenHash", key)).first()
    if tombstone is None:
        await ctx.db.insert("deleted_accounts", {"tokenHash": key, "deletedAt": float(ctx.now)})
    else:
        await ctx.db.patch(tombstone["_id"], {"deletedAt": float(ctx.now)})
    return {"deleted": counts}
