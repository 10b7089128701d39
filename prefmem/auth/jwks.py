"""Where a provider's public keys come from, and how they are cached.

- ``StaticJwks``: a JWKS given inline (a dict) or as a ``data:`` URI; never refetched.
- ``UrlJwks``: a JWKS fetched over HTTP(S) with httpx.
- ``OidcJwks``: an OIDC issuer; its discovery document
  (``<domain>/.well-known/openid-configuration``) names the ``jwks_uri``, and the document's
  ``issuer`` must be the configured domain.
- ``LocalJwks``: keys held by this process (the built-in password provider's own key).

Fetched key sets are cached for ``max_age_s``. A token whose ``kid`` is not in the cached
set triggers one refetch (that is how a provider's key rotation is picked up), but at most
one per ``min_refetch_s`` per source, so a stream of tokens with made-up ``kid`` values
cannot make the server hammer the provider. Concurrent verifications share one fetch.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import urllib.parse
from typing import Any, Callable

import httpx
from joserfc import jwk

from prefmem.errors import AuthFailed

DEFAULT_MAX_AGE_S = 3600.0
DEFAULT_MIN_REFETCH_S = float(os.environ.get("PREFMEM_JWKS_MIN_REFETCH_S", "10"))
FETCH_TIMEOUT_S = 5.0

Key = Any  # a joserfc key (RSAKey, ECKey, ...)


def import_key_set(doc: Any, where: str) -> list[Key]:
    """The signing keys of a JWKS document; encryption keys and keys we cannot read are skipped."""
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise AuthFailed(f"{where} is not a JWKS document (expected an object with a `keys` array)")
    keys = []
    for data in doc["keys"]:
        if not isinstance(data, dict) or data.get("use") == "enc" or data.get("kty") not in ("RSA", "EC"):
            continue
        try:
            keys.append(jwk.import_key(data))
        except Exception:  # noqa: BLE001 — one malformed key must not hide the others
            continue
    return keys


def parse_data_uri(uri: str) -> Any:
    """``data:application/json;base64,...`` or ``data:application/json,<url-encoded JSON>`` → JSON."""
    header, sep, payload = uri.partition(",")
    if not sep:
        raise ValueError("a data: URI needs a ',' before its payload")
    raw = base64.b64decode(payload + "=" * (-len(payload) % 4)) if header.endswith(";base64") \
        else urllib.parse.unquote(payload).encode()
    return json.loads(raw)


class KeySource:
    """A provider's keys; ``keys_for(kid)`` returns the candidates for a token's ``kid``."""

    async def keys_for(self, kid: str | None) -> list[Key]:
        raise NotImplementedError

    @staticmethod
    def select(keys: list[Key], kid: str | None) -> list[Key]:
        if kid is None:
            return list(keys)
        return [k for k in keys if k.kid == kid]


class StaticJwks(KeySource):
    def __init__(self, doc: Any, where: str) -> None:
        self.keys = import_key_set(doc, where)

    async def keys_for(self, kid: str | None) -> list[Key]:
        return self.select(self.keys, kid)


class LocalJwks(KeySource):
    def __init__(self, get_keys: Callable[[], list[Key]]) -> None:
        self._get_keys = get_keys

    async def keys_for(self, kid: str | None) -> list[Key]:
        return self.select(self._get_keys(), kid)


class _FetchedJwks(KeySource):
    def __init__(self, http: Callable[[], httpx.AsyncClient], *, max_age_s: float = DEFAULT_MAX_AGE_S,
                 min_refetch_s: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._http = http
        self._clock = clock  # seconds; a test's own clock shows the rate limit without waiting it out
        self.max_age_s = max_age_s
        self.min_refetch_s = DEFAULT_MIN_REFETCH_S if min_refetch_s is None else min_refetch_s
        self._keys: list[Key] | None = None
        self._fetched_at = float("-inf")  # monotonic time of the last fetch attempt
        self._lock = asyncio.Lock()
        self._error: str | None = None
        self.fetches = 0

    async def _fetch(self) -> list[Key]:
        raise NotImplementedError

    async def _get_json(self, url: str, what: str) -> Any:
        try:
            response = await self._http().get(url, timeout=FETCH_TIMEOUT_S,
                                              headers={"Accept": "application/json"})
        except httpx.HTTPError as err:
            raise AuthFailed(f"could not fetch {what} from {url}: {type(err).__name__}: {err}") from None
        if response.status_code != 200:
            raise AuthFailed(f"could not fetch {what} from {url}: HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise AuthFailed(f"{what} at {url} is not JSON") from None

    async def _refresh(self, *, force: bool) -> None:
        started = self._clock()
        async with self._lock:
            if self._fetched_at >= started:
                return  # another verification fetched while we waited
            now = self._clock()
            fresh = self._keys is not None and now - self._fetched_at < self.max_age_s
            if fresh and not force:
                return
            if now - self._fetched_at < self.min_refetch_s:
                # Rate limit: keep the keys we have, or repeat why the last fetch failed.
                if self._keys is None and self._error is not None:
                    raise AuthFailed(self._error)
                return
            self._fetched_at = now
            self.fetches += 1
            try:
                self._keys = await self._fetch()
                self._error = None
            except AuthFailed as err:
                self._error = str(err)
                raise

    async def keys_for(self, kid: str | None) -> list[Key]:
        await self._refresh(force=False)
        found = self.select(self._keys or [], kid)
        if not found and kid is not None:
            try:
                await self._refresh(force=True)  # maybe the provider rotated its keys
            except AuthFailed:
                if self._keys is None:
                    raise
            found = self.select(self._keys or [], kid)
        return found


class UrlJwks(_FetchedJwks):
    def __init__(self, url: str, http: Callable[[], httpx.AsyncClient], **kw: Any) -> None:
        super().__init__(http, **kw)
        self.url = url

    async def _fetch(self) -> list[Key]:
        return import_key_set(await self._get_json(self.url, "the JWKS"), f"the JWKS at {self.url}")


class OidcJwks(_FetchedJwks):
    def __init__(self, domain: str, http: Callable[[], httpx.AsyncClient], **kw: Any) -> None:
        super().__init__(http, **kw)
        self.domain = domain

    async def _fetch(self) -> list[Key]:
        url = self.domain.rstrip("/") + "/.well-known/openid-configuration"
        config = await self._get_json(url, "the OpenID configuration")
        if not isinstance(config, dict) or not isinstance(config.get("jwks_uri"), str):
            raise AuthFailed(f"the OpenID configuration at {url} has no `jwks_uri`")
        issuer = config.get("issuer")
        if not isinstance(issuer, str) or issuer.rstrip("/") != self.domain.rstrip("/"):
            raise AuthFailed(f"the OpenID configuration at {url} names issuer {issuer!r}, not the configured "
                             f"domain {self.domain!r}")
        jwks_uri = config["jwks_uri"]
        return import_key_set(await self._get_json(jwks_uri, "the JWKS"), f"the JWKS at {jwks_uri}")
