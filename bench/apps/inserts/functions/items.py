from prefmem import mutation, v


@mutation(args={"seq": v.number(), "payload": v.bytes()})
async def insert(ctx, args):
    return await ctx.db.insert("items", {"seq": args["seq"], "payload": args["payload"]})
