"""Token verification in-process: every refusal says why; keys are cached, rotated, rate-limited."""

from __future__ import annotations

import base64
import json
import re
import time

import httpx
import pytest

from prefmem.auth import keys
from prefmem.auth.authenticator import Authenticator
from prefmem.auth.jwks import UrlJwks, parse_data_uri
from prefmem.auth.providers import ConfigError, no_provider, parse_providers, verify
from prefmem.errors import AuthFailed
from prefmem.functions import Registry
from tests.auth.conftest import APP_ID, JWT_ISSUER, ec_key, jwks_of, make_token, rsa_key, tamper


def _no_http() -> httpx.AsyncClient:
    raise AssertionError("no HTTP expected")


def _custom(key, *, app_id: str | None = APP_ID, alg: str = "RS256"):
    uri = "data:application/json;base64," + base64.b64encode(json.dumps(jwks_of(key)).encode()).decode()
    entry = {"type": "customJwt", "issuer": JWT_ISSUER, "jwks": uri, "algorithm": alg}
    if app_id is not None:
        entry["applicationID"] = app_id
    return parse_providers([entry], http=_no_http)


@pytest.fixture(scope="module")
def key():
    return rsa_key("k1")


async def test_valid_token_gives_identity_with_standard_claims(key):
    token = make_token(key, iss=JWT_ISSUER, sub="alice", email="a@example.com", name="Alice", email_verified=True,
                       updated_at=1700000000)
    identity = await verify(token, _custom(key))
    assert identity.token_identifier == f"{JWT_ISSUER}|alice"
    assert (identity.subject, identity.issuer, identity.email, identity.name) == ("alice", JWT_ISSUER,
                                                                                  "a@example.com", "Alice")
    assert identity.email_verified is True
    assert identity.updated_at == 1700000000 and type(identity.updated_at) is int  # a number, read back as int
    assert "exp" not in identity.to_dict() and "aud" not in identity.to_dict()


NO_PROVIDER = ("No auth provider found matching the given token. Check that your JWT's issuer and audience match one "
               f"of your configured providers: [CustomJWT(issuer={JWT_ISSUER}, app_id={APP_ID})]")


@pytest.mark.parametrize("case,needle", [
    ("expired", "expired"),
    ("tampered", "signature does not verify"),
    ("wrong_issuer", NO_PROVIDER),
    ("wrong_audience", NO_PROVIDER),  # a token is routed by its issuer and audience, as Convex routes it
    ("not_yet_valid", "not valid before"),
    ("no_exp", "no numeric `exp`"),
    ("unknown_kid", "no key with kid 'other'"),
    ("wrong_key", "signature does not verify"),
    ("garbage", "Could not parse JWT payload. Check that the token is a valid JWT format with three base64-encoded "
                "parts separated by dots."),
    ("no_issuer", "Missing issuer claim ('iss') in JWT payload. The JWT must include an 'iss' claim that matches one "
                  "of your configured auth providers."),
])
async def test_bad_tokens_are_refused_with_the_reason(key, case, needle):
    providers = _custom(key)
    tokens = {
        "expired": make_token(key, iss=JWT_ISSUER, lifetime=-120),
        "tampered": tamper(make_token(key, iss=JWT_ISSUER)),
        "wrong_issuer": make_token(key, iss="https://evil.example"),
        "wrong_audience": make_token(key, iss=JWT_ISSUER, aud="another-app"),
        "not_yet_valid": make_token(key, iss=JWT_ISSUER, nbf=int(time.time()) + 3600),
        "no_exp": make_token(key, iss=JWT_ISSUER, exp=None),
        "unknown_kid": make_token(key, iss=JWT_ISSUER, kid="other"),
        "wrong_key": make_token(rsa_key("k1"), iss=JWT_ISSUER),  # same kid, different key
        "garbage": "definitely-not-a-token",
        "no_issuer": make_token(key, iss=None),
    }
    with pytest.raises(AuthFailed) as info:
        await verify(tokens[case], providers)
    assert needle in str(info.value)
    assert info.value.code == {"wrong_issuer": "NoAuthProvider", "wrong_audience": "NoAuthProvider"}.get(
        case, "InvalidAuthHeader")


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
async def test_clock_skew_is_five_seconds_as_in_convex(key, claim):
    """Checked against a given clock: ``exp`` may be up to 5 s past, ``nbf``/``iat`` 5 s ahead."""
    at = 1_800_000_000
    providers = _custom(key)
    for offset, ok in ((4.9, True), (5.1, False)):
        now = at + offset if claim == "exp" else at - offset
        token = make_token(key, iss=JWT_ISSUER, **{claim: at, **({} if claim == "exp" else {"exp": at + 600})})
        if ok:
            assert (await verify(token, providers, now=now)).subject == "user-1"
        else:
            with pytest.raises(AuthFailed):
                await verify(token, providers, now=now)


async def test_a_token_without_kid_is_refused_when_the_jwks_has_more_keys(key):
    other = rsa_key("k2")
    uri = "data:application/json;base64," + base64.b64encode(json.dumps(jwks_of(key, other)).encode()).decode()
    two = parse_providers([{"type": "customJwt", "issuer": JWT_ISSUER, "jwks": uri, "algorithm": "RS256",
                            "applicationID": APP_ID}], http=_no_http)
    with pytest.raises(AuthFailed, match=r"^Could not decode token\. JWT may be missing a 'kid' \(key ID\) header\.$"):
        await verify(make_token(key, iss=JWT_ISSUER, kid=None), two)
    assert (await verify(make_token(key, iss=JWT_ISSUER, kid="k1"), two)).subject == "user-1"
    assert (await verify(make_token(key, iss=JWT_ISSUER, kid=None), _custom(key))).subject == "user-1"  # one key


async def test_algorithm_must_be_the_configured_one(key):
    es = ec_key("k1")
    token = make_token(es, iss=JWT_ISSUER, alg="ES256")
    with pytest.raises(AuthFailed, match="signed with 'ES256'.*accepts RS256"):
        await verify(token, _custom(key))
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    unsigned = header + "." + make_token(key, iss=JWT_ISSUER).split(".")[1] + "."
    with pytest.raises(AuthFailed, match="'none'"):
        await verify(unsigned, _custom(key))


async def test_audience_is_optional_for_custom_jwt_and_lists_are_accepted(key):
    assert await verify(make_token(key, iss=JWT_ISSUER, aud=None), _custom(key, app_id=None))
    assert await verify(make_token(key, iss=JWT_ISSUER, aud=["x", APP_ID]), _custom(key))
    with pytest.raises(AuthFailed, match="No auth provider found matching the given token"):
        await verify(make_token(key, iss=JWT_ISSUER, aud=None), _custom(key))


def test_config_errors_name_the_entry():
    [broken] = parse_providers([{"domain": "https://x.example"}], http=_no_http)
    assert re.search(r"providers\[0\].*applicationID", broken.error)
    good, broken = parse_providers([{"domain": "https://x.example", "applicationID": "a"},
                                    {"type": "customJwt", "issuer": "i", "jwks": "https://x/jwks", "algorithm": "HS256"}],
                                   http=_no_http)
    assert good.error is None and re.search(r"providers\[1\].*algorithm", broken.error)
    assert "unknown provider type" in parse_providers([{"type": "magic"}], http=_no_http)[0].error
    with pytest.raises(ConfigError, match="must be a list"):
        parse_providers({"domain": "https://x.example"}, http=_no_http)
    assert parse_data_uri("data:application/json,%7B%22keys%22%3A%5B%5D%7D") == {"keys": []}


async def test_one_broken_provider_refuses_only_its_own_tokens(key):
    """A JWKS data URI that cannot be read breaks its entry, not the other providers."""
    other_issuer = "https://other.authapp.test"
    good = json.loads(base64.b64decode(
        _custom_entry(key)["jwks"].split(",", 1)[1]))
    providers = parse_providers([
        {"type": "customJwt", "issuer": other_issuer, "jwks": "data:application/json;base64,!!!not-base64",
         "algorithm": "RS256"},
        {**_custom_entry(key), "jwks": good},
    ], http=_no_http)
    assert "cannot be read" in providers[0].error and providers[1].error is None
    assert (await verify(make_token(key, iss=JWT_ISSUER), providers)).subject == "user-1"
    with pytest.raises(AuthFailed, match="cannot be used: .*cannot be read") as info:
        await verify(make_token(key, iss=other_issuer), providers)
    assert info.value.code == "InvalidAuthHeader"


def test_no_provider_messages_are_convexs():
    assert str(no_provider([])) == ("No auth provider found matching the given token (no providers configured). "
                                    "Check functions/auth_config.py.")
    listed = parse_providers([{"domain": "https://a.example", "applicationID": "app"},
                              {"type": "customJwt", "issuer": "https://b.example", "jwks": "https://b.example/jwks",
                               "algorithm": "ES256"}], http=_no_http)
    assert str(no_provider(listed)).endswith(
        "configured providers: [OIDC(domain=https://a.example, app_id=app), "
        "CustomJWT(issuer=https://b.example, app_id=none)]")


def _custom_entry(key) -> dict:
    uri = "data:application/json;base64," + base64.b64encode(json.dumps(jwks_of(key)).encode()).decode()
    return {"type": "customJwt", "issuer": JWT_ISSUER, "jwks": uri, "algorithm": "RS256", "applicationID": APP_ID}


async def test_unknown_kid_refetches_the_jwks_but_rate_limited():
    old, new = rsa_key("old"), rsa_key("new")
    served = {"keys": [old]}
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json=jwks_of(*served["keys"]))

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    now = [1000.0]
    source = UrlJwks("https://issuer.example/jwks", lambda: client, min_refetch_s=0.2, clock=lambda: now[0])
    providers = parse_providers([{"type": "customJwt", "issuer": JWT_ISSUER, "jwks": "https://issuer.example/jwks",
                                  "algorithm": "RS256"}], http=lambda: client, min_refetch_s=0.2)
    providers[0].keys = source
    assert (await verify(make_token(old, iss=JWT_ISSUER), providers)).subject == "user-1"
    assert len(calls) == 1
    await verify(make_token(old, iss=JWT_ISSUER), providers)
    assert len(calls) == 1  # cached
    # Made-up kids right after a fetch do not hammer the provider.
    for _ in range(5):
        with pytest.raises(AuthFailed, match="no key with kid"):
            await verify(make_token(old, iss=JWT_ISSUER, kid="made-up"), providers)
    assert len(calls) == 1
    # The provider rotates: once the rate limit allows, the new kid is fetched and accepted.
    served["keys"] = [new]
    now[0] += 0.19
    with pytest.raises(AuthFailed, match="no key with kid"):  # still inside the rate limit: no fetch
        await verify(make_token(new, iss=JWT_ISSUER), providers)
    assert len(calls) == 1
    now[0] += 0.02
    assert (await verify(make_token(new, iss=JWT_ISSUER), providers)).subject == "user-1"
    assert len(calls) == 2
    await client.aclose()


def test_admin_and_signing_keys_are_created_once(tmp_path):
    admin = keys.load_or_create_admin_key(tmp_path)
    signing = keys.load_or_create_signing_key(tmp_path)
    assert keys.load_or_create_admin_key(tmp_path) == admin
    assert keys.load_or_create_signing_key(tmp_path).kid == signing.kid
    assert (tmp_path / keys.ADMIN_KEY_FILE).stat().st_mode & 0o077 == 0
    assert (tmp_path / keys.SIGNING_KEY_FILE).stat().st_mode & 0o077 == 0


async def test_authenticator_admin_key_and_headers(tmp_path):
    auth = Authenticator(Registry(), data_dir=tmp_path)
    admin = (tmp_path / keys.ADMIN_KEY_FILE).read_text().strip()
    assert (await auth.principal_for_header(f"Convex {admin}")).admin
    assert (await auth.principal_for_message("Admin", admin)).admin
    acting = await auth.principal_for_message("Admin", admin, {"subject": "u1", "issuer": "iss", "name": "U"})
    assert acting.admin and acting.identity.token_identifier == "iss|u1" and acting.identity.name == "U"
    with pytest.raises(AuthFailed, match="The provided admin key was invalid for this instance") as info:
        await auth.principal_for_header("Convex wrong")
    assert info.value.code == "BadAdminKey"
    # Convex's HTTP form of an admin acting as a user: the identity's JSON, base64, after the key.
    encoded = base64.b64encode(json.dumps({"subject": "u2", "issuer": "iss", "email": "u2@x.test"}).encode()).decode()
    acting = await auth.principal_for_header(f"Convex {admin}:{encoded}")
    assert acting.admin and acting.identity.token_identifier == "iss|u2" and acting.identity.email == "u2@x.test"
    with pytest.raises(AuthFailed, match="base64 of a JSON object"):
        await auth.principal_for_header(f"Convex {admin}:%%%")
    with pytest.raises(AuthFailed, match="^Header must begin with `bearer `$") as info:
        await auth.for_header("Basic dXNlcjpwYXNz")
    assert info.value.code == "InvalidAuthHeader"
    with pytest.raises(AuthFailed, match=r"no providers configured") as info:
        await auth.for_header("Bearer " + make_token(rsa_key("x"), iss=JWT_ISSUER))
    assert info.value.code == "NoAuthProvider"
    assert await auth.for_header(None) is None
    assert await auth.for_message("None", None) is None
    await auth.close()
