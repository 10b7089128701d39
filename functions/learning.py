"""Learning: the shopper's profile recomputed from their signal log.

``learning:run`` (internal action, scheduled by ``_lib/scheduling.schedule_learning``, one
pending run per shopper) reads the signals that are not forgotten and within retention,
the overrides and the referenced products, and computes the profile with
``_lib/model.compute_profile`` against the whole catalogue's statistics — or, when
``PREFMEM_EXTERNAL_LEARNER_URL`` is set, asks that learner first (timeout, then fallback to
the built-in model). The result goes to the ``preferences`` table; the ``overrides``
table is only ever read here.

Crons (``functions/crons.py``): ``learning:retention`` deletes raw signals older than 180
days and free-text searches older than 90 days, then re-learns the shoppers concerned;
``learning:decay`` re-learns profiles not recomputed for a day (time decay), skipping
shoppers who paused learning.
"""

from __future__ import annotations

import logging

from prefmem import internal_action, internal_mutation, internal_query, v

from ._lib import external, model
from ._lib.config import DAY_MS, DEFAULT_CONFIG
from ._lib.profile_view import overrides_as_model_input
from ._lib.scheduling import schedule_learning
from .catalog import load_catalog_stats

log = logging.getLogger("prefmem.app.learning")
KEEP_RUNS = 5
RETENTION_BATCH = 500
DECAY_BATCH = 200
DECAY_AFTER_MS = 20 * 3_600_000.0


def retention_cutoffs(now_ms: float, config=DEFAULT_CONFIG) -> tuple[float, float]:
    """(oldest raw signal kept, oldest free-text search kept)."""
    return now_ms - config.retention_signals_days * DAY_MS, now_ms - config.retention_queries_days * DAY_MS


async def learning_inputs(ctx, user_id: str) -> dict | None:
    """Everything the learner reads for one shopper (in a query or mutation)."""
    user = await ctx.db.get(user_id)
    if user is None:
        return None
    keep_from, keep_queries_from = retention_cutoffs(ctx.now)
    signals = []
    product_ids = []
    async for s in ctx.db.query("signals").with_index("by_user_ts",
                                                      lambda q: q.eq("userId", user_id).gte("ts", keep_from)):
        if s["type"] == "search" and s["ts"] < keep_queries_from:
            continue
        signals.append({k: s[k] for k in ("_id", "type", "ts", "productId", "query", "reason", "size", "shown")
                        if k in s})
        if "productId" in s:
            product_ids.append(s["productId"])
        product_ids.extend(s.get("shown", ()))  # what a search showed is the baseline of lift
    products = {}
    for pid in dict.fromkeys(product_ids):
        doc = await ctx.db.get(pid)
        if doc is not None:
            products[pid] = {k: doc[k] for k in ("sku", "title", "category", "brand", "price", "styles", "colors",
                                                 "sizes")}
    overrides = await ctx.db.query("overrides").with_index("by_user_key", lambda q: q.eq("userId", user_id)).collect()
    return {"user": {"personalize": user["personalize"], "learningPaused": user["learningPaused"]},
            "signals": signals, "products": products, "overrides": overrides_as_model_input(overrides)}


@internal_query(args={"userId": v.id("users")})
async def _inputs(ctx, args):
    return await learning_inputs(ctx, args["userId"])


@internal_mutation(args={"runId": v.id("learning_runs")})
async def _begin(ctx, args):
    run = await ctx.db.get(args["runId"])
    if run is None or run["state"] != "pending":
        return False
    await ctx.db.patch(run["_id"], {"state": "running", "startedAt": float(ctx.now)})
    return True


@internal_mutation(args={"userId": v.id("users"), "runId": v.optional(v.id("learning_runs")), "profile": v.any(),
                         "learner": v.string(), "signalCount": v.float64(), "inputsAt": v.float64()})
async def _store(ctx, args):
    user_id = args["userId"]
    if await ctx.db.get(user_id) is None:
        return False  # the account was deleted while learning ran
    doc = {"userId": user_id, "profile": args["profile"], "updatedAt": float(ctx.now),
           "signalCount": args["signalCount"], "learner": args["learner"], "inputsAt": args["inputsAt"]}
    existing = await ctx.db.query("preferences").with_index("by_user", lambda q: q.eq("userId", user_id)).unique()
    if existing is None:
        await ctx.db.insert("preferences", doc)
    elif existing.get("inputsAt", 0.0) <= args["inputsAt"]:
        await ctx.db.replace(existing["_id"], doc)
    if "runId" in args and await ctx.db.get(args["runId"]) is not None:
        await ctx.db.patch(args["runId"], {"state": "done", "finishedAt": float(ctx.now), "learner": args["learner"]})
    done = await ctx.db.query("learning_runs").with_index(
        "by_user_state", lambda q: q.eq("userId", user_id).eq("state", "done")).collect()
    for old in done[:-KEEP_RUNS]:
        await ctx.db.delete(old["_id"])
    return True


@internal_mutation(args={"runId": v.id("learning_runs"), "error": v.string()})
async def _fail(ctx, args):
    if await ctx.db.get(args["runId"]) is not None:
        await ctx.db.patch(args["runId"], {"state": "failed", "finishedAt": float(ctx.now), "error": args["error"][:500]})


async def compute(ctx, user_id: str, inputs: dict) -> tuple[dict, str]:
    """(profile JSON, learner name): the external learner if configured and answering, else built-in."""
    now = float(ctx.now)
    url = external.configured_url()
    fallback = ""
    if url:
        payload = {"userId": user_id, "now": now, "signals": inputs["signals"], "products": inputs["products"],
                   "overrides": inputs["overrides"], "personalize": inputs["user"]["personalize"],
                   "learningPaused": inputs["user"]["learningPaused"]}
        try:
            profile = await external.learn(url, payload, external.timeout_s())
            profile["updatedAt"] = now
            return profile, "external"
        except external.ExternalLearnerError as err:
            log.warning("external learner failed, using the built-in model: %s", err)
            fallback = f" (external learner failed: {err})"[:200]
    stats = await load_catalog_stats(ctx)
    profile = model.compute_profile(inputs["signals"], inputs["products"], inputs["overrides"], now,
                                    catalog_stats=stats, personalize=inputs["user"]["personalize"],
                                    learning_paused=inputs["user"]["learningPaused"])
    return profile.to_json(), "builtin" + fallback


@internal_action(args={"userId": v.id("users"), "runId": v.optional(v.id("learning_runs"))})
async def run(ctx, args):
    """Recompute and store one shopper's profile."""
    run_id = args.get("runId")
    started = ctx.now
    if run_id is not None and not await ctx.run_mutation("learning:_begin", {"runId": run_id}):
        return {"ran": False}
    try:
        inputs = await ctx.run_query("learning:_inputs", {"userId": args["userId"]})
        if inputs is None:
            if run_id is not None:
                await ctx.run_mutation("learning:_fail", {"runId": run_id, "error": "no such user"})
            return {"ran": False}
        profile, learner = await compute(ctx, args["userId"], inputs)
        store = {"userId": args["userId"], "profile": profile, "learner": learner,
                 "signalCount": len(inputs["signals"]), "inputsAt": float(started)}
        if run_id is not None:
            store["runId"] = run_id
        await ctx.run_mutation("learning:_store", store)
        return {"ran": True, "learner": learner, "signals": len(inputs["signals"])}
    except Exception as err:
        if run_id is not None:
            await ctx.run_mutation("learning:_fail", {"runId": run_id, "error": f"{type(err).__name__}: {err}"})
        raise


@internal_mutation(args={"userId": v.id("users")})
async def recompute(ctx, args):
    """Schedule a learning run for one shopper now (admin / tools)."""
    return await schedule_learning(ctx, args["userId"], "admin", 0.0)


# ---------------------------------------------------------------------------- crons

@internal_mutation(args={})
async def retention(ctx, args):
    """Delete signals past retention (180 days; searches 90), then re-learn those shoppers."""
    keep_from, keep_queries_from = retention_cutoffs(ctx.now)
    old = await ctx.db.query("signals").with_index("by_ts", lambda q: q.lt("ts", keep_from)).take(RETENTION_BATCH)
    room = RETENTION_BATCH - len(old)
    old_queries = []
    if room > 0:
        old_queries = await ctx.db.query("signals").with_index(
            "by_type_ts", lambda q: q.eq("type", "search").lt("ts", keep_queries_from)).take(room)
    users = {}
    for s in old + old_queries:
        await ctx.db.delete(s["_id"])
        users[s["userId"]] = True
    for user_id in users:
        await schedule_learning(ctx, user_id, "retention", 0.0)
    if len(old) + len(old_queries) >= RETENTION_BATCH:
        await ctx.scheduler.run_after(0, "learning:retention", {})
    return {"deleted": len(old) + len(old_queries), "users": len(users)}


@internal_mutation(args={"cursor": v.optional(v.nullable(v.string()))})
async def decay(ctx, args):
    """Re-learn profiles older than a day (their time-decayed weights moved); paused shoppers keep theirs."""
    page = await ctx.db.query("preferences").with_index(
        "by_updated", lambda q: q.lt("updatedAt", ctx.now - DECAY_AFTER_MS)).paginate(
        {"numItems": DECAY_BATCH, "cursor": args.get("cursor")})
    scheduled = 0
    for pref in page["page"]:
        user = await ctx.db.get(pref["userId"])
        if user is None or user["learningPaused"]:
            continue
        await schedule_learning(ctx, user["_id"], "decay", 0.0)
        scheduled += 1
    if not page["isDone"]:
        await ctx.scheduler.run_after(0, "learning:decay", {"cursor": page["continueCursor"]})
    return {"scheduled": scheduled}
