from prefmem import mutation, query, v


@mutation(args={})
async def upload_url(ctx, args):
    return await ctx.storage.generate_upload_url()


@query(args={"storageId": v.id("_storage")})
async def uploaded_by(ctx, args):
    return await ctx.storage.uploaded_by(args["storageId"])


@mutation(args={"storageId": v.id("_storage")})
async def delete(ctx, args):
    await ctx.storage.delete(args["storageId"])
