"""Authentication: who is calling.

- ``identity``: ``Identity``, what ``ctx.auth.get_user_identity()`` returns.
- ``authenticator``: ``Authenticator``, the one seam the sync protocol, the HTTP API and
  HTTP actions use to turn a JWT / admin key / nothing into an identity (``Principal``
  adds whether the caller holds the admin key).
- ``providers``: ``functions/auth_config.py`` parsing (OIDC, customJwt, password) and JWT
  verification; ``jwks``: where the keys come from, cached and refetched on rotation.
- ``password``: the built-in password provider (users, sessions, refresh tokens, rate
  limits); ``routes``: its HTTP endpoints and ``/.well-known/jwks.json``.
- ``keys``: the admin key and the signing key, kept in the data directory.
"""

from prefmem.auth.identity import Identity

__all__ = ["Identity"]
