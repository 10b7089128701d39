"""Counters and on-call flags: the smallest app that loses updates or commits write skew
if transactions are not serializable."""

from prefmem import define_schema, define_table, v

schema = define_schema({
    "counters": define_table({"name": v.string(), "value": v.number()}).index("by_name", ["name"]),
    "oncall": define_table({"name": v.string(), "on": v.boolean()}).index("by_name", ["name"]),
    "ledger": define_table({"entry": v.string()}),
})
