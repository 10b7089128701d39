from prefmem import define_schema, define_table, v

# One profile per user, found through the `by_user` index: a subscription to
# `profiles:get {user}` reads exactly one interval of that index (the user's key).
schema = define_schema({
    "profiles": define_table({"user": v.string(), "bio": v.string(), "edits": v.number()})
    .index("by_user", ["user"]),
})
