"""Auth providers from ``functions/auth_config.py`` and JWT verification against them.

``providers`` is a list of dicts in Convex's format:

- OIDC: ``{"domain": "https://issuer.example.com", "applicationID": "my-app"}``. The
  token's ``iss`` must be the domain and its ``aud`` must contain the application ID; keys
  come from the domain's discovery document (``/.well-known/openid-configuration``) and its
  ``jwks_uri``.
- Custom JWT: ``{"type": "customJwt", "issuer": ISS, "jwks": URL or "data:..." URI,
  "algorithm": "RS256" | "ES256", "applicationID": AUD (optional)}``. Without an
  application ID the ``aud`` claim is not checked.
- Built-in password provider: ``{"type": "password"}`` (see ``prefmem.auth.password``).
  It is a custom JWT provider whose issuer is this server and whose JWKS is the server's
  own key, the same document served at ``/.well-known/jwks.json``.

Every token goes through ``verify``: the issuer picks the provider(s), the header's ``alg``
must be one the provider allows (never ``none`` or HMAC), the signature must verify with a
key of that provider (``kid`` selects it; an unknown ``kid`` refetches the provider's
keys), then ``exp`` (required), ``nbf`` and ``iat`` are checked with a small clock-skew
leeway, ``aud`` against the application ID, and ``sub`` must be present. Each refusal
says which check failed.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import httpx
from joserfc import jwt
from joserfc.errors import JoseError

from prefmem.auth.identity import Identity
from prefmem.auth.jwks import KeySource, OidcJwks, StaticJwks, UrlJwks, parse_data_uri
from prefmem.errors import AuthFailed

CLOCK_SKEW_S = 30
OIDC_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "PS384", "PS512")
CUSTOM_ALGORITHMS = ("RS256", "ES256")
# Claims about the token itself rather than the user: left out of the identity, so that a
# refreshed token for the same user yields an equal identity (and shares query results).
TOKEN_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "azp", "nonce", "auth_time",
                          "at_hash", "c_hash"})


class ConfigError(ValueError):
    """``auth_config.py`` is malformed; the message names the entry and what is wrong."""


@dataclass
class Provider:
    kind: str  # "oidc" | "customJwt" | "password"
    issuer: str
    application_id: str | None
    algorithms: tuple[str, ...]
    keys: KeySource
    # Extra acceptance check on verified claims (the password provider: session not signed out).
    check: Callable[[dict[str, Any]], Any] | None = field(default=None, repr=False)

    def describe(self) -> str:
        return f"{self.kind} provider {self.issuer!r}" + (f" (applicationID {self.application_id!r})"
                                                         if self.application_id else "")


def _same_issuer(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def parse_providers(raw: Any, *, http: Callable[[], httpx.AsyncClient],
                    password: Callable[[dict[str, Any]], Provider] | None = None,
                    min_refetch_s: float | None = None) -> list[Provider]:
    if raw is None:
        return []
    if not isinstance(raw, (list, tuple)):
        raise ConfigError(f"auth_config.py: `providers` must be a list of dicts, got {type(raw).__name__}")
    out: list[Provider] = []
    for i, entry in enumerate(raw):
        where = f"auth_config.py: providers[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a dict, got {type(entry).__name__}")
        kind = entry.get("type", "oidc")
        app_id = entry.get("applicationID", entry.get("application_id"))
        if app_id is not None and not isinstance(app_id, str):
            raise ConfigError(f"{where}: `applicationID` must be a string")
        if kind == "oidc":
            domain = entry.get("domain")
            if not isinstance(domain, str) or not domain.startswith(("https://", "http://")):
                raise ConfigError(f"{where}: an OIDC provider needs `domain`, the issuer URL, e.g. "
                                  f"'https://example.auth0.com/'")
            if not app_id:
                raise ConfigError(f"{where}: an OIDC provider needs `applicationID` (the token audience)")
            out.append(Provider("oidc", domain, app_id, OIDC_ALGORITHMS,
                                OidcJwks(domain, http, min_refetch_s=min_refetch_s)))
        elif kind == "customJwt":
            issuer, jwks, alg = entry.get("issuer"), entry.get("jwks"), entry.get("algorithm")
            if not isinstance(issuer, str) or not issuer:
                raise ConfigError(f"{where}: a customJwt provider needs `issuer`")
            if alg not in CUSTOM_ALGORITHMS:
                raise ConfigError(f"{where}: `algorithm` must be one of {', '.join(CUSTOM_ALGORITHMS)}, got {alg!r}")
            if isinstance(jwks, dict):
                source: KeySource = StaticJwks(jwks, f"{where}.jwks")
            elif isinstance(jwks, str) and jwks.startswith("data:"):
                try:
                    doc = parse_data_uri(jwks)
                except ValueError as err:
                    raise ConfigError(f"{where}: `jwks` data: URI cannot be read: {err}") from None
                try:
                    source = StaticJwks(doc, f"{where}.jwks")
                except AuthFailed as err:
                    raise ConfigError(str(err)) from None
            elif isinstance(jwks, str) and jwks.startswith(("https://", "http://")):
                source = UrlJwks(jwks, http, min_refetch_s=min_refetch_s)
            else:
                raise ConfigError(f"{where}: `jwks` must be an http(s) URL or a data: URI")
            out.append(Provider("customJwt", issuer, app_id, (alg,), source))
        elif kind == "password":
            if password is None:
                raise ConfigError(f"{where}: the built-in password provider is not available here")
            out.append(password(entry))
        else:
            raise ConfigError(f"{where}: unknown provider type {kind!r} (expected an OIDC provider with "
                              f"`domain`, 'customJwt' or 'password')")
    return out


# ---------------------------------------------------------------------------- verification

def _b64json(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, TypeError):
        raise AuthFailed(f"the token is not a valid JWT: its {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise AuthFailed(f"the token is not a valid JWT: its {what} is not a JSON object")
    return value


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthFailed("the token is not a JWT (expected three base64url parts separated by '.')")
    return _b64json(parts[0], "header"), _b64json(parts[1], "payload")


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def check_claims(claims: dict[str, Any], provider: Provider, now: float, leeway: float = CLOCK_SKEW_S) -> None:
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        raise AuthFailed("the token has no numeric `exp` (expiration) claim")
    if now > exp + leeway:
        raise AuthFailed(f"the token expired at {_when(exp)} ({int(now - exp)} s ago)")
    nbf = claims.get("nbf")
    if nbf is not None:
        if not isinstance(nbf, (int, float)) or isinstance(nbf, bool):
            raise AuthFailed("the token's `nbf` claim is not a number")
        if now + leeway < nbf:
            raise AuthFailed(f"the token is not valid before {_when(nbf)}")
    iat = claims.get("iat")
    if iat is not None:
        if not isinstance(iat, (int, float)) or isinstance(iat, bool):
            raise AuthFailed("the token's `iat` claim is not a number")
        if now + leeway < iat:
            raise AuthFailed(f"the token claims to be issued in the future ({_when(iat)})")
    if provider.application_id is not None:
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if provider.application_id not in audiences:
            raise AuthFailed(f"the token's audience {aud!r} does not include the application ID "
                             f"{provider.application_id!r} configured for issuer {provider.issuer!r}")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthFailed("the token has no `sub` (subject) claim")


async def _verify_with(token: str, header: dict[str, Any], provider: Provider, now: float,
                       leeway: float) -> dict[str, Any]:
    alg = header.get("alg")
    if alg not in provider.algorithms:
        raise AuthFailed(f"the token is signed with {alg!r}, but the {provider.describe()} accepts "
                         f"{', '.join(provider.algorithms)}")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise AuthFailed("the token's `kid` header is not a string")
    keys = await provider.keys.keys_for(kid)
    keys = [k for k in keys if k.alg in (None, alg)]
    if not keys:
        raise AuthFailed(f"no key {'with kid ' + repr(kid) + ' ' if kid else ''}for {alg} in the JWKS of the "
                         f"{provider.describe()}")
    claims = None
    for key in keys:
        try:
            claims = jwt.decode(token, key, algorithms=[alg]).claims
            break
        except JoseError:
            continue
    if claims is None:
        raise AuthFailed(f"the token's signature does not verify with the keys of the {provider.describe()}")
    check_claims(claims, provider, now, leeway)
    if provider.check is not None:
        result = provider.check(claims)
        if hasattr(result, "__await__"):
            await result
    return claims


def _as_convex(value: Any) -> Any:
    """JSON numbers in a token are JavaScript numbers: float64 in Convex, so ``float`` here."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, list):
        return [_as_convex(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _as_convex(v) for k, v in value.items()}
    return value


async def verify(token: str, providers: list[Provider], *, now: float | None = None,
                 leeway: float = CLOCK_SKEW_S) -> Identity:
    """A JWT → the identity it proves; raises ``AuthFailed`` saying why it was refused."""
    if not providers:
        raise AuthFailed("this server has no authentication providers configured (functions/auth_config.py)")
    if not isinstance(token, str) or not token.strip():
        raise AuthFailed("the token is empty")
    token = token.strip()
    header, unverified = unverified_parts(token)
    iss = unverified.get("iss")
    if not isinstance(iss, str) or not iss:
        raise AuthFailed("the token has no `iss` (issuer) claim")
    candidates = [p for p in providers if _same_issuer(p.issuer, iss)]
    if not candidates:
        known = ", ".join(sorted({repr(p.issuer) for p in providers}))
        raise AuthFailed(f"no auth provider in functions/auth_config.py accepts tokens from issuer {iss!r} "
                         f"(configured issuers: {known})")
    now = time.time() if now is None else now
    first_error: AuthFailed | None = None
    for provider in candidates:
        try:
            claims = await _verify_with(token, header, provider, now, leeway)
        except AuthFailed as err:
            first_error = first_error or err
            continue
        identity_claims = {k: _as_convex(v) for k, v in claims.items() if k not in TOKEN_CLAIMS}
        sid, iat = claims.get("sid"), claims.get("iat")
        return Identity(subject=claims["sub"], issuer=claims["iss"], claims=identity_claims,
                        expires_at=float(claims["exp"]), session_id=sid if isinstance(sid, str) else None,
                        issued_at=float(iat) if iat is not None else None)  # a number: checked above
    assert first_error is not None
    raise first_error
