"""Every kind of validator, in documents: the sample app of the TypeScript generator (tests/codegen)."""

from prefmem import define_schema, define_table, v

schema = define_schema({
    "notes": define_table({
        "title": v.string(),
        "body": v.optional(v.string()),
        "tags": v.array(v.string()),
        "priority": v.union(v.literal("low"), v.literal("high")),
        "score": v.float64(),
        "views": v.int64(),
        "done": v.boolean(),
        "attachment": v.optional(v.bytes()),
        "extra": v.optional(v.any()),
        "ratings": v.record(v.string(), v.number()),
        "author": v.optional(v.id("people")),
        "flags": v.object({"pinned": v.boolean(), "color": v.optional(v.nullable(v.string()))}),
        "content-type": v.optional(v.string()),
        "embedding": v.optional(v.array(v.float64())),
    }).index("by_title", ["title"])
      .index("by_author_score", ["author", "score"])
      .search_index("search_body", search_field="body", filter_fields=["priority", "title"])
      .vector_index("by_embedding", vector_field="embedding", dimensions=3, filter_fields=["priority"]),

    "people": define_table({
        "name": v.string(),
        "photo": v.optional(v.id("_storage")),
    }),

    # A table of several document shapes, told apart by ``kind``.
    "events": define_table(v.union(
        v.object({"kind": v.literal("created"), "note": v.id("notes")}),
        v.object({"kind": v.literal("renamed"), "note": v.id("notes"), "from": v.string(), "to": v.string()}),
    )),
})
