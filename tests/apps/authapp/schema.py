from prefmem import define_schema, define_table, v

schema = define_schema({
    "notes": define_table({"author": v.string(), "body": v.string()}).index("by_author", ["author"]),
})
