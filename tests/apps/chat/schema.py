from prefmem import define_schema, define_table, v

schema = define_schema({
    "channels": define_table({"name": v.string()}),
    "messages": define_table({
        "author": v.string(),
        "body": v.string(),
        "channel": v.id("channels"),
        "likes": v.optional(v.number()),
    }).index("by_channel", ["channel"]).index("by_author_likes", ["author", "likes"]),
})
