from prefmem import action, mutation, query, v


@mutation(args={})
async def upload_url(ctx, args):
    return await ctx.storage.generate_upload_url()


@mutation(args={"storageId": v.id("_storage"), "caption": v.string()})
async def save_photo(ctx, args):
    return await ctx.db.insert("photos", args)


@query(args={})
async def photos(ctx, args):
    out = []
    for photo in await ctx.db.query("photos").collect():
        meta = await ctx.db.system.get(photo["storageId"])
        out.append({"caption": photo["caption"], "url": await ctx.storage.get_url(photo["storageId"]),
                    "size": meta["size"] if meta else None, "contentType": meta.get("contentType") if meta else None})
    return out


@mutation(args={"storageId": v.id("_storage")})
async def delete_file(ctx, args):
    await ctx.storage.delete(args["storageId"])


@action(args={"text": v.string()})
async def store_text(ctx, args):
    storage_id = await ctx.storage.store(args["text"].encode(), "text/plain")
    data = await ctx.storage.get(storage_id)
    return {"id": storage_id, "roundTrip": data.decode(), "url": await ctx.storage.get_url(storage_id)}


@mutation(args={"kind": v.string(), "embedding": v.array(v.float64())})
async def add_doc(ctx, args):
    return await ctx.db.insert("docs", args)


@action(args={"vector": v.array(v.float64()), "kind": v.optional(v.string())})
async def nearest(ctx, args):
    request = {"vector": args["vector"], "limit": 2}
    if "kind" in args:
        request["filter"] = lambda q: q.eq("kind", args["kind"])
    return await ctx.vector_search("docs", "by_embedding", request)


@query(args={"storageId": v.string()})
async def metadata_in_query(ctx, args):
    return await ctx.storage.get_metadata(args["storageId"])


@mutation(args={"storageId": v.string()})
async def metadata_in_mutation(ctx, args):
    return await ctx.storage.get_metadata(args["storageId"])


@action(args={"storageId": v.string()})
async def metadata_in_action(ctx, args):
    return await ctx.storage.get_metadata(args["storageId"])


@action(args={"text": v.string(), "sha256": v.string()})
async def store_checked(ctx, args):
    return await ctx.storage.store(args["text"].encode(), "text/plain", sha256=args["sha256"])


@mutation(args={"storageId": v.id("_storage")})
async def delete_twice(ctx, args):
    await ctx.storage.delete(args["storageId"])
    await ctx.storage.delete(args["storageId"])


@action(args={"storageId": v.string()})
async def delete_in_action(ctx, args):
    await ctx.storage.delete(args["storageId"])
