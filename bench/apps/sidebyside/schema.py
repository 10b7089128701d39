from prefmem import define_schema, define_table, v

# The side-by-side benchmark app (bench/sidebyside): the same tables every system serves.
#   profiles: one per user (W1, W4); `seq` is the last signal applied to it
#   signals:  one row per signal (W1); each signal also patches its user's profile
#   shared:   one document everybody watches (W2)
#   budgets / products: per-user budget and the products under it (W3)
#   items:    small inserts (W5)
#   counters: a few rows that many writers increment (the workers workload's contended writes)
schema = define_schema({
    "profiles": define_table({"user": v.string(), "seq": v.number()}).index("by_user", ["user"]),
    "signals": define_table({"user": v.string(), "seq": v.number()}).index("by_user", ["user"]),
    "shared": define_table({"name": v.string(), "seq": v.number()}).index("by_name", ["name"]),
    "budgets": define_table({"user": v.string(), "version": v.number(), "amount": v.number()})
    .index("by_user", ["user"]),
    "products": define_table({"user": v.string(), "version": v.number(), "price": v.number()})
    .index("by_user_price", ["user", "price"]),
    "items": define_table({"seq": v.number(), "payload": v.string()}),
    "counters": define_table({"name": v.string(), "count": v.number()}).index("by_name", ["name"]),
})
