"""Turns what a caller presents (a JWT, an admin key, nothing) into an identity.

Both the sync protocol (``Authenticate``) and HTTP (``Authorization`` header) come here,
so a token is judged the same way whichever door it comes through:

- a user's JWT (``tokenType: "User"``, ``Authorization: Bearer <jwt>``) is verified against
  the providers of ``functions/auth_config.py`` (``prefmem.auth.providers``), read afresh
  whenever the functions are reloaded;
- the admin key (``tokenType: "Admin"``, ``Authorization: Convex <key>``) grants admin
  access: no user identity (unless acting as one: ``impersonating`` over sync,
  ``Convex <key>:<base64 JSON identity>`` over HTTP, as Convex's clients send it), but
  internal functions may be called. The key is generated at first start and kept in the
  data directory (``prefmem.auth.keys``);
- nothing means no identity.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from prefmem.auth import keys
from prefmem.auth.identity import Identity
from prefmem.auth.providers import ConfigError, Provider, parse_providers, verify
from prefmem.errors import AuthFailed

log = logging.getLogger("prefmem.auth")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user identity (or none), and whether the caller holds the admin key."""

    identity: Identity | None = None
    admin: bool = False


class Authenticator:
    def __init__(self, registry: Any, *, data_dir: str | Path | keys.SecretStore | None = None,
                 cors_origins: list[str] | None = None, admin_key: str | None = None,
                 min_refetch_s: float | None = None) -> None:
        """``registry``: a ``Registry``, or the ``Application`` (follows reloads, and keeps the
        password provider's accounts in its database).

        ``data_dir`` holds the admin key and the password provider's signing key; without it
        both exist only in memory. A ``SecretStore`` (a PostgreSQL database) keeps them
        instead, for every node. ``cors_origins`` (plus ``PREFMEM_AUTH_CORS_ORIGINS``) may
        call the auth endpoints from a browser.
        """
        self._registry_source = registry
        self.data_dir = Path(data_dir) if isinstance(data_dir, (str, Path)) else data_dir
        self.admin_key = admin_key or keys.load_or_create_admin_key(self.data_dir)
        self.signing_key = keys.load_or_create_signing_key(self.data_dir)
        env_origins = [o.strip().rstrip("/") for o in os.environ.get("PREFMEM_AUTH_CORS_ORIGINS", "").split(",")]
        self.cors_origins = {o for o in [*(cors_origins or []), *env_origins] if o}
        self.min_refetch_s = min_refetch_s
        self._http: httpx.AsyncClient | None = None
        self._password: Any = None  # PasswordAuth, created when auth_config lists {"type": "password"}
        self._cache_key: Any = None
        self._providers: list[Provider] = []
        self._config_error: str | None = None

    @classmethod
    def for_backend(cls, backend: Any, cors_origins: list[str] | None = None) -> "Authenticator":
        """The authenticator of a running ``Backend``: keys in its data directory, users in its
        database. On PostgreSQL the keys are the database's, shared by every node."""
        if backend.postgres:
            return cls(backend.app, data_dir=backend.persistence, cors_origins=cors_origins)
        db = str(backend.db_path)
        in_memory = db == ":memory:" or db.startswith("file::memory:")
        return cls(backend.app, data_dir=None if in_memory else Path(db).resolve().parent, cors_origins=cors_origins)

    @property
    def registry(self) -> Any:
        source = self._registry_source
        return getattr(source, "registry", source)

    # -- providers --------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": "prefmem"})
        return self._http

    def _password_provider(self, entry: dict[str, Any]) -> Provider:
        from prefmem.auth.password import Options, PasswordAuth

        try:
            options = Options.from_entry(entry)
        except ValueError as err:
            raise ConfigError(f"auth_config.py: {err}") from None
        if self._password is None:
            if not hasattr(self._registry_source, "persistence"):
                raise ConfigError("auth_config.py: the password provider keeps its accounts in the app's database, "
                                  "and this server has none")
            self._password = PasswordAuth(self._registry_source, self.signing_key, options)
        else:
            self._password.options = options
        return self._password.provider()

    def providers(self) -> list[Provider]:
        """The configured providers, parsed once per version of ``auth_config.py``."""
        module = self.registry.module("auth_config") if self.registry is not None else None
        raw = getattr(module, "providers", None) if module is not None else None
        cache_key = (id(module), repr(raw))
        if cache_key != self._cache_key:
            self._cache_key = cache_key
            try:
                self._providers = parse_providers(raw, http=self._client, password=self._password_provider,
                                                  min_refetch_s=self.min_refetch_s)
                self._config_error = None
                for provider in self._providers:
                    if provider.error is not None:
                        log.error("prefmem: %s (tokens for this provider are refused; the others work)",
                                  provider.error)
            except ConfigError as err:
                log.error("prefmem: %s", err)
                self._providers, self._config_error = [], str(err)
        if self._config_error is not None:
            raise AuthFailed(f"the auth configuration is invalid: {self._config_error}")
        return self._providers

    @property
    def password(self) -> Any:
        """The built-in password provider (``PasswordAuth``), or None when it is not configured."""
        try:
            providers = self.providers()
        except AuthFailed:
            return None
        return self._password if any(p.kind == "password" for p in providers) else None

    def jwks(self) -> dict[str, Any]:
        """The public half of this server's signing key, served at ``/.well-known/jwks.json``."""
        return {"keys": [self.signing_key.as_dict(private=False)]}

    def sign_in_check(self, identity: Identity | None) -> tuple[Any, dict[str, Any]] | None:
        """The query that says whether ``identity``'s sign-in is still on, for a socket acting
        for it to follow (a sign-out, a revoked session, a deleted account end it before its
        token expires); None for identities whose sign-in cannot end early."""
        password = self._password
        if identity is None or password is None or identity.session_id is None \
                or identity.issuer != password.options.issuer:
            return None
        from prefmem.auth.accounts import session_active

        return session_active, {"sessionId": identity.session_id, "userId": identity.subject}

    # -- verification -----------------------------------------------------------------------

    async def verify_token(self, token: str) -> Identity:
        """A user's JWT → its identity; raises ``AuthFailed`` saying why it was refused."""
        return await verify(token, self.providers())

    def is_admin_key(self, key: str | None) -> bool:
        return isinstance(key, str) and keys.admin_key_matches(self.admin_key, key)

    async def principal_for_message(self, token_type: str, value: str | None,
                                    impersonating: Any = None) -> Principal:
        if token_type == "None":
            return Principal()
        if token_type == "User" and value is not None:
            return Principal(await self.verify_token(value))
        if token_type == "Admin" and value is not None:
            if not self.is_admin_key(value):
                raise AuthFailed(BAD_ADMIN_KEY, "BadAdminKey")
            return Principal(impersonated_identity(impersonating), admin=True)
        raise AuthFailed(f"{token_type} authentication is not accepted by this server")

    async def for_message(self, token_type: str, value: str | None, impersonating: Any = None) -> Identity | None:
        return (await self.principal_for_message(token_type, value, impersonating)).identity

    async def principal_for_header(self, header: str | None) -> Principal:
        """``Authorization: Bearer <jwt>``, ``Convex <admin key>`` or, the admin acting as a
        user, ``Convex <admin key>:<base64 of the identity's JSON>``; no header means no identity."""
        if not header:
            return Principal()
        scheme, _, credential = header.strip().partition(" ")
        credential = credential.strip()
        if scheme == "Convex" and credential:
            key, _, acting_as = credential.partition(":")
            if not self.is_admin_key(key):
                raise AuthFailed(BAD_ADMIN_KEY, "BadAdminKey")
            return Principal(impersonated_identity(_acting_as(acting_as)) if acting_as else None, admin=True)
        if scheme.lower() != "bearer" or not credential:
            raise AuthFailed("Header must begin with `bearer `", "InvalidAuthHeader")
        return Principal(await self.verify_token(credential))

    async def for_header(self, header: str | None) -> Identity | None:
        return (await self.principal_for_header(header)).identity

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self._password = None


BAD_ADMIN_KEY = "The provided admin key was invalid for this instance"


def _acting_as(encoded: str) -> Any:
    try:
        return json.loads(base64.b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError):
        raise AuthFailed("the identity after the admin key must be base64 of a JSON object of identity attributes",
                         "InvalidAuthHeader") from None


def impersonated_identity(attributes: Any) -> Identity | None:
    """An admin acting as a user: the identity attributes the client sent (npm: ``impersonating``;
    the dashboard's "run as"; over HTTP, after the admin key)."""
    if attributes is None or attributes == {}:
        return None
    if not isinstance(attributes, dict):
        raise AuthFailed("`impersonating` must be an object of identity attributes")
    subject, issuer = attributes.get("subject"), attributes.get("issuer")
    token_identifier = attributes.get("tokenIdentifier")
    if (not isinstance(subject, str) or not isinstance(issuer, str)) and isinstance(token_identifier, str):
        issuer, _, subject = token_identifier.rpartition("|")
    if not isinstance(subject, str) or not subject or not isinstance(issuer, str) or not issuer:
        raise AuthFailed("`impersonating` needs `subject` and `issuer` (or `tokenIdentifier`)")
    claims = {k: v for k, v in attributes.items() if k not in ("subject", "issuer", "tokenIdentifier")}
    return Identity(subject=subject, issuer=issuer, claims=claims)
