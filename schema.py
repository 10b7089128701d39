"""Preference Memory: the tables (see ../shared/docs/PREFERENCES.md and ARCHITECTURE.md).

Every table holding a shopper's data carries ``userId`` and an index starting with it, so
each public function reads only the signed-in shopper's rows and ``privacy:delete_account``
finds every row of a shopper through an index. No query scans a whole table.

- ``users``: one per identity (``tokenIdentifier``), with the shopper's switches.
- ``products``: the catalogue; ``searchText`` (title + description + facets) carries the
  full-text index that ``search:personalized`` retrieves from.
- ``signals``: the signal log, the source of truth of learning; each type has its own
  validated shape (a union of objects keyed by the literal ``type``).
- ``preferences``: one document per shopper holding the learned profile the learner last
  computed (``Profile.to_json()``); overrides are applied on top when it is read.
- ``overrides``: what the shopper set (pin / remove / never a facet value, budget, size);
  the learner never writes this table.
- ``saved_items``: saved and purchased items.
- ``learning_runs``: one row per scheduled learning run; at most one ``pending`` per user.
- ``webhook_events``: processed purchase-webhook event ids (idempotency).
- ``catalog_meta``: the catalogue's version (bumped on seed / import) for cached statistics.
- ``placeholder_images``: generated product images in file storage, one per category × colour.
"""

from prefmem import define_schema, define_table, v

# The facets and reason codes of functions/_lib (catalog.FACETS, reasons.DISMISS_REASONS /
# RETURN_REASONS), spelled out because the schema is loaded on its own; tests/app/test_schema.py
# checks they agree.
FACET = v.union(v.literal("style"), v.literal("color"), v.literal("brand"), v.literal("category"))
DISMISS_REASON = v.union(v.literal("not_my_style"), v.literal("wrong_color"), v.literal("too_pricey"),
                         v.literal("not_my_brand"), v.literal("not_my_category"))
RETURN_REASON = v.union(v.literal("too_small"), v.literal("too_big"), v.literal("other"))
# Before reasons were codes, ``reason`` held the shopper's words ("not my style").
# functions/migrations.py rewrites them to codes, keeping the words in ``reasonText``; until
# a database has run it, a stored reason may still be words, so the table accepts them
# (interactions:log takes codes only, and the learner reads words as the codes they mean).
WORDS = v.string()


def _signal(type_: str, **fields):
    return v.object({"userId": v.id("users"), "type": v.literal(type_), "ts": v.float64(), **fields})


PRODUCT = v.id("products")
SIGNAL = v.union(
    _signal("view", productId=PRODUCT),
    _signal("like", productId=PRODUCT),
    _signal("save", productId=PRODUCT, size=v.optional(v.string())),
    _signal("cart", productId=PRODUCT, size=v.optional(v.string())),
    _signal("purchase", productId=PRODUCT, size=v.optional(v.string()), orderId=v.optional(v.string()),
            source=v.optional(v.union(v.literal("app"), v.literal("webhook")))),
    _signal("dismiss", productId=PRODUCT, reason=v.optional(v.union(DISMISS_REASON, WORDS)),
            reasonText=v.optional(v.string())),
    _signal("return", productId=PRODUCT, reason=v.optional(v.union(RETURN_REASON, WORDS)),
            reasonText=v.optional(v.string()), size=v.optional(v.string())),
    # ``shown``: the results the shopper saw for the search, in order (lift is measured against them).
    _signal("search", query=v.string(), shown=v.optional(v.array(PRODUCT))),
)

_OVERRIDE_COMMON = {"userId": v.id("users"), "key": v.string(), "updatedAt": v.float64()}
OVERRIDE = v.union(
    v.object({**_OVERRIDE_COMMON, "kind": v.literal("facet"), "facet": FACET, "value": v.string(),
              "action": v.union(v.literal("pin"), v.literal("remove"), v.literal("never"))}),
    v.object({**_OVERRIDE_COMMON, "kind": v.literal("budget"), "category": v.string(), "min": v.float64(),
              "max": v.float64()}),
    v.object({**_OVERRIDE_COMMON, "kind": v.literal("size"), "category": v.string(), "size": v.string()}),
)

schema = define_schema({
    "users": define_table({
        "tokenIdentifier": v.string(),
        "subject": v.optional(v.string()),
        "issuer": v.optional(v.string()),
        "name": v.optional(v.string()),
        "email": v.optional(v.string()),
        "createdAt": v.float64(),
        "lastSeenAt": v.float64(),
        "learningPaused": v.boolean(),
        "personalize": v.boolean(),
        "inspirationPhotoId": v.optional(v.id("_storage")),
    }).index("by_token", ["tokenIdentifier"])
      .index("by_photo", ["inspirationPhotoId"]),

    # A deleted account's tokens issued before the deletion are refused: its sign-in may
    # outlive it (another provider's, or until the page deletes it), and must not bring it
    # back. Only a hash of the token identifier is kept.
    "deleted_accounts": define_table({
        "tokenHash": v.string(),
        "deletedAt": v.float64(),
    }).index("by_token_hash", ["tokenHash"]),

    "products": define_table({
        "sku": v.string(),
        "title": v.string(),
        "description": v.string(),
        "category": v.string(),
        "brand": v.string(),
        "price": v.float64(),
        "styles": v.array(v.string()),
        "colors": v.array(v.string()),
        "sizes": v.array(v.string()),
        "imageId": v.optional(v.id("_storage")),
        "searchText": v.string(),
    }).index("by_sku", ["sku"])
      .index("by_category", ["category"])
      .search_index("search_text", search_field="searchText", filter_fields=["category", "brand"]),

    "signals": define_table(SIGNAL)
        .index("by_user_ts", ["userId", "ts"])
        .index("by_user_product", ["userId", "productId"])
        .index("by_ts", ["ts"])
        .index("by_type_ts", ["type", "ts"]),

    "preferences": define_table({
        "userId": v.id("users"),
        # Profile.to_json() of functions/_lib/model.py: the preferences:get shape, whose
        # per-value extras (share, lift, posterior...) belong to the model, not the schema.
        "profile": v.any(),
        "updatedAt": v.float64(),
        "signalCount": v.float64(),
        "learner": v.string(),
        # when the run that computed it started: an older run finishing late never
        # overwrites a newer profile
        "inputsAt": v.optional(v.float64()),
    }).index("by_user", ["userId"])
      .index("by_updated", ["updatedAt"]),

    "overrides": define_table(OVERRIDE).index("by_user_key", ["userId", "key"]),

    "saved_items": define_table({
        "userId": v.id("users"),
        "productId": v.id("products"),
        "kind": v.union(v.literal("saved"), v.literal("purchased")),
        "size": v.optional(v.string()),
        "orderId": v.optional(v.string()),
        "createdAt": v.float64(),
    }).index("by_user", ["userId", "createdAt"])
      .index("by_user_product", ["userId", "productId", "kind"]),

    "learning_runs": define_table({
        "userId": v.id("users"),
        "state": v.union(v.literal("pending"), v.literal("running"), v.literal("done"), v.literal("failed"),
                         v.literal("canceled")),
        "reason": v.string(),
        "jobId": v.optional(v.string()),
        "requestedAt": v.float64(),
        "startedAt": v.optional(v.float64()),
        "finishedAt": v.optional(v.float64()),
        "learner": v.optional(v.string()),
        "error": v.optional(v.string()),
    }).index("by_user_state", ["userId", "state"]),

    "webhook_events": define_table({
        "eventId": v.string(),
        "receivedAt": v.float64(),
        "userId": v.optional(v.id("users")),
        "signalId": v.optional(v.id("signals")),
    }).index("by_event", ["eventId"])
      .index("by_user", ["userId"]),

    "catalog_meta": define_table({
        "key": v.string(),
        "catalogId": v.string(),
        "version": v.float64(),
        "count": v.float64(),
        "state": v.union(v.literal("seeding"), v.literal("ready")),
        "categories": v.record(v.string(), v.float64()),
        "updatedAt": v.float64(),
    }).index("by_key", ["key"]),

    "placeholder_images": define_table({
        "key": v.string(),
        "storageId": v.id("_storage"),
    }).index("by_key", ["key"])
      .index("by_storage", ["storageId"]),
})
