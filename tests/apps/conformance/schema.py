"""An app whose functions show, one behaviour each, where prefmem must read as Convex reads
to a client (tests/e2e/test_conformance.py)."""

from prefmem import define_schema, define_table, v

schema = define_schema({
    # Any document at all, as Convex's defineTable(v.any()) allows; one index built, one staged.
    "things": define_table(v.any()).index("by_label", ["label"]).index("by_n", ["n"], staged=True),
})
