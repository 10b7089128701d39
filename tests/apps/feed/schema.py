from prefmem import define_schema, define_table, v

schema = define_schema({
    "items": define_table({"list": v.string(), "rank": v.number(), "label": v.string()})
    .index("by_list_rank", ["list", "rank"]),
})
