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

Every token goes through ``verify``: as Convex routes it, the issuer and the audience
pick the provider(s) (none is ``NoAuthProvider``), the header's ``alg`` must be one the
provider allows (never ``none`` or HMAC), the signature must verify with a key of that
provider (``kid`` selects it, and is required when the JWKS holds several keys; an unknown
``kid`` refetches the provider's keys), then ``exp`` (required), ``nbf`` and ``iat`` are
checked with Convex's 5 s clock-skew leeway, ``aud`` against the application ID, and
``sub`` must be present. Each refusal says which check failed, with Convex's code.
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
from prefmem.values import SAFE_MAX, SAFE_MIN

CLOCK_SKEW_S = 5  # Convex's leeway on exp, nbf and iat
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
    issuer: str | None  # None: an entry too broken to say whose tokens it is for
    application_id: str | None
    algorithms: tuple[str, ...]
    keys: KeySource | None
    # Extra acceptance check on verified claims (the password provider: session not signed out).
    check: Callable[[dict[str, Any]], Any] | None = field(default=None, repr=False)
    # Why the entry of auth_config.py cannot be used: only tokens aimed at it are refused.
    error: str | None = None

    def describe(self) -> str:
        return f"{self.kind} provider {self.issuer!r}" + (f" (applicationID {self.application_id!r})"
                                                         if self.application_id else "")

    def listed(self) -> str:
        """As Convex lists a configured provider in its ``NoAuthProvider`` message."""
        if self.kind == "oidc":
            return f"OIDC(domain={self.issuer}, app_id={self.application_id})"
        return f"CustomJWT(issuer={self.issuer}, app_id={self.application_id or 'none'})"

    def accepts(self, issuer: str, audiences: list[str]) -> bool:
        """Convex's routing of a token: its issuer, and its audience if the provider names one."""
        return self.issuer is not None and _same_issuer(self.issuer, issuer) and (
            self.application_id is None or self.application_id in audiences)


def _same_issuer(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def parse_providers(raw: Any, *, http: Callable[[], httpx.AsyncClient],
                    password: Callable[[dict[str, Any]], Provider] | None = None,
                    min_refetch_s: float | None = None) -> list[Provider]:
    """Every entry of ``providers``. An entry that cannot be used (a JWKS that cannot be
    read, a missing field) comes back with its ``error`` set instead of failing the rest:
    tokens for the other providers keep working, and only tokens aimed at it are refused."""
    if raw is None:
        return []
    if not isinstance(raw, (list, tuple)):
        raise ConfigError(f"auth_config.py: `providers` must be a list of dicts, got {type(raw).__name__}")
    out: list[Provider] = []
    for i, entry in enumerate(raw):
        try:
            out.append(_parse_entry(entry, f"auth_config.py: providers[{i}]", http, password, min_refetch_s))
        except ConfigError as err:
            out.append(_broken(entry, str(err)))
    return out


def _broken(entry: Any, error: str) -> Provider:
    """A placeholder for an unusable entry, routed to by what it says of its issuer."""
    entry = entry if isinstance(entry, dict) else {}
    kind = entry.get("type", "oidc")
    issuer = entry.get("domain") if kind == "oidc" else entry.get("issuer")
    app_id = entry.get("applicationID", entry.get("application_id"))
    return Provider(str(kind), issuer if isinstance(issuer, str) and issuer else None,
                    app_id if isinstance(app_id, str) else None, (), None, error=error)


def _parse_entry(entry: Any, where: str, http: Callable[[], httpx.AsyncClient],
                 password: Callable[[dict[str, Any]], Provider] | None, min_refetch_s: float | None) -> Provider:
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
        return Provider("oidc", domain, app_id, OIDC_ALGORITHMS, OidcJwks(domain, http, min_refetch_s=min_refetch_s))
    if kind == "customJwt":
        issuer, jwks, alg = entry.get("issuer"), entry.get("jwks"), entry.get("algorithm")
        if not isinstance(issuer, str) or not issuer:
            raise ConfigError(f"{where}: a customJwt provider needs `issuer`")
        if alg not in CUSTOM_ALGORITHMS:
            raise ConfigError(f"{where}: `algorithm` must be one of {', '.join(CUSTOM_ALGORITHMS)}, got {alg!r}")
        if isinstance(jwks, dict) or (isinstance(jwks, str) and jwks.startswith("data:")):
            try:
                source: KeySource = StaticJwks(jwks if isinstance(jwks, dict) else parse_data_uri(jwks),
                                               f"{where}.jwks")
            except ValueError as err:
                raise ConfigError(f"{where}: `jwks` data: URI cannot be read: {err}") from None
            except AuthFailed as err:
                raise ConfigError(str(err)) from None
        elif isinstance(jwks, str) and jwks.startswith(("https://", "http://")):
            source = UrlJwks(jwks, http, min_refetch_s=min_refetch_s)
        else:
            raise ConfigError(f"{where}: `jwks` must be an http(s) URL or a data: URI")
        return Provider("customJwt", issuer, app_id, (alg,), source)
    if kind == "password":
        if password is None:
            raise ConfigError(f"{where}: the built-in password provider is not available here")
        return password(entry)
    raise ConfigError(f"{where}: unknown provider type {kind!r} (expected an OIDC provider with `domain`, "
                      "'customJwt' or 'password')")


# ---------------------------------------------------------------------------- verification

NOT_A_JWT = ("Could not parse JWT payload. Check that the token is a valid JWT format with three base64-encoded "
             "parts separated by dots.")


def _b64json(part: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, TypeError):
        raise AuthFailed(NOT_A_JWT, "InvalidAuthHeader") from None
    if not isinstance(value, dict):
        raise AuthFailed(NOT_A_JWT, "InvalidAuthHeader")
    return value


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A JWT's header and payload, unverified: what routes it to a provider (Convex's words
    when it is no JWT at all)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthFailed(NOT_A_JWT, "InvalidAuthHeader")
    return _b64json(parts[0]), _b64json(parts[1])


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
    assert provider.keys is not None
    keys = await provider.keys.keys_for(kid)
    if kid is None and len(keys) > 1:
        # Which of several keys signed it? As Convex, a token must say (trying each would
        # let a key meant for something else vouch for it).
        raise AuthFailed("Could not decode token. JWT may be missing a 'kid' (key ID) header.")
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
    """JSON numbers in a token are JavaScript numbers: float64 in Convex. A plain ``int``
    is one within ±2^53; a larger integer claim becomes the nearest float."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if SAFE_MIN <= value <= SAFE_MAX else float(value)
    if isinstance(value, list):
        return [_as_convex(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _as_convex(v) for k, v in value.items()}
    return value


def no_provider(providers: list[Provider]) -> AuthFailed:
    listed = [p.listed() for p in providers if p.issuer is not None]
    if not listed:
        return AuthFailed("No auth provider found matching the given token (no providers configured). Check "
                          "functions/auth_config.py.", "NoAuthProvider")
    return AuthFailed("No auth provider found matching the given token. Check that your JWT's issuer and audience "
                      f"match one of your configured providers: [{', '.join(listed)}]", "NoAuthProvider")


async def verify(token: str, providers: list[Provider], *, now: float | None = None,
                 leeway: float = CLOCK_SKEW_S) -> Identity:
    """A JWT → the identity it proves; raises ``AuthFailed`` saying why it was refused.

    As Convex routes a token: to the providers whose issuer is the token's ``iss`` and whose
    application ID (if any) is in its ``aud``; none is ``NoAuthProvider``."""
    token = token.strip() if isinstance(token, str) else ""
    header, unverified = unverified_parts(token)
    iss = unverified.get("iss")
    if not isinstance(iss, str) or not iss:
        raise AuthFailed("Missing issuer claim ('iss') in JWT payload. The JWT must include an 'iss' claim that "
                         "matches one of your configured auth providers.", "InvalidAuthHeader")
    aud = unverified.get("aud")
    audiences = [aud] if isinstance(aud, str) else [a for a in aud if isinstance(a, str)] if isinstance(aud, list) \
        else []
    candidates = [p for p in providers if p.accepts(iss, audiences)]
    if not candidates:
        raise no_provider(providers)
    now = time.time() if now is None else now
    first_error: AuthFailed | None = None
    for provider in candidates:
        try:
            if provider.error is not None:
                raise AuthFailed(f"the {provider.describe()} in functions/auth_config.py cannot be used: "
                                 f"{provider.error}")
            claims = await _verify_with(token, header, provider, now, leeway)
        except AuthFailed as err:
            err.code = "Unauthenticated" if provider.kind == "oidc" else "InvalidAuthHeader"  # as Convex's codes
            first_error = first_error or err
            continue
        identity_claims = {k: _as_convex(v) for k, v in claims.items() if k not in TOKEN_CLAIMS}
        sid, iat = claims.get("sid"), claims.get("iat")
        return Identity(subject=claims["sub"], issuer=claims["iss"], claims=identity_claims,
                        expires_at=float(claims["exp"]), session_id=sid if isinstance(sid, str) else None,
                        issued_at=float(iat) if iat is not None else None)  # a number: checked above
    assert first_error is not None
    raise first_error
