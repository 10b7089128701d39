"""The built-in password provider over HTTP, against a real server."""

from __future__ import annotations

import httpx
import pytest
from convex import ConvexClient
from joserfc import jwk, jwt

from tests.auth.conftest import call, new_email, sign_up
from tests.e2e.conftest import RunningServer
from tests.helpers.server import APPS

APP = APPS / "authapp"


def _post(url: str, route: str, body: dict, **kw) -> httpx.Response:
    return httpx.post(f"{url}/api/auth/{route}", json=body, **kw)


def test_sign_up_sign_in_call_refresh_sign_out(auth_server):
    url = auth_server.url
    email = new_email()
    created = sign_up(url, email=email.upper(), name="Sam")  # emails are case-insensitive
    assert created["user"]["email"] == email and created["refreshToken"] and created["expiresAt"] > 0
    again = _post(url, "signup", {"email": email, "password": "another password"})
    assert again.status_code == 409 and again.json()["code"] == "AccountExists"

    signed_in = _post(url, "signin", {"email": email, "password": "correct horse battery"})
    assert signed_in.status_code == 200, signed_in.text
    session = signed_in.json()
    assert session["tokenIdentifier"] == created["tokenIdentifier"]

    # Call functions as that user, over the websocket client.
    client = ConvexClient(url)
    client.set_auth(session["token"])
    client.mutation("users:add_note", {"body": "hello"})
    assert client.query("users:my_notes") == ["hello"]
    assert client.query("users:whoami")["name"] == "Sam"

    # Refresh rotates the refresh token; the spent one is refused and revokes the session.
    refreshed = _post(url, "refresh", {"refreshToken": session["refreshToken"]})
    assert refreshed.status_code == 200, refreshed.text
    fresh = refreshed.json()
    assert fresh["refreshToken"] != session["refreshToken"]
    assert call(url, "users:whoami", token=fresh["token"]).json()["value"]["email"] == email
    second = _post(url, "refresh", {"refreshToken": fresh["refreshToken"]})
    assert second.status_code == 200
    reused = _post(url, "refresh", {"refreshToken": fresh["refreshToken"]})
    assert reused.status_code == 401 and "already used" in reused.json()["message"]
    # ... and that revoked the whole session, including the newest refresh token.
    latest = _post(url, "refresh", {"refreshToken": second.json()["refreshToken"]})
    assert latest.status_code == 401 and "session has ended" in latest.json()["message"]

    # Sign-out ends a session at once: its access token no longer verifies.
    other = _post(url, "signin", {"email": email, "password": "correct horse battery"}).json()
    assert call(url, "users:whoami", token=other["token"]).status_code == 200
    out = _post(url, "signout", {"refreshToken": other["refreshToken"]})
    assert out.status_code == 200 and out.json() == {"signedOut": True}
    refused = call(url, "users:whoami", token=other["token"])
    assert refused.status_code == 401 and "signed out" in refused.json()["message"]
    assert _post(url, "refresh", {"refreshToken": other["refreshToken"]}).status_code == 401
    # Sign-out with the access token works too.
    third = _post(url, "signin", {"email": email, "password": "correct horse battery"}).json()
    out = _post(url, "signout", {}, headers={"Authorization": f"Bearer {third['token']}"})
    assert out.json() == {"signedOut": True}
    assert call(url, "users:whoami", token=third["token"]).status_code == 401


def test_delete_account_removes_the_sign_in_itself(auth_server):
    url = auth_server.url
    email, other_email = new_email(), new_email()
    mine = sign_up(url, email=email)
    second_session = _post(url, "signin", {"email": email, "password": "correct horse battery"}).json()
    theirs = sign_up(url, email=other_email)

    refused = _post(url, "delete-account", {})
    assert refused.status_code == 401 and refused.json()["code"] == "InvalidToken"
    forged = _post(url, "delete-account", {}, headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 401

    done = _post(url, "delete-account", {}, headers={"Authorization": f"Bearer {mine['token']}"})
    assert done.status_code == 200 and done.json() == {"deleted": True}
    # Every session went with the account: tokens, refresh tokens and the password no longer work.
    for token in (mine["token"], second_session["token"]):
        assert call(url, "users:whoami", token=token).status_code == 401
    assert _post(url, "refresh", {"refreshToken": second_session["refreshToken"]}).status_code == 401
    gone = _post(url, "signin", {"email": email, "password": "correct horse battery"})
    assert gone.status_code == 401 and gone.json()["code"] == "InvalidCredentials"
    again = _post(url, "delete-account", {}, headers={"Authorization": f"Bearer {mine['token']}"})
    assert again.status_code == 401
    # Only the token's own account: the other shopper is untouched, and the email is free again.
    assert call(url, "users:whoami", token=theirs["token"]).json()["value"]["email"] == other_email
    assert sign_up(url, email=email)["tokenIdentifier"] != mine["tokenIdentifier"]


def test_wrong_password_and_locked_account(auth_server):
    url = auth_server.url
    email = new_email()
    sign_up(url, email=email)
    first = _post(url, "signin", {"email": email, "password": "not my password"})
    assert first.status_code == 401
    assert first.json() == {"code": "InvalidCredentials",
                            "message": "wrong email or password (2 attempts left before the account is locked)"}
    assert _post(url, "signin", {"email": email, "password": "still wrong"}).status_code == 401
    third = _post(url, "signin", {"email": email, "password": "wrong again"})
    assert third.status_code == 429 and third.json()["code"] == "AccountLocked"
    assert "locked for 60 seconds" in third.json()["message"] and third.headers["Retry-After"]
    # Locked: even the right password is refused, saying so.
    right = _post(url, "signin", {"email": email, "password": "correct horse battery"})
    assert right.status_code == 429 and right.json()["code"] == "AccountLocked"
    assert "this account is locked after too many failed sign-in attempts" in right.json()["message"]
    # An unknown email is refused exactly like a wrong password.
    unknown = _post(url, "signin", {"email": new_email(), "password": "whatever123"})
    assert unknown.status_code == 401 and unknown.json()["code"] == "InvalidCredentials"


def test_input_checks_methods_and_origins(auth_server):
    url = auth_server.url
    weak = _post(url, "signup", {"email": new_email(), "password": "short"})
    assert weak.status_code == 400 and weak.json()["code"] == "WeakPassword"
    assert _post(url, "signup", {"email": "not-an-email", "password": "long enough pw"}).json()["code"] == "InvalidEmail"
    # POST only.
    got = httpx.get(url + "/api/auth/signin")
    assert got.status_code == 405 and got.headers["Allow"] == "POST, OPTIONS"
    # JSON only (a cross-site HTML form cannot send it).
    form = httpx.post(url + "/api/auth/signin", data={"email": "a@b.co", "password": "x"})
    assert form.status_code == 415
    # Cross-origin calls only from configured origins (PREFMEM_AUTH_CORS_ORIGINS).
    evil = _post(url, "signin", {"email": "a@b.co", "password": "xxxxxxxx"}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and evil.json()["code"] == "OriginNotAllowed"
    preflight = httpx.options(url + "/api/auth/signup", headers={"Origin": "http://allowed.example",
                                                                 "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://allowed.example"
    allowed = _post(url, "signup", {"email": new_email(), "password": "long enough pw"},
                    headers={"Origin": "http://allowed.example"})
    assert allowed.status_code == 200 and allowed.headers["Access-Control-Allow-Origin"] == "http://allowed.example"


def test_tokens_verify_against_the_served_jwks(auth_server):
    user = sign_up(auth_server.url)
    jwks = httpx.get(auth_server.url + "/.well-known/jwks.json").json()
    assert all("d" not in key for key in jwks["keys"])  # public halves only
    token = jwt.decode(user["token"], jwk.KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert token.claims["iss"] == "prefmem-password" and token.claims["aud"] == "authapp"
    assert token.claims["sub"] == user["user"]["id"]


def test_no_clear_password_in_the_database_file_or_output(tmp_path):
    server = RunningServer("authapp", tmp_path / "data.sqlite3").start()
    try:
        password = "Zq9-very-unusual-passphrase-4471"
        email = new_email()
        sign_up(server.url, email=email, password=password)
        assert _post(server.url, "signin", {"email": email, "password": password}).status_code == 200
        assert _post(server.url, "signin", {"email": email, "password": password + "x"}).status_code == 401
        db = server.db
        blobs = b"".join(p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name) and p.is_file())
        assert email.encode() in blobs  # the user is stored in that file...
        assert password.encode() not in blobs and password[:-1].encode() not in blobs  # ...its password is not
        assert b"$argon2id$" in blobs
    finally:
        server.stop()
    output = server.output().encode()
    assert password.encode() not in output  # nor in the server's output


async def test_a_lockout_survives_a_restart(tmp_path):
    """A restart must not hand a locked account fresh attempts (the counts before it may reset)."""
    from prefmem.auth.password import Options, PasswordAuth, PasswordAuthError
    from prefmem.testing import TestBackend

    db = tmp_path / "data.sqlite3"
    options = Options(max_failed_sign_ins=2, lockout_s=600.0)
    key = jwk.ECKey.generate_key("P-256", auto_kid=True)
    async with TestBackend(APP / "functions", APP / "schema.py", db=db) as backend:
        first = PasswordAuth(backend.app, key, options)
        await first.sign_up({"email": "lock@example.com", "password": "correct horse battery"}, "127.0.0.1")
        for _ in range(2):
            try:
                await first.sign_in({"email": "lock@example.com", "password": "wrong guess!"}, "127.0.0.1")
            except PasswordAuthError as err:
                last = err
        assert last.code == "AccountLocked"

    async with TestBackend(APP / "functions", APP / "schema.py", db=db) as backend:
        restarted = PasswordAuth(backend.app, key, options)
        try:
            await restarted.sign_in({"email": "lock@example.com", "password": "correct horse battery"}, "127.0.0.1")
        except PasswordAuthError as err:
            assert err.code == "AccountLocked" and 500 < err.retry_after <= 600
        else:
            raise AssertionError("the restarted server let a locked account sign in")
        # Another account is not affected.
        await restarted.sign_up({"email": "free@example.com", "password": "correct horse battery"}, "127.0.0.1")


async def test_sign_out_takes_only_the_password_providers_access_tokens(tmp_path):
    """A verified token of another provider (an OIDC one puts its own session id in ``sid``)
    names no session of this provider: it signs nothing out."""
    from prefmem.auth.identity import Identity
    from prefmem.auth.password import Options, PasswordAuth, PasswordAuthError
    from prefmem.auth.providers import unverified_parts
    from prefmem.testing import TestBackend

    key = jwk.ECKey.generate_key("P-256", auto_kid=True)
    async with TestBackend(APP / "functions", APP / "schema.py", db=tmp_path / "data.sqlite3") as backend:
        auth = PasswordAuth(backend.app, key, Options())
        mine = await auth.sign_up({"email": "out@example.com", "password": "correct horse battery"}, "127.0.0.1")
        claims = unverified_parts(mine["token"])[1]
        session_id, user_id = claims["sid"], claims["sub"]

        async def verify_as_another_provider(token: str) -> Identity:
            return Identity(subject=user_id, issuer="https://accounts.example", session_id=session_id)

        try:
            await auth.sign_out({}, "a token of accounts.example", verify_as_another_provider)
        except PasswordAuthError as err:
            assert (err.status, err.code) == (401, "InvalidToken")
        else:
            raise AssertionError("another provider's token signed a password session out")
        assert await auth.store.session_active(session_id, user_id)

        async def verify_as_this_provider(token: str) -> Identity:
            return Identity(subject=user_id, issuer=Options().issuer, session_id=session_id)

        assert await auth.sign_out({}, mine["token"], verify_as_this_provider) == {"signedOut": True}
        assert not await auth.store.session_active(session_id, user_id)


async def test_failed_attempts_are_counted_in_the_database_and_expire(tmp_path):
    """Three failures within 60 s lock a key for 30 s; a locked key's attempts are not
    counted; the window forgets old failures; each failure deletes expired records."""
    from prefmem.auth.accounts import ATTEMPTS, AuthStore
    from prefmem.functions import system_function
    from prefmem.testing import TestBackend

    @system_function("query", "auth:records")
    async def records(ctx, args):
        return len(await ctx.db.system.query(ATTEMPTS).collect())

    async with TestBackend(APP / "functions", APP / "schema.py", db=tmp_path / "data.sqlite3") as backend:
        store = AuthStore(backend.app)

        async def fail(key: str, now: float) -> tuple[float, int, bool]:
            return await store.failed_attempt("account", key, now, 3, 60.0, 30.0)

        assert await fail("a", 0.0) == (0.0, 2, True)
        assert await fail("a", 1.0) == (0.0, 1, True)
        assert await fail("a", 2.0) == (30.0, 0, True)
        assert await store.locked_for([("account", "a"), ("account", "b"), ("address", "a")], 10.0) == [22.0, 0, 0]
        assert await fail("a", 10.0) == (22.0, 0, False)  # locked: not counted, the lockout does not grow
        assert await store.locked_for([("account", "a")], 32.0) == [0]
        assert await fail("a", 40.0) == (0.0, 2, True)  # a new count after the lockout
        await store.clear_attempts("account", "a")  # a success
        assert await fail("a", 41.0) == (0.0, 2, True)
        assert await fail("b", 100.0) == (0.0, 2, True)
        assert await fail("b", 200.0) == (0.0, 2, True)  # the failure at 100 s is out of the window
        for n in range(12):
            await fail(f"old{n}", 300.0)  # the first of them deleted the expired records of a and b
        assert (await backend.app.run(records, {}, None)).unwrap() == 12
        await fail("new", 1000.0)  # all twelve have expired: eight go with each failure
        assert (await backend.app.run(records, {}, None)).unwrap() == 12 - 8 + 1


@pytest.fixture
def two_workers(database):
    server = RunningServer(APP, database, extra=["--workers", "2"]).start()
    yield server
    server.stop()


def test_two_workers_allow_the_attempts_one_would(two_workers):
    """A lockout counts every worker's failures: authapp allows 3, whichever worker each
    attempt reaches (a connection each), and then no worker lets the account in."""
    url = two_workers.url
    email = new_email()
    sign_up(url, email=email)
    statuses = [_post(url, "signin", {"email": email, "password": f"wrong guess {n}"}).status_code for n in range(3)]
    assert statuses == [401, 401, 429]
    for _ in range(6):
        right = _post(url, "signin", {"email": email, "password": "correct horse battery"})
        assert right.status_code == 429 and right.json()["code"] == "AccountLocked"
