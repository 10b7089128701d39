"""Fixtures for the auth tests: signing keys, a tiny OIDC provider on 127.0.0.1, and a
`prefmem dev` server running tests/apps/authapp with those providers configured."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwk, jwt

from tests.conftest import ENGINES
from tests.e2e.conftest import RunningServer, free_port

JWT_ISSUER = "https://jwt.authapp.test"
APP_ID = "authapp"
OIDC_APP_ID = "authapp-oidc"


def rsa_key(kid: str) -> jwk.RSAKey:
    key = jwk.RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})
    return key


def ec_key(kid: str) -> jwk.ECKey:
    return jwk.ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"})


def jwks_of(*keys: Any) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


def make_token(key: Any, *, iss: str, aud: str | list[str] | None = APP_ID, sub: str = "user-1",
               alg: str = "RS256", kid: str | None = "default", lifetime: float = 600, **claims: Any) -> str:
    now = int(time.time())
    body: dict[str, Any] = {"iss": iss, "sub": sub, "iat": now, "exp": now + int(lifetime)}
    if aud is not None:
        body["aud"] = aud
    body.update(claims)
    header = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid if kid != "default" else key.kid
    return jwt.encode(header, body, key, algorithms=[alg])


def tamper(token: str) -> str:
    """Change the payload (sub) and keep the old signature."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


class OidcProvider:
    """Serves /.well-known/openid-configuration and /jwks on 127.0.0.1; keys can rotate.

    A separate process (``python -m http.server`` over a directory), not a thread: the
    Python convex client blocks while holding the GIL, so a provider thread in the test
    process could not answer the server while a test waits on that client.
    """

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.domain = f"http://127.0.0.1:{self.port}"
        (directory / ".well-known").mkdir(parents=True)
        (directory / ".well-known" / "openid-configuration").write_text(json.dumps(
            {"issuer": self.domain, "jwks_uri": self.domain + "/jwks", "id_token_signing_alg_values_supported": ["ES256"]}))
        self.keys = [ec_key("oidc-1")]
        self.log = directory.parent / "oidc-requests.log"
        self.proc = subprocess.Popen([sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1",
                                      "--directory", str(directory)], stdout=subprocess.DEVNULL,
                                     stderr=self.log.open("wb"))
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(self.domain + "/jwks", timeout=0.5)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the test OIDC provider did not start") from None
                time.sleep(0.05)

    @property
    def keys(self) -> list[jwk.ECKey]:
        return self._keys

    @keys.setter
    def keys(self, keys: list[jwk.ECKey]) -> None:
        self._keys = list(keys)
        tmp = self.dir / "jwks.tmp"
        tmp.write_text(json.dumps(jwks_of(*keys)))
        os.replace(tmp, self.dir / "jwks")  # atomic: a fetch sees the old or the new set

    @property
    def jwks_requests(self) -> int:
        return self.log.read_text(errors="replace").count('"GET /jwks ')

    def token(self, key: jwk.ECKey | None = None, **kw: Any) -> str:
        kw.setdefault("aud", OIDC_APP_ID)
        return make_token(key or self.keys[0], iss=self.domain, alg="ES256", **kw)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


@pytest.fixture(scope="session")
def jwt_key() -> jwk.RSAKey:
    return rsa_key("custom-1")


@pytest.fixture(scope="session")
def oidc(tmp_path_factory):
    provider = OidcProvider(tmp_path_factory.mktemp("oidc") / "site")
    yield provider
    provider.close()


@pytest.fixture(scope="session", params=ENGINES)
def auth_server(request, tmp_path_factory, jwt_key, oidc):
    """One authapp server per engine for the session: password + customJwt (data: URI JWKS)
    + OIDC, on a SQLite file or on a PostgreSQL database (``--engine`` picks)."""
    if request.param not in (request.config.getoption("engine") or ENGINES):
        pytest.skip(f"--engine leaves {request.param} out")
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        db: Any = cluster.url(cluster.create_database("auth"))
    else:
        db = tmp_path_factory.mktemp("authdata") / "data.sqlite3"
    data_uri = "data:application/json;base64," + base64.b64encode(json.dumps(jwks_of(jwt_key)).encode()).decode()
    env = {"AUTHAPP_JWT_ISSUER": JWT_ISSUER, "AUTHAPP_JWT_JWKS": data_uri, "AUTHAPP_OIDC_DOMAIN": oidc.domain,
           "PREFMEM_JWKS_MIN_REFETCH_S": "0.3", "PREFMEM_AUTH_CORS_ORIGINS": "http://allowed.example"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        server = RunningServer("authapp", db).start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    yield server
    server.stop()


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


def sign_up(url: str, email: str | None = None, password: str = "correct horse battery", **extra: Any) -> dict:
    response = httpx.post(url + "/api/auth/signup", json={"email": email or new_email(), "password": password,
                                                         **extra})
    assert response.status_code == 200, response.text
    return response.json()


def call(url: str, path: str, args: dict | None = None, token: str | None = None, kind: str = "query",
         authorization: str | None = None) -> httpx.Response:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if authorization is not None:
        headers["Authorization"] = authorization
    return httpx.post(f"{url}/api/{kind}", json={"path": path, "args": [args or {}], "format": "convex_encoded_json"},
                      headers=headers)
