"""Notes: arguments and results of every kind, for the generated TypeScript API (tests/codegen)."""

from prefmem import Int64, internal_mutation, mutation, query, v

NOTE_FIELDS = {
    "title": v.string(),
    "body": v.optional(v.string()),
    "tags": v.array(v.string()),
    "priority": v.union(v.literal("low"), v.literal("high")),
    "score": v.float64(),
    "views": v.int64(),
    "done": v.boolean(),
    "attachment": v.optional(v.bytes()),
    "extra": v.optional(v.any()),
    "ratings": v.record(v.string(), v.number()),
    "author": v.optional(v.id("people")),
    "flags": v.object({"pinned": v.boolean(), "color": v.optional(v.nullable(v.string()))}),
    "content-type": v.optional(v.string()),
}
NOTE = v.object({"_id": v.id("notes"), "_creationTime": v.number(), **NOTE_FIELDS,
                 "embedding": v.optional(v.array(v.float64()))})


@mutation(args=NOTE_FIELDS, returns=v.id("notes"))
async def add(ctx, args):
    """Store a note; returns its id."""
    note = await ctx.db.insert("notes", args)
    await ctx.db.insert("events", {"kind": "created", "note": note})
    return note


@query(args={"id": v.id("notes")}, returns=v.nullable(NOTE))
async def get(ctx, args):
    """One note, or null."""
    return await ctx.db.get(args["id"])


@query(name="list", args={"paginationOpts": v.object({"numItems": v.number(), "cursor": v.nullable(v.string())})})
async def list_notes(ctx, args):
    """Every note, oldest first, a page at a time."""
    return await ctx.db.query("notes").paginate(args["paginationOpts"])


@mutation(args={"id": v.id("notes"), "title": v.string()},
          returns=v.union(v.object({"renamed": v.literal(True), "from": v.string()}),
                          v.object({"renamed": v.literal(False)})))
async def rename(ctx, args):
    note = await ctx.db.get(args["id"])
    if note["title"] == args["title"]:
        return {"renamed": False}
    await ctx.db.patch(args["id"], {"title": args["title"]})
    await ctx.db.insert("events", {"kind": "renamed", "note": args["id"], "from": note["title"], "to": args["title"]})
    return {"renamed": True, "from": note["title"]}


@query(args={"views": v.int64()}, returns=v.array(v.object({"title": v.string(), "views": v.int64()})))
async def viewed_at_least(ctx, args):
    """Titles and view counts of the notes viewed at least ``views`` times."""
    notes = await ctx.db.query("notes").collect()
    return [{"title": n["title"], "views": n["views"]} for n in notes if n["views"] >= args["views"]]


@query(args={}, returns=v.object({
    "text": v.literal("a \"quoted\" note"),
    "half": v.literal(0.5),
    "three": v.literal(Int64(3)),  # an int64 literal: a bigint for the client
    "yes": v.literal(True),
    "nothing": v.literal(None),
}))
async def literals(ctx, args):
    return {"text": 'a "quoted" note', "half": 0.5, "three": Int64(3), "yes": True, "nothing": None}


@query(args={"data": v.bytes()}, returns=v.bytes())
async def echo_bytes(ctx, args):
    return args["data"]


@query(args={"by": v.record(v.id("people"), v.array(v.id("notes")))}, returns=v.record(v.string(), v.float64()))
async def counts(ctx, args):
    return {person: float(len(notes)) for person, notes in args["by"].items()}


@query
async def anything(ctx, args):
    """No validators at all: any arguments, any result."""
    return args


@internal_mutation(args={}, returns=v.null())
async def _wipe(ctx, args):
    for note in await ctx.db.query("notes").collect():
        await ctx.db.delete(note["_id"])
    return None
