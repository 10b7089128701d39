from prefmem import define_schema, define_table, v

schema = define_schema({"ticks": define_table({"n": v.number()})})
