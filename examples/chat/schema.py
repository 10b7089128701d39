"""A small chat app: channels, messages (paginated and searchable), typing indicators."""

from prefmem import define_schema, define_table, v

schema = define_schema({
    "channels": define_table({"name": v.string()}).index("by_name", ["name"]),
    "messages": define_table({
        "channel": v.id("channels"),
        "author": v.string(),
        "body": v.string(),
    }).index("by_channel", ["channel"])
      .search_index("search_body", search_field="body", filter_fields=["channel"]),
    # Who is typing where; each row is removed by a scheduled expiry a few seconds later.
    "typing": define_table({
        "channel": v.id("channels"),
        "user": v.string(),
        "expiresAt": v.number(),
    }).index("by_channel_user", ["channel", "user"]),
})
