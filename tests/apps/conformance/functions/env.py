"""What functions find in os.environ, and how long an action may run."""

import asyncio
import os

from prefmem import action, query, v


@query(args={})
async def urls(ctx, args):
    return {"cloud": os.environ.get("CONVEX_CLOUD_URL"), "site": os.environ.get("CONVEX_SITE_URL")}


@action(args={"seconds": v.number()})
async def slow(ctx, args):
    await asyncio.sleep(args["seconds"])
    return "finished"


@query(args={})
async def whoami(ctx, args):
    identity = await ctx.auth.get_user_identity()
    return None if identity is None else {"tokenIdentifier": identity.token_identifier, "name": identity.name}
