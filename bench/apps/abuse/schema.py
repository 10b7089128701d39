from prefmem import define_schema, define_table, v

# `bench abuse`: a counter whose result can be made large (`pad`), probes, and rows to write.
schema = define_schema({
    "counters": define_table({"name": v.string(), "n": v.number()}).index("by_name", ["name"]),
    "rows": define_table({"payload": v.string()}),
})
