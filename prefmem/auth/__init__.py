"""Authentication: who is calling. Token verification lands here; identities live here."""

from prefmem.auth.identity import Identity

__all__ = ["Identity"]
