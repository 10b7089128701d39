"""Who is calling: the signed-in shopper's user record, or an UNAUTHENTICATED error.

Every public function of the app starts here, so no function can act for a shopper other
than the one whose identity the request carries. Records are keyed by the identity's
``token_identifier`` (``issuer|subject``), as Convex's ``users.store`` pattern does.
"""

from __future__ import annotations

import hashlib
from typing import Any

from prefmem import ConvexError


def unauthenticated() -> ConvexError:
    return ConvexError({"code": "UNAUTHENTICATED", "message": "sign in first"})


def not_found(what: str) -> ConvexError:
    # Also used for another shopper's rows: never reveal that they exist.
    return ConvexError({"code": "NOT_FOUND", "message": f"no such {what}"})


async def require_identity(ctx: Any) -> Any:
    identity = await ctx.auth.get_user_identity()
    if identity is None:
        raise unauthenticated()
    return identity


async def user_by_token(ctx: Any, token: str) -> dict | None:
    return await ctx.db.query("users").with_index("by_token", lambda q: q.eq("tokenIdentifier", token)).unique()


async def current_user(ctx: Any) -> dict | None:
    """The caller's user record (None if they never called users:store); raises when signed out."""
    identity = await require_identity(ctx)
    return await user_by_token(ctx, identity.token_identifier)


async def require_user(ctx: Any) -> dict:
    user = await current_user(ctx)
    if user is None:
        raise ConvexError({"code": "NO_USER", "message": "call users:store after signing in"})
    return user


def _claims(identity: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for attr, key in (("subject", "subject"), ("issuer", "issuer"), ("name", "name"), ("email", "email")):
        value = getattr(identity, attr, None)
        if value is None:
            claims = getattr(identity, "claims", None) or {}
            value = claims.get(attr) if isinstance(claims, dict) else None
        if isinstance(value, str):
            out[key] = value
    return out


def token_hash(token_identifier: str) -> str:
    return hashlib.sha256(token_identifier.encode()).hexdigest()


async def ensure_user(ctx: Any) -> dict:
    """In a mutation: the caller's user record, created on first use.

    Not for a token issued before its account was deleted (``privacy:delete_account``):
    a page still open with it would otherwise bring the account back.
    """
    identity = await require_identity(ctx)
    user = await user_by_token(ctx, identity.token_identifier)
    if user is not None:
        return user
    key = token_hash(identity.token_identifier)
    deleted = await ctx.db.query("deleted_accounts").with_index("by_token_hash", lambda q: q.eq("tokenHash", key)).first()
    issued_at = getattr(identity, "issued_at", None)
    if deleted is not None and (issued_at is None or issued_at * 1000.0 <= deleted["deletedAt"]):
        raise ConvexError({"code": "UNAUTHENTICATED", "message": "this account was deleted; sign in again"})
    doc = {"tokenIdentifier": identity.token_identifier, "createdAt": float(ctx.now), "lastSeenAt": float(ctx.now),
           "learningPaused": False, "personalize": True, **_claims(identity)}
    user_id = await ctx.db.insert("users", doc)
    return await ctx.db.get(user_id)
