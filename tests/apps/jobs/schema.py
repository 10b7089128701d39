from prefmem import define_schema, define_table, v

schema = define_schema({
    "events": define_table({"label": v.string(), "n": v.optional(v.number())}).index("by_label", ["label"]),
})
