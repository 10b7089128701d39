"""Turns what a caller presents (a JWT, an admin key, nothing) into an identity.

Both the sync protocol (``Authenticate``) and HTTP (``Authorization`` header) come here,
so a token is judged the same way whichever door it comes through.
"""

from __future__ import annotations

from typing import Any

from prefmem.auth.identity import Identity
from prefmem.errors import AuthFailed


class Authenticator:
    def __init__(self, registry: Any) -> None:
        self.registry = registry

    async def verify_token(self, token: str) -> Identity:
        """A user's JWT → its identity; raises ``AuthFailed`` saying why it was refused."""
        raise AuthFailed("this server has no authentication providers configured (functions/auth_config.py)")

    async def for_message(self, token_type: str, value: str | None) -> Identity | None:
        if token_type == "None":
            return None
        if token_type == "User" and value is not None:
            return await self.verify_token(value)
        raise AuthFailed(f"{token_type} authentication is not accepted by this server")

    async def for_header(self, header: str | None) -> Identity | None:
        """``Authorization: Bearer <jwt>``; no header means no identity."""
        if not header:
            return None
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise AuthFailed("the Authorization header must be 'Bearer <token>'")
        return await self.verify_token(credential.strip())
