from prefmem import define_schema, define_table, v

# One table, one document shape: a sequence number and a blob, no user indexes, so an
# insert writes one document row plus the two system index entries (by_id, by_creation_time).
schema = define_schema({
    "items": define_table({"seq": v.number(), "payload": v.bytes()}),
})
