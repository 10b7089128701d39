"""Tables for the hardening tests: what a hostile client may not do to a server (tests/e2e/test_hardening_*)."""

from prefmem import define_schema, define_table, v

schema = define_schema({
    "notes": define_table({"author": v.string(), "body": v.string()}).index("by_author", ["author"]),
    "counters": define_table({"name": v.string(), "n": v.number()}).index("by_name", ["name"]),
    "events": define_table({"label": v.string()}).index("by_label", ["label"]),
})
