"""The product catalogue: browse, get, seed on first start, import a shopper's own catalogue.

- ``catalog:get`` / ``catalog:list`` (public, signed-in): one product with its image URL,
  and paginated browse by category (``by_category``) or in catalogue order.
- ``catalog:seed_if_empty`` (internal action): on first start (``make run`` calls it
  before serving) generates the seeded catalogue (``_lib/catalog.generate_catalog``,
  4000 products by default, ``PREFMEM_SEED_PRODUCTS`` to change), stores one placeholder
  image per category × colour in file storage and inserts the products in batches.
- ``catalog:import`` (internal action): loads a JSONL or CSV file
  (``prefmem run catalog:import '{"path": "my.jsonl"}'``) or inline text; every invalid line
  is reported by number and nothing is imported then; products are upserted by ``sku``.

The learner needs catalogue-wide statistics (facet base rates, price bands, size
systems). They are computed once per catalogue version and cached in this process
(``load_catalog_stats``); seeding and importing bump the version.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from prefmem import ConvexError, internal_action, internal_mutation, internal_query, query, v

from ._lib.catalog import CatalogImportError, compute_catalog_stats, generate_catalog, load_catalog_file
from ._lib.config import DEFAULT_CONFIG
from ._lib.engines import search_text
from ._lib.identity import require_identity
from ._lib.images import image_key, placeholder_svg

BATCH = 400
META_KEY = "catalog"
PUBLIC_FIELDS = ("_id", "_creationTime", "sku", "title", "description", "category", "brand", "price", "styles",
                 "colors", "sizes", "imageId")

PRODUCT_IN = v.object({
    "sku": v.string(), "title": v.string(), "description": v.string(), "category": v.string(), "brand": v.string(),
    "price": v.float64(), "styles": v.array(v.string()), "colors": v.array(v.string()), "sizes": v.array(v.string()),
    "imageId": v.optional(v.id("_storage")),
})
PAGINATION = v.object({
    "numItems": v.number(), "cursor": v.nullable(v.string()), "endCursor": v.optional(v.nullable(v.string())),
    "id": v.optional(v.number()), "maximumRowsRead": v.optional(v.number()),
    "maximumBytesRead": v.optional(v.number()),
})


def public_product(doc: dict, image_url: str | None = None) -> dict:
    out = {k: doc[k] for k in PUBLIC_FIELDS if k in doc}
    out["imageUrl"] = image_url
    return out


async def with_image_url(ctx, doc: dict) -> dict:
    return public_product(doc, await ctx.storage.get_url(doc["imageId"]) if doc.get("imageId") else None)


# ---------------------------------------------------------------------------- public

@query(args={"id": v.id("products")})
async def get(ctx, args):
    """One product (with ``imageUrl``), or null."""
    await require_identity(ctx)
    doc = await ctx.db.get(args["id"])
    return None if doc is None else await with_image_url(ctx, doc)


@query(name="list", args={"paginationOpts": PAGINATION, "category": v.optional(v.string())})
async def list_products(ctx, args):
    """Paginated browse, optionally of one category."""
    await require_identity(ctx)
    opts = {"numItems": min(int(args["paginationOpts"]["numItems"]), 200), "cursor": args["paginationOpts"]["cursor"]}
    if args["paginationOpts"].get("endCursor") is not None:
        opts["endCursor"] = args["paginationOpts"]["endCursor"]
    if "category" in args:
        q = ctx.db.query("products").with_index("by_category", lambda q: q.eq("category", args["category"]))
    else:
        q = ctx.db.query("products")
    result = await q.paginate(opts)
    result["page"] = [await with_image_url(ctx, d) for d in result["page"]]
    return result


@query(args={})
async def categories(ctx, args):
    """``{category: product count}`` of the catalogue."""
    await require_identity(ctx)
    meta = await _meta_doc(ctx)
    return dict(meta["categories"]) if meta else {}


# ---------------------------------------------------------------------------- internal: data

async def _meta_doc(ctx):
    return await ctx.db.query("catalog_meta").with_index("by_key", lambda q: q.eq("key", META_KEY)).unique()


@internal_query(args={})
async def _meta(ctx, args):
    meta = await _meta_doc(ctx)
    has_products = (await ctx.db.query("products").first()) is not None
    return {"meta": meta, "hasProducts": has_products}


@internal_mutation(args={"force": v.optional(v.boolean())})
async def _claim_seed(ctx, args):
    """'claimed' when this caller should seed, 'exists' when there are products, 'busy' when another seeds."""
    if (await ctx.db.query("products").first()) is not None:
        return "exists"
    meta = await _meta_doc(ctx)
    if meta is not None and meta["state"] == "seeding" and ctx.now - meta["updatedAt"] < 10 * 60_000 \
            and not args.get("force"):
        return "busy"
    fields = {"state": "seeding", "updatedAt": float(ctx.now)}
    if meta is None:
        await ctx.db.insert("catalog_meta", {"key": META_KEY, "catalogId": uuid.UUID(int=ctx.random.getrandbits(128)).hex,
                                             "version": 0.0, "count": 0.0, "categories": {}, **fields})
    else:
        await ctx.db.patch(meta["_id"], fields)
    return "claimed"


@internal_mutation(args={"count": v.float64(), "categories": v.record(v.string(), v.float64())})
async def _finish(ctx, args):
    meta = await _meta_doc(ctx)
    fields = {"state": "ready", "count": args["count"], "categories": args["categories"], "updatedAt": float(ctx.now)}
    if meta is None:
        await ctx.db.insert("catalog_meta", {"key": META_KEY, "catalogId": uuid.UUID(int=ctx.random.getrandbits(128)).hex,
                                             "version": 1.0, **fields})
    else:
        await ctx.db.patch(meta["_id"], {**fields, "version": meta["version"] + 1})


@internal_query(args={"keys": v.array(v.string())})
async def _images(ctx, args):
    out = {}
    for key in args["keys"]:
        row = await ctx.db.query("placeholder_images").with_index("by_key", lambda q: q.eq("key", key)).first()
        if row is not None:
            out[key] = row["storageId"]
    return out


@internal_mutation(args={"items": v.array(v.object({"key": v.string(), "storageId": v.id("_storage")}))})
async def _save_images(ctx, args):
    for item in args["items"]:
        await ctx.db.insert("placeholder_images", item)


@internal_mutation(args={"products": v.array(PRODUCT_IN)})
async def _upsert_batch(ctx, args):
    """Insert products, or replace the one with the same sku; returns (inserted, updated)."""
    inserted = updated = 0
    for p in args["products"]:
        doc = {**p, "searchText": search_text(p)}
        existing = await ctx.db.query("products").with_index("by_sku", lambda q: q.eq("sku", p["sku"])).first()
        if existing is None:
            await ctx.db.insert("products", doc)
            inserted += 1
        else:
            if "imageId" not in doc and existing.get("imageId"):
                doc["imageId"] = existing["imageId"]
            await ctx.db.replace(existing["_id"], doc)
            updated += 1
    return {"inserted": inserted, "updated": updated}


@internal_query(args={"cursor": v.nullable(v.string())})
async def _stats_page(ctx, args):
    """The facet fields of 1000 products (for catalogue statistics)."""
    result = await ctx.db.query("products").paginate({"numItems": 1000, "cursor": args["cursor"]})
    result["page"] = [{k: d[k] for k in ("category", "brand", "price", "styles", "colors", "sizes")}
                      for d in result["page"]]
    return result


@internal_query(args={"ids": v.array(v.id("_storage"))})
async def _image_urls(ctx, args):
    return {sid: await ctx.storage.get_url(sid) for sid in args["ids"]}


# ---------------------------------------------------------------------------- statistics cache

_stats_cache: dict[tuple[str, float], object] = {}


async def _all_product_facets(ctx) -> list[dict]:
    items, cursor = [], None
    while True:
        page = await ctx.run_query("catalog:_stats_page", {"cursor": cursor})
        items.extend(page["page"])
        if page["isDone"]:
            return items
        cursor = page["continueCursor"]


async def load_catalog_stats(ctx, config=DEFAULT_CONFIG):
    """The whole catalogue's ``CatalogStats`` (cached per catalogue version); in an action."""
    info = await ctx.run_query("catalog:_meta", {})
    meta = info["meta"]
    key = (meta["catalogId"], meta["version"]) if meta else ("", -1.0)
    hit = _stats_cache.get(key)
    if hit is not None:
        return hit
    stats = compute_catalog_stats(await _all_product_facets(ctx), config.budget_prior_low_quantile,
                                  config.budget_prior_high_quantile)
    _stats_cache.clear()
    _stats_cache[key] = stats
    return stats


# ---------------------------------------------------------------------------- loading

async def _ensure_images(ctx, products: list[dict]) -> None:
    """Give each product the placeholder image of its category × first colour (created if missing)."""
    keys = sorted({image_key(p) for p in products})
    known = {}
    for i in range(0, len(keys), 500):
        known.update(await ctx.run_query("catalog:_images", {"keys": keys[i:i + 500]}))
    new = []
    for key in keys:
        if key not in known:
            category, _, color = key.partition("/")
            sid = await ctx.storage.store(placeholder_svg(category, color), "image/svg+xml")
            known[key] = sid
            new.append({"key": key, "storageId": sid})
    for i in range(0, len(new), 500):
        await ctx.run_mutation("catalog:_save_images", {"items": new[i:i + 500]})
    for p in products:
        p.setdefault("imageId", known[image_key(p)])


async def _load(ctx, products: list[dict], images: bool) -> dict:
    if images:
        await _ensure_images(ctx, products)
    inserted = updated = 0
    for i in range(0, len(products), BATCH):
        r = await ctx.run_mutation("catalog:_upsert_batch", {"products": products[i:i + BATCH]})
        inserted += r["inserted"]
        updated += r["updated"]
    facets = await _all_product_facets(ctx)
    cats: dict[str, float] = {}
    for p in facets:
        cats[p["category"]] = cats.get(p["category"], 0.0) + 1.0
    await ctx.run_mutation("catalog:_finish", {"count": len(facets), "categories": cats})
    return {"inserted": inserted, "updated": updated, "total": len(facets)}


@internal_action(args={"count": v.optional(v.number()), "seed": v.optional(v.number()),
                       "images": v.optional(v.boolean())})
async def seed_if_empty(ctx, args):
    """Seed the generated catalogue when there are no products yet (idempotent)."""
    claim = await ctx.run_mutation("catalog:_claim_seed", {})
    if claim != "claimed":
        return {"seeded": False, "reason": claim}
    count = int(args.get("count") or os.environ.get("PREFMEM_SEED_PRODUCTS") or 4000)
    products = generate_catalog(count, int(args.get("seed", 7)))
    result = await _load(ctx, products, args.get("images", True))
    return {"seeded": True, **result}


@internal_action(name="import", args={"path": v.optional(v.string()), "content": v.optional(v.string()),
                                      "format": v.optional(v.union(v.literal("jsonl"), v.literal("csv"))),
                                      "images": v.optional(v.boolean())})
async def import_catalog(ctx, args):
    """Import a JSONL or CSV catalogue (a file path, or ``content`` + ``format``); upserts by sku.

    Every invalid line is reported (``ConvexError`` data ``{"code": "INVALID_CATALOG",
    "errors": ["line N: ..."]}``) and then nothing is imported.
    """
    if ("path" in args) == ("content" in args):
        raise ConvexError({"code": "BAD_ARGS", "message": "give exactly one of path and content"})
    tmp = None
    try:
        if "content" in args:
            suffix = "." + args.get("format", "jsonl")
            fd, tmp = tempfile.mkstemp(suffix=suffix)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(args["content"])
            path = Path(tmp)
        else:
            path = Path(args["path"]).expanduser()
            if not path.is_file():
                raise ConvexError({"code": "NOT_FOUND", "message": f"no file {path}"})
        try:
            products = load_catalog_file(path)
        except CatalogImportError as err:
            raise ConvexError({"code": "INVALID_CATALOG", "message": str(err), "errors": err.errors}) from None
    finally:
        if tmp is not None:
            os.unlink(tmp)
    if not products:
        raise ConvexError({"code": "INVALID_CATALOG", "message": "the file has no products", "errors": []})
    return await _load(ctx, products, args.get("images", True))
