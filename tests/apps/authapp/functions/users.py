from prefmem import internal_query, mutation, query, v


@query
async def whoami(ctx, args):
    identity = await ctx.auth.get_user_identity()
    return None if identity is None else identity.to_dict()


@query
async def my_notes(ctx, args):
    identity = await ctx.auth.get_user_identity()
    if identity is None:
        return []
    notes = await ctx.db.query("notes").with_index(
        "by_author", lambda q: q.eq("author", identity.token_identifier)).collect()
    return [n["body"] for n in notes]


@mutation(args={"body": v.string()})
async def add_note(ctx, args):
    identity = await ctx.auth.get_user_identity()
    if identity is None:
        raise ValueError("sign in to add notes")
    return await ctx.db.insert("notes", {"author": identity.token_identifier, "body": args["body"]})


@internal_query
async def note_count(ctx, args):
    return float(len(await ctx.db.query("notes").collect()))


@internal_query(args={"table": v.string()})
async def peek(ctx, args):
    """An app function trying to read the runtime's private tables (it must not)."""
    return await ctx.db.system.query(args["table"]).collect()


@internal_query(args={"id": v.string()})
async def peek_id(ctx, args):
    return await ctx.db.system.get(args["id"])
