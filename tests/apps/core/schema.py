"""Tables for the runtime's error, mutation, limit and determinism tests."""

from prefmem import define_schema, define_table, v

schema = define_schema({
    "users": define_table({
        "name": v.string(),
        "age": v.optional(v.number()),
        "meta": v.optional(v.object({"tags": v.array(v.string()), "score": v.optional(v.int64())})),
    }).index("by_name", ["name"]).index("by_name_age", ["name", "age"]),
    "notes": define_table({"body": v.string(), "user": v.optional(v.id("users"))}),
    "blobs": define_table({"data": v.any()}),
})
