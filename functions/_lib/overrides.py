"""Reading and writing the shopper's overrides (plain helpers over ``ctx.db``)."""

from __future__ import annotations

from typing import Any


def facet_key(facet: str, value: str) -> str:
    return f"facet:{facet}:{value}"


def budget_key(category: str) -> str:
    return f"budget:{category}"


def size_key(category: str) -> str:
    return f"size:{category}"


async def user_overrides(ctx: Any, user_id: str) -> list[dict]:
    return await ctx.db.query("overrides").with_index("by_user_key", lambda q: q.eq("userId", user_id)).collect()


async def get_override(ctx: Any, user_id: str, key: str) -> dict | None:
    return await ctx.db.query("overrides").with_index("by_user_key",
                                                      lambda q: q.eq("userId", user_id).eq("key", key)).unique()


async def put_override(ctx: Any, user_id: str, key: str, fields: dict) -> None:
    """Create or replace the override ``key`` of this shopper."""
    doc = {"userId": user_id, "key": key, "updatedAt": float(ctx.now), **fields}
    existing = await get_override(ctx, user_id, key)
    if existing is None:
        await ctx.db.insert("overrides", doc)
    else:
        await ctx.db.replace(existing["_id"], doc)


async def clear_override(ctx: Any, user_id: str, key: str) -> bool:
    existing = await get_override(ctx, user_id, key)
    if existing is None:
        return False
    await ctx.db.delete(existing["_id"])
    return True
