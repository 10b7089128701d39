"""The dashboard's test app: a table with every kind of index, scheduled work, files."""

from prefmem import define_schema, define_table, v

schema = define_schema({
    "notes": define_table({
        "title": v.string(),
        "priority": v.number(),
        "tags": v.optional(v.array(v.string())),
        "embedding": v.optional(v.array(v.float64())),
    }).index("by_priority", ["priority"])
      .search_index("search_title", search_field="title", filter_fields=["priority"])
      .vector_index("by_embedding", vector_field="embedding", dimensions=3),
})
