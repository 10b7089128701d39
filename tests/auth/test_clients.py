"""Identity through the real clients, the raw protocol, the HTTP API and HTTP actions."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
import websockets
from convex import ConvexClient

from tests.auth.conftest import JWT_ISSUER, call, make_token, sign_up, tamper

JS_DIR = Path(__file__).resolve().parent.parent / "js"


def _next(updates, timeout: float = 10.0):
    """The next value of a Python-client subscription, or fail instead of hanging."""
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("v", next(updates)), daemon=True)
    thread.start()
    thread.join(timeout)
    assert "v" in box, "no update within the timeout"
    return box["v"]


def test_python_client_set_auth_reruns_subscribed_query_and_clear_auth_drops_it(auth_server):
    user = sign_up(auth_server.url, name="Pat")
    client = ConvexClient(auth_server.url)
    updates = iter(client.subscribe("users:whoami", {}))
    assert _next(updates) is None  # subscribed before sign-in
    client.set_auth(user["token"])
    me = _next(updates)
    assert me["tokenIdentifier"] == user["tokenIdentifier"] == f"prefmem-password|{user['user']['id']}"
    assert (me["subject"], me["issuer"], me["email"], me["name"]) == (user["user"]["id"], "prefmem-password",
                                                                      user["user"]["email"], "Pat")
    assert client.query("users:whoami")["subject"] == user["user"]["id"]
    client.clear_auth()
    assert _next(updates) is None
    assert client.query("users:whoami") is None


def test_python_client_custom_jwt_and_calls_as_that_user(auth_server, jwt_key):
    token = make_token(jwt_key, iss=JWT_ISSUER, sub="carol", email="carol@example.com")
    client = ConvexClient(auth_server.url)
    client.set_auth(token)
    me = client.query("users:whoami")
    assert me["tokenIdentifier"] == f"{JWT_ISSUER}|carol" and me["email"] == "carol@example.com"
    client.mutation("users:add_note", {"body": "from carol"})
    assert client.query("users:my_notes") == ["from carol"]


def test_python_client_goes_on_without_identity_once_a_refused_token_is_cleared(auth_server, jwt_key):
    client = ConvexClient(auth_server.url)
    # Refused: every socket that sends it gets an AuthError and ends (the client reconnects and
    # sends it again, as against Convex) until the caller clears it.
    client.set_auth(make_token(jwt_key, iss=JWT_ISSUER, lifetime=-3600))
    client.clear_auth()
    assert client.query("users:whoami") is None
    client.set_auth(make_token(jwt_key, iss=JWT_ISSUER, sub="erin"))
    assert client.query("users:whoami")["subject"] == "erin"


async def _recv_type(ws, kind: str) -> dict:
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if msg["type"] == kind:
            return msg


async def _watch_whoami(ws, session_id: str) -> dict:
    """Connect a raw socket and subscribe to users:whoami; the first Transition."""
    await ws.send(json.dumps({"type": "Connect", "sessionId": session_id, "connectionCount": 0,
                              "lastCloseReason": "InitialConnect", "clientTs": 0}))
    await ws.send(json.dumps({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
        {"type": "Add", "queryId": 0, "udfPath": "users:whoami", "args": [{}]}]}))
    return await _recv_type(ws, "Transition")


NO_PROVIDER = ("No auth provider found matching the given token. Check that your JWT's issuer and audience match one "
               "of your configured providers: [")


async def test_a_bad_token_gets_an_auth_error_as_the_sockets_last_message(auth_server, jwt_key):
    bad = {
        "expired": (make_token(jwt_key, iss=JWT_ISSUER, lifetime=-3600), "expired"),
        "tampered": (tamper(make_token(jwt_key, iss=JWT_ISSUER)), "signature does not verify"),
        "wrong issuer": (make_token(jwt_key, iss="https://evil.example"), NO_PROVIDER),
        "wrong audience": (make_token(jwt_key, iss=JWT_ISSUER, aud="other"), NO_PROVIDER),
        "broken provider": (make_token(jwt_key, iss="https://broken.authapp.test"), "cannot be read"),
        "not a JWT": ("nope", "Could not parse JWT payload."),
    }
    url = auth_server.url.replace("http", "ws") + "/api/sync"
    for name, (token, needle) in bad.items():
        async with websockets.connect(url) as ws:
            assert (await _watch_whoami(ws, "s"))["modifications"][0]["value"] is None
            await ws.send(json.dumps({"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": token}))
            error = await _recv_type(ws, "AuthError")
            assert error["authUpdateAttempted"] is True and error["baseVersion"] == 0, name
            assert needle in error["error"], (name, error["error"])
            # As Convex does: the socket ends, so the client's identity version and the
            # server's start again together on the next one.
            with pytest.raises(websockets.ConnectionClosedOK):
                await asyncio.wait_for(ws.recv(), 10)


async def test_a_token_that_expires_on_an_open_socket_stops_being_the_identity(auth_server, jwt_key):
    # Expired 3 s ago: still inside the verifier's 5 s clock leeway, so it expires in ~2 s.
    token = make_token(jwt_key, iss=JWT_ISSUER, sub="expiring", lifetime=-3)
    url = auth_server.url.replace("http", "ws") + "/api/sync"
    async with websockets.connect(url) as ws:
        await _watch_whoami(ws, "exp")
        await ws.send(json.dumps({"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": token}))
        signed_in = await _recv_type(ws, "Transition")
        assert signed_in["endVersion"]["identity"] == 1
        assert signed_in["modifications"][0]["value"]["subject"] == "expiring"
        # At expiry: an AuthError the client did not ask for, the socket's last message.
        expired = await _recv_type(ws, "AuthError")
        assert expired["authUpdateAttempted"] is False and expired["baseVersion"] == 1
        assert "expired" in expired["error"]
        with pytest.raises(websockets.ConnectionClosedOK):
            await asyncio.wait_for(ws.recv(), 10)
    # A new socket with a fresh token is that user again.
    async with websockets.connect(url) as ws:
        await _watch_whoami(ws, "exp")
        fresh = make_token(jwt_key, iss=JWT_ISSUER, sub="expiring")
        await ws.send(json.dumps({"type": "Authenticate", "baseVersion": 0, "tokenType": "User", "value": fresh}))
        again = await _recv_type(ws, "Transition")
        assert again["endVersion"]["identity"] == 1
        assert again["modifications"][0]["value"]["subject"] == "expiring"


def test_http_api_bearer_admin_and_http_actions(auth_server, jwt_key):
    url = auth_server.url
    token = make_token(jwt_key, iss=JWT_ISSUER, sub="dave")
    assert call(url, "users:whoami", token=token).json()["value"]["subject"] == "dave"
    assert call(url, "users:whoami").json()["value"] is None
    refused = call(url, "users:whoami", token=make_token(jwt_key, iss=JWT_ISSUER, lifetime=-3600))
    assert refused.status_code == 401 and "expired" in refused.json()["message"]
    assert refused.json()["code"] == "InvalidAuthHeader"
    # Convex's codes and words: a token no provider takes, a header that is no Bearer token.
    unknown = call(url, "users:whoami", token=make_token(jwt_key, iss="https://evil.example"))
    assert unknown.status_code == 401 and unknown.json()["code"] == "NoAuthProvider"
    assert unknown.json()["message"].startswith(NO_PROVIDER)
    assert f"CustomJWT(issuer={JWT_ISSUER}, app_id=authapp)" in unknown.json()["message"]
    malformed = call(url, "users:whoami", authorization="Token abc")
    assert (malformed.status_code, malformed.json()) == (401, {"code": "InvalidAuthHeader",
                                                               "message": "Header must begin with `bearer `"})
    # HTTP actions: valid auth gives the identity, none gives none; an invalid token makes
    # ctx.auth.get_user_identity() raise, as it does in Convex.
    assert httpx.get(url + "/whoami", headers={"Authorization": f"Bearer {token}"}).json() == {
        "tokenIdentifier": f"{JWT_ISSUER}|dave"}
    assert httpx.get(url + "/whoami").json() == {"tokenIdentifier": None}
    invalid = httpx.get(url + "/whoami", headers={"Authorization": "Bearer nope"})
    assert invalid.status_code == 500
    head, body = invalid.json()["code"].split("\n", 1)
    assert re.fullmatch(r"\[Request ID: [0-9a-f]{16}\] Server Error", head)
    assert body == ("Uncaught Error: Could not parse JWT payload. Check that the token is a valid JWT format with three "
                    "base64-encoded parts separated by dots.")
    assert httpx.get(url + "/public", headers={"Authorization": "Bearer nope"}).json() == {"public": True}
    # The admin key (generated at first start, next to the database) may call internal functions.
    admin_key = auth_server.admin_key()
    assert call(url, "users:note_count").status_code == 560
    ok = call(url, "users:note_count", authorization=f"Convex {admin_key}")
    assert ok.status_code == 200 and ok.json()["status"] == "success"
    assert call(url, "users:note_count", authorization="Convex not-the-key").status_code == 401
    # The admin acting as a user over HTTP, as ConvexHttpClient.setAdminAuth(key, identity) sends it.
    acting = base64.b64encode(json.dumps({"subject": "eve", "issuer": "https://acting.test"}).encode()).decode()
    as_eve = call(url, "users:whoami", authorization=f"Convex {admin_key}:{acting}")
    assert as_eve.json()["value"]["tokenIdentifier"] == "https://acting.test|eve"
    assert httpx.get(url + "/whoami", headers={"Authorization": f"Convex {admin_key}:{acting}"}).json() == {
        "tokenIdentifier": "https://acting.test|eve"}


def test_python_client_admin_auth(auth_server):
    admin_key = auth_server.admin_key()
    client = ConvexClient(auth_server.url)
    client.set_admin_auth(admin_key)
    assert client.query("users:whoami") is None  # admin is not a user
    assert isinstance(client.query("users:note_count"), float)


NPM_SCRIPT = r"""
import { ConvexClient } from "convex/browser";
import WebSocket from "ws";
const [url, good, bad] = process.argv.slice(2);
const client = new ConvexClient(url, { webSocketConstructor: WebSocket });
const seen = [];
const waitFor = (pred, what) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("timed out waiting for " + what + "; seen " + JSON.stringify(seen))), 10000);
  const check = () => { const v = seen.find(pred); if (v !== undefined) { clearTimeout(timer); resolve(v); } else setTimeout(check, 20); };
  check();
});
const out = {};
client.onUpdate("users:whoami", {}, (value) => seen.push(value === null ? "none" : value.tokenIdentifier));
await waitFor((v) => v === "none", "anonymous result");
const changes = [];
client.setAuth(async () => good, (isAuthenticated) => changes.push(isAuthenticated));
out.signedIn = await waitFor((v) => v !== "none", "signed-in result");
out.query = (await client.query("users:whoami", {})).tokenIdentifier;
seen.length = 0;
client.setAuth(async () => bad, (isAuthenticated) => changes.push(isAuthenticated));
await waitFor(() => changes.includes(false), "onChange(false)");
out.afterBad = await client.query("users:whoami", {});
client.setAuth(async () => good, (isAuthenticated) => changes.push(isAuthenticated));
await waitFor((v) => v !== "none", "signed in again");
seen.length = 0;
client.client.clearAuth();  // the BaseConvexClient's clearAuth, as ConvexReactClient.clearAuth calls it
await waitFor((v) => v === "none", "cleared");
out.afterClear = await client.query("users:whoami", {});
out.changes = changes;
console.log(JSON.stringify(out));
await client.close();
process.exit(0);
"""


def test_npm_client_set_auth(auth_server, jwt_key, tmp_path):
    if not (JS_DIR / "node_modules" / "convex").is_dir():
        pytest.skip("npm client not installed (make test installs it)")
    user = sign_up(auth_server.url)
    bad = make_token(jwt_key, iss=JWT_ISSUER, aud="someone-else")
    script = JS_DIR / f"_auth_test_{tmp_path.name}.mjs"  # inside tests/js so `convex` resolves
    script.write_text(NPM_SCRIPT)
    try:
        done = subprocess.run(["node", str(script), auth_server.url, user["token"], bad], capture_output=True,
                              text=True, timeout=40)
    finally:
        script.unlink()
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["signedIn"] == out["query"] == user["tokenIdentifier"]
    assert out["afterBad"] is None and out["afterClear"] is None
    assert out["changes"][0] is True and False in out["changes"]
