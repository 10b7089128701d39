from prefmem import define_schema, define_table, v

schema = define_schema({
    "books": define_table({"title": v.string(), "shelf": v.string(), "year": v.optional(v.number())})
    .search_index("search_title", search_field="title", filter_fields=["shelf"]),
})
