"""The shopper's profile: read it, set values by hand, pin / remove / ban, reset what was learned.

``preferences:get`` returns the stored learned profile with the current overrides applied
(``_lib/profile_view.effective_profile``), in exactly the shape of PREFERENCES.md;
``preferences:facets`` lists the facets it has, for the page. Every
change to overrides schedules a re-learn (one pending per shopper), but takes effect in
``preferences:get`` at once.
"""

from prefmem import ConvexError, mutation, query, v

from ._lib.catalog import FACET_INFO, FACETS
from ._lib.identity import current_user, ensure_user, require_identity
from ._lib.overrides import budget_key, clear_override, facet_key, put_override, size_key, user_overrides
from ._lib.profile_view import effective_profile, empty_profile_json
from ._lib.scheduling import schedule_learning

FACET = v.union(*(v.literal(f) for f in FACETS))
BUDGET = v.object({"min": v.number(), "max": v.number()})
RESET_BATCH = 4000


async def stored_profile(ctx, user_id):
    return await ctx.db.query("preferences").with_index("by_user", lambda q: q.eq("userId", user_id)).unique()


async def profile_for(ctx, user):
    """The effective profile JSON of a user record (query or mutation)."""
    pref = await stored_profile(ctx, user["_id"])
    return effective_profile(pref["profile"] if pref else None, await user_overrides(ctx, user["_id"]), user, ctx.now)


def _norm(facet, value):
    value = value.strip()
    if not value:
        raise ConvexError({"code": "BAD_VALUE", "message": "a value cannot be empty"})
    return value if facet == "brand" else value.lower()


@query(args={}, returns=v.array(v.object({"name": FACET, "label": v.string(), "singular": v.string()})))
async def facets(ctx, args):
    """The learned facets in the order the profile shows them: ``[{"name", "label", "singular"}]``.

    The same for every shopper: the page lays out the profile from it rather than keeping
    its own list.
    """
    await require_identity(ctx)
    return [{"name": f.name, "label": f.label, "singular": f.singular} for f in FACET_INFO]


@query(args={})
async def get(ctx, args):
    """The effective profile (values with source, state, confidence, locked and evidence)."""
    user = await current_user(ctx)
    if user is None:
        return empty_profile_json(ctx.now)
    return await profile_for(ctx, user)


@mutation(args={
    "style": v.optional(v.array(v.string())), "color": v.optional(v.array(v.string())),
    "brand": v.optional(v.array(v.string())), "category": v.optional(v.array(v.string())),
    "budget": v.optional(v.record(v.string(), v.nullable(BUDGET))),
    "size": v.optional(v.record(v.string(), v.nullable(v.string()))),
})
async def update(ctx, args):
    """Set values by hand; what is set is locked (a user override).

    A facet list is the full set of values pinned for that facet: listed values are pinned
    (replacing a remove / never on them), pins not listed are cleared; remove / never
    overrides of unlisted values stay. ``budget`` / ``size`` map a category to a value, or
    to null to clear what was set.
    """
    user = await ensure_user(ctx)
    uid = user["_id"]
    existing = await user_overrides(ctx, uid)
    for facet in FACETS:
        if facet not in args:
            continue
        wanted = list(dict.fromkeys(_norm(facet, x) for x in args[facet]))
        for row in existing:
            if row["kind"] == "facet" and row["facet"] == facet and row["action"] == "pin" and row["value"] not in wanted:
                await ctx.db.delete(row["_id"])
        for value in wanted:
            await put_override(ctx, uid, facet_key(facet, value), {"kind": "facet", "facet": facet, "value": value,
                                                                    "action": "pin"})
    for category, band in (args.get("budget") or {}).items():
        category = _norm("category", category)
        if band is None:
            await clear_override(ctx, uid, budget_key(category))
            continue
        lo, hi = float(band["min"]), float(band["max"])
        if not (0 <= lo <= hi):
            raise ConvexError({"code": "BAD_VALUE", "message": f"budget for {category}: need 0 ≤ min ≤ max"})
        await put_override(ctx, uid, budget_key(category), {"kind": "budget", "category": category, "min": lo, "max": hi})
    for category, size in (args.get("size") or {}).items():
        category = _norm("category", category)
        if size is None or not size.strip():
            await clear_override(ctx, uid, size_key(category))
            continue
        await put_override(ctx, uid, size_key(category), {"kind": "size", "category": category, "size": size.strip()})
    await schedule_learning(ctx, uid, "override", 0.0)
    return await profile_for(ctx, await ctx.db.get(uid))


@mutation(args={
    "facet": v.union(FACET, v.literal("budget"), v.literal("size")),
    "value": v.string(),
    "action": v.union(v.literal("pin"), v.literal("remove"), v.literal("never"), v.literal("clear")),
})
async def set_override(ctx, args):
    """Pin ("always"), remove ("not me") or ban ("never") a facet value, or clear that override.

    ``facet`` "budget" / "size" with ``value`` a category only accept "clear" (set them with
    ``preferences:update``).
    """
    user = await ensure_user(ctx)
    uid, facet, action = user["_id"], args["facet"], args["action"]
    if facet in ("budget", "size"):
        if action != "clear":
            raise ConvexError({"code": "BAD_VALUE", "message": f"set a {facet} with preferences:update"})
        category = _norm("category", args["value"])
        await clear_override(ctx, uid, budget_key(category) if facet == "budget" else size_key(category))
    else:
        value = _norm(facet, args["value"])
        key = facet_key(facet, value)
        if action == "clear":
            await clear_override(ctx, uid, key)
        else:
            await put_override(ctx, uid, key, {"kind": "facet", "facet": facet, "value": value, "action": action})
    await schedule_learning(ctx, uid, "override", 0.0)
    return await profile_for(ctx, await ctx.db.get(uid))


@mutation(args={})
async def reset_learned(ctx, args):
    """Forget everything learned (the signal log and the learned profile); overrides stay."""
    user = await ensure_user(ctx)
    uid = user["_id"]
    signals = await ctx.db.query("signals").with_index("by_user_ts", lambda q: q.eq("userId", uid)).take(RESET_BATCH)
    for s in signals:
        await ctx.db.delete(s["_id"])
    if len(signals) == RESET_BATCH:
        await ctx.scheduler.run_after(0, "privacy:_purge_signals", {"userId": uid, "before": float(ctx.now) + 1})
    pref = await stored_profile(ctx, uid)
    if pref is not None:
        await ctx.db.delete(pref["_id"])
    await schedule_learning(ctx, uid, "reset", 0.0)
    return {"forgotten": len(signals)}


@mutation(args={"enabled": v.boolean()})
async def set_personalize(ctx, args):
    """Turn personalised ranking on or off for this shopper (learning goes on)."""
    user = await ensure_user(ctx)
    await ctx.db.patch(user["_id"], {"personalize": args["enabled"]})
    return args["enabled"]
