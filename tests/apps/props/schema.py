"""A table whose indexed fields hold values of every type, for the query property tests."""

from prefmem import define_schema, define_table, v

schema = define_schema({
    "items": define_table({
        "a": v.optional(v.any()),   # mixed types, sometimes missing
        "b": v.optional(v.any()),
        "n": v.number(),            # float64 (a plain int is one too)
        "i": v.int64(),
    }).index("by_a_b", ["a", "b"]).index("by_n", ["n"]).index("by_b_i", ["b", "i"]),
})
