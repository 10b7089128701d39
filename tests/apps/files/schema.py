from prefmem import define_schema, define_table, v

schema = define_schema({
    "photos": define_table({"storageId": v.id("_storage"), "caption": v.string()}),
    "docs": define_table({"kind": v.string(), "embedding": v.array(v.float64())})
    .vector_index("by_embedding", vector_field="embedding", dimensions=3, filter_fields=["kind"]),
})
