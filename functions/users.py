"""The signed-in shopper's user record (created on first sign-in) and inspiration photo."""

from prefmem import ConvexError, UNSET, mutation, query, v

from ._lib.identity import _claims, current_user, ensure_user, require_identity, require_user, user_by_token


async def public_user(ctx, user):
    out = {k: user[k] for k in ("_id", "_creationTime", "tokenIdentifier", "createdAt", "lastSeenAt",
                                "learningPaused", "personalize") if k in user}
    for k in ("name", "email", "subject", "issuer"):
        if k in user:
            out[k] = user[k]
    photo = user.get("inspirationPhotoId")
    out["inspirationPhotoId"] = photo
    out["inspirationPhotoUrl"] = await ctx.storage.get_url(photo) if photo else None
    return out


@mutation(args={}, returns=v.id("users"))
async def store(ctx, args):
    """Create or refresh the signed-in shopper's record; returns its id."""
    identity = await require_identity(ctx)
    user = await current_user(ctx)
    if user is None:
        return (await ensure_user(ctx))["_id"]
    fresh = {"lastSeenAt": float(ctx.now), **_claims(identity)}
    if any(user.get(k) != fresh[k] for k in fresh if k != "lastSeenAt") or ctx.now - user["lastSeenAt"] > 60_000:
        await ctx.db.patch(user["_id"], fresh)
    return user["_id"]


@query(args={})
async def me(ctx, args):
    """The shopper's user record (with the inspiration photo's URL), or null (also when signed out)."""
    identity = await ctx.auth.get_user_identity()
    user = None if identity is None else await user_by_token(ctx, identity.token_identifier)
    return None if user is None else await public_user(ctx, user)


@mutation(args={}, returns=v.string())
async def inspiration_upload_url(ctx, args):
    """An upload URL for an inspiration photo; POST the image there, then save_inspiration_photo."""
    await ensure_user(ctx)
    return await ctx.storage.generate_upload_url()


@mutation(args={"storageId": v.id("_storage")})
async def save_inspiration_photo(ctx, args):
    """Attach an uploaded photo to the shopper's profile (replacing and deleting the previous one)."""
    user = await ensure_user(ctx)
    sid = args["storageId"]
    meta = await ctx.db.system.get(sid)
    if meta is None:
        raise ConvexError({"code": "NOT_FOUND", "message": "no such file"})
    # A file already in use (another shopper's photo, a product image) cannot be claimed.
    owner = await ctx.db.query("users").with_index("by_photo", lambda q: q.eq("inspirationPhotoId", sid)).first()
    image = await ctx.db.query("placeholder_images").with_index("by_storage", lambda q: q.eq("storageId", sid)).first()
    if (owner is not None and owner["_id"] != user["_id"]) or image is not None:
        raise ConvexError({"code": "FORBIDDEN", "message": "that file belongs to something else"})
    old = user.get("inspirationPhotoId")
    if old and old != sid:
        await ctx.storage.delete(old)
    await ctx.db.patch(user["_id"], {"inspirationPhotoId": sid})
    return await ctx.storage.get_url(sid)


@mutation(args={})
async def remove_inspiration_photo(ctx, args):
    user = await require_user(ctx)
    old = user.get("inspirationPhotoId")
    if old:
        await ctx.storage.delete(old)
        await ctx.db.patch(user["_id"], {"inspirationPhotoId": UNSET})
    return None
