"""The signed-in shopper's user record (created on first sign-in) and inspiration photo."""

from prefmem import ConvexError, UNSET, action, internal_mutation, mutation, query, v

from ._lib.identity import _claims, current_user, ensure_user, require_identity, require_user, user_by_token
from ._lib.images import MAX_PHOTO_BYTES, PHOTO_TYPES, sniff_image

_NOT_YOURS = {"code": "FORBIDDEN", "message": "that file belongs to something else"}


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


@action(args={"storageId": v.id("_storage")})
async def save_inspiration_photo(ctx, args):
    """Attach an uploaded photo to the shopper's profile (replacing and deleting the previous one).

    Only the shopper's own upload (through ``inspiration_upload_url``) can be attached: a
    storage id alone proves nothing. The bytes must be a raster image of the type the upload
    declared (they are read, not the declared type believed): anything else, SVG and HTML
    included, is refused and the upload deleted.
    """
    identity = await require_identity(ctx)
    sid = args["storageId"]
    meta = await ctx.storage.get_metadata(sid)
    if meta is None:
        raise ConvexError({"code": "NOT_FOUND", "message": "no such file"})
    if await ctx.storage.uploaded_by(sid) != identity.token_identifier:
        raise ConvexError(_NOT_YOURS)
    declared = (meta.get("contentType") or "").split(";")[0].strip().lower()
    problem = None
    if meta["size"] > MAX_PHOTO_BYTES:
        problem = f"a photo may be at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB"
    else:
        kind = sniff_image(await ctx.storage.get(sid) or b"")
        if kind is None:
            problem = f"that file is not a photo ({', '.join(PHOTO_TYPES)})"
        elif kind != declared:
            problem = f"the file says it is {declared or 'of no type'} but it is {kind}"
    if problem is not None:
        await ctx.run_mutation("users:_discard_upload", {"storageId": sid})
        raise ConvexError({"code": "NOT_AN_IMAGE", "message": problem})
    return await ctx.run_mutation("users:_attach_inspiration_photo", {"storageId": sid})


@internal_mutation(args={"storageId": v.id("_storage")})
async def _attach_inspiration_photo(ctx, args):
    user = await ensure_user(ctx)
    identity = await require_identity(ctx)
    sid = args["storageId"]
    if await ctx.db.system.get(sid) is None:
        raise ConvexError({"code": "NOT_FOUND", "message": "no such file"})
    if await ctx.storage.uploaded_by(sid) != identity.token_identifier:  # checked again, in the transaction
        raise ConvexError(_NOT_YOURS)
    old = user.get("inspirationPhotoId")
    if old and old != sid:
        await ctx.storage.delete(old)
    await ctx.db.patch(user["_id"], {"inspirationPhotoId": sid})
    return await ctx.storage.get_url(sid)


@internal_mutation(args={"storageId": v.id("_storage")})
async def _discard_upload(ctx, args):
    """Delete a refused upload of the caller's, unless it is their current photo."""
    identity = await require_identity(ctx)
    sid = args["storageId"]
    user = await current_user(ctx)
    if await ctx.storage.uploaded_by(sid) == identity.token_identifier and \
            (user is None or user.get("inspirationPhotoId") != sid):
        await ctx.storage.delete(sid)


@mutation(args={})
async def remove_inspiration_photo(ctx, args):
    user = await require_user(ctx)
    old = user.get("inspirationPhotoId")
    if old:
        await ctx.storage.delete(old)
        await ctx.db.patch(user["_id"], {"inspirationPhotoId": UNSET})
    return None
