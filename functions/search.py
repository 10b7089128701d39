"""``search:personalized``: text matches re-ranked by the shopper's profile, with reasons.

1. Retrieval through the search-engine adapter (``_lib/engines.SearchAdapter``): the
   built-in engine is the runtime's full-text index on ``products.searchText``
   (``search:_retrieve``: one internal query that runs the FTS query, scores the matches
   with BM25 and also returns the shopper's effective profile, so both come from one
   snapshot). Matches are capped by the runtime's search limit (1024, Convex's; the
   spec's "around 2,000" is ``config.fts_cap``).
2. Re-ranking with ``_lib/ranking.rank``: normalised relevance + λ · preference score,
   guardrails (≤ 3 of a brand in the top 10, explore slots), reasons per result;
   ``personalize: false`` (or the shopper's switch off) gives the engine's order.
3. The top ``limit`` products are fetched whole, with image URLs.

Why the candidates cross the query → action boundary as one JSON string: the runtime
validates every returned value one by one (about 25 µs per product), which for a
thousand candidates costs more than the whole ranking; a string is checked once.
"""

from __future__ import annotations

import json
import time

from prefmem import action, internal_query, v

from ._lib.config import DEFAULT_CONFIG
from ._lib.engines import BuiltinFtsEngine, Retrieved, bm25_rescore
from ._lib.identity import current_user, require_identity
from ._lib.model import Profile
from ._lib.ranking import rank
from .catalog import with_image_url
from .preferences import profile_for

MAX_LIMIT = 100
RANK_FIELDS = ("_id", "category", "brand", "price", "styles", "colors", "sizes")


@internal_query(args={"query": v.string(), "category": v.optional(v.string()), "brand": v.optional(v.string()),
                      "cap": v.number(), "withProfile": v.boolean()})
async def _retrieve(ctx, args):
    """``{"candidates": JSON [[product, relevance], ...] best first, "profile": effective profile}``."""
    await require_identity(ctx)

    def q(s):
        s = s.search("searchText", args["query"])
        if "category" in args:
            s = s.eq("category", args["category"])
        if "brand" in args:
            s = s.eq("brand", args["brand"])
        return s

    docs = await ctx.db.query("products").with_search_index("search_text", q).take(int(args["cap"]))
    meta = await ctx.db.query("catalog_meta").with_index("by_key", lambda q: q.eq("key", "catalog")).unique()
    found = bm25_rescore(args["query"], docs, int(meta["count"]) if meta else len(docs))
    candidates = [[{k: d[k] for k in RANK_FIELDS}, round(rel, 6), list(matched)] for d, rel, matched in found.candidates]
    profile = None
    if args["withProfile"]:
        user = await current_user(ctx)
        profile = None if user is None else await profile_for(ctx, user)
    return {"candidates": json.dumps(candidates, separators=(",", ":")), "terms": list(found.terms),
            "unmatched": list(found.unmatched), "profile": profile}


@internal_query(args={"ids": v.array(v.id("products"))})
async def _products(ctx, args):
    out = {}
    for pid in args["ids"]:
        doc = await ctx.db.get(pid)
        if doc is not None:
            out[pid] = await with_image_url(ctx, doc)
    return out


@action(args={"query": v.string(), "limit": v.optional(v.number()), "personalize": v.optional(v.boolean()),
              "category": v.optional(v.string()), "brand": v.optional(v.string()),
              "logSearch": v.optional(v.boolean())})
async def personalized(ctx, args):
    """``{"results": [{"product", "score", "reasons"}], "personalized", "matched", "terms",
    "unmatchedTerms", "mostlyUnmatched", "tookMs"}``.

    ``terms``: the query's words; ``unmatchedTerms``: those no product contains;
    ``mostlyUnmatched``: at least half of them match nothing (the page says so above the
    results, which then match the other words only; each result's reasons name the words
    it matched).

    ``category`` / ``brand`` filter the matches; ``logSearch: true`` also logs the query as
    a "search" signal with the results shown (its named facets count as evidence, and what
    it showed is what the shopper's choices are measured against).
    """
    started = time.perf_counter()
    await require_identity(ctx)
    limit = max(1, min(int(args.get("limit") or 20), MAX_LIMIT))
    want = args.get("personalize", True)
    holder = {}

    async def retrieve(query, filters, cap):
        r = await ctx.run_query("search:_retrieve", {"query": query, **(filters or {}), "cap": cap, "withProfile": True})
        holder["profile"] = r["profile"]
        return Retrieved([(p, rel, tuple(matched)) for p, rel, matched in json.loads(r["candidates"])],
                         tuple(r["terms"]), tuple(r["unmatched"]))

    engine = BuiltinFtsEngine(retrieve)
    found = await engine.search(args["query"], {k: args[k] for k in ("category", "brand") if k in args},
                                DEFAULT_CONFIG.fts_cap)
    profile_json = holder.get("profile")
    profile = Profile.from_json(profile_json) if profile_json else None
    on = bool(want and profile is not None and profile.personalize)
    ranked = rank(args["query"], found.candidates, profile, personalize=on, limit=limit)
    products = await ctx.run_query("search:_products", {"ids": [r["product"]["_id"] for r in ranked]}) if ranked else {}
    results = [{"product": products[r["product"]["_id"]], "score": r["score"], "reasons": r["reasons"]}
               for r in ranked if r["product"]["_id"] in products]
    if args.get("logSearch") and args["query"].strip():
        await ctx.run_mutation("interactions:log", {"type": "search", "query": args["query"],
                                                    "shown": [r["product"]["_id"] for r in results]})
    return {"results": results, "personalized": on, "matched": len(found.candidates),
            "terms": list(found.terms), "unmatchedTerms": list(found.unmatched),
            "mostlyUnmatched": found.mostly_unmatched, "tookMs": round((time.perf_counter() - started) * 1000, 2)}
