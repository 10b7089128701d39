"""An OIDC provider served on 127.0.0.1 (discovery + JWKS): accepted, and its key rotation picked up."""

from __future__ import annotations

import time

from convex import ConvexClient

from tests.auth.conftest import call, ec_key


def test_oidc_token_accepted_and_key_rotation_picked_up(auth_server, oidc):
    url = auth_server.url
    token = oidc.token(sub="olivia", email="olivia@example.com")
    client = ConvexClient(url)
    client.set_auth(token)
    me = client.query("users:whoami")
    assert me["tokenIdentifier"] == f"{oidc.domain}|olivia" and me["email"] == "olivia@example.com"
    assert me["issuer"] == oidc.domain
    fetched = oidc.jwks_requests
    assert call(url, "users:whoami", token=token).json()["value"]["subject"] == "olivia"
    assert oidc.jwks_requests == fetched  # keys are cached

    # Wrong audience for this provider.
    wrong_aud = call(url, "users:whoami", token=oidc.token(aud="authapp"))
    assert wrong_aud.status_code == 401 and "authapp-oidc" in wrong_aud.json()["message"]

    # The provider rotates to a new key (new kid) and drops the old one.
    old_key = oidc.keys[0]
    new_key = ec_key("oidc-2")
    oidc.keys = [new_key]
    try:
        _rotated(url, oidc, old_key, new_key, fetched)
    finally:
        oidc.keys = [old_key]  # the provider is the session's: the other engine's server meets it next


def _rotated(url, oidc, old_key, new_key, fetched) -> None:
    time.sleep(0.35)  # past the refetch rate limit (PREFMEM_JWKS_MIN_REFETCH_S=0.3 in the fixture)
    rotated = call(url, "users:whoami", token=oidc.token(new_key, sub="olivia"))
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["value"]["tokenIdentifier"] == f"{oidc.domain}|olivia"
    assert oidc.jwks_requests == fetched + 1

    # Tokens from a key nobody serves any more are refused, without a fetch storm.
    stale = oidc.token(ec_key("gone"), sub="olivia")
    for _ in range(3):
        refused = call(url, "users:whoami", token=stale)
        assert refused.status_code == 401 and "no key with kid 'gone'" in refused.json()["message"]
    assert oidc.jwks_requests <= fetched + 2
    # The old key's tokens still verify if their kid is back... but it is not: refused.
    assert call(url, "users:whoami", token=oidc.token(old_key)).status_code == 401
