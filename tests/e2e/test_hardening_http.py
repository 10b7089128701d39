"""What a stranger can send over HTTP is bounded before it is held: bodies, uploads, nesting,
paths; stored files never run as active content; the database is private to its owner.

Each test runs a real ``prefmem dev`` on ``tests/apps/hardening`` with small bounds set through
the environment (the same ``PREFMEM_*`` variables a deployment sets), and talks to it with
httpx or with a raw socket where a well-behaved client would not do what an attacker does
(declare a huge body and stop sending, or send one without end).
"""

from __future__ import annotations

import os
import socket
import stat
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers.rawhttp import chunked, post_head, raw_request
from tests.helpers.rawws import RawWebSocket, connect_message
from tests.helpers.server import RunningServer

MiB = 1024 * 1024
BOUNDS = {"PREFMEM_REQUEST_BODY_BYTES": str(1 * MiB), "PREFMEM_UPLOAD_BYTES": str(1 * MiB),
          "PREFMEM_PENDING_UPLOADS": "3", "PREFMEM_STATS": "1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("hardening-http")
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<p>page</p>")
    running = RunningServer("hardening", tmp_path / "data.sqlite3", env=BOUNDS, extra=["--web", str(web)]).start()
    yield running
    running.stop()


def sign_up(server: RunningServer, name: str) -> dict:
    r = httpx.post(f"{server.url}/api/auth/signup", json={"email": f"{name}-{uuid.uuid4().hex[:8]}@example.com",
                                                            "password": "correct horse battery"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


# ---------------------------------------------------------------------------- bodies (item 5)

@pytest.mark.parametrize("path", ["/api/query", "/api/mutation", "/api/action", "/api/function", "/echo-size",
                                  "/api/auth/signin"])
def test_a_body_declared_too_large_is_refused_before_it_is_sent(server, path):
    # 600 MB announced, 64 KiB sent: the answer must come without waiting for the rest.
    status, body = raw_request(server.port, post_head(path, 600 * MiB), [b" " * 65536])
    assert status == 413 and body["code"] == "RequestTooLarge", body
    assert "larger than the limit" in body["message"]


@pytest.mark.parametrize("path", ["/api/query", "/echo-size", "/api/auth/signup"])
def test_a_streamed_body_is_cut_off_at_the_limit_and_memory_stays_flat(server, path):
    before = server.rss_bytes()
    status, body = raw_request(server.port, post_head(path, None), chunked(200 * MiB))
    assert status == 413 and body["code"] == "RequestTooLarge", body
    grown = server.rss_bytes() - before
    assert grown < 50 * MiB, f"the server grew {grown / MiB:.0f} MiB reading a body it refused"
    # The server is fine afterwards.
    assert server.function("query", "notes:whoami", {}).json()["value"] is None


def test_bodies_within_the_limit_still_work(server):
    r = httpx.post(f"{server.url}/echo-size", content=b"x" * (MiB - 10), timeout=30)
    assert r.json() == {"size": MiB - 10}


# ---------------------------------------------------------------------------- bad input (item 8)

def test_deeply_nested_json_gets_a_clear_400_over_http(server):
    deep = "[" * 5000 + "]" * 5000
    for path in ("/api/query", "/api/auth/signin"):
        r = httpx.post(f"{server.url}{path}", content=f'{{"path": "notes:whoami", "args": {deep}}}',
                       headers={"content-type": "application/json"}, timeout=30)
        assert r.status_code == 400, (path, r.status_code, r.text)
    # Deep enough to parse but not to be a Convex value.
    r = httpx.post(f"{server.url}/api/query", content='{"path": "notes:whoami", "args": [{"a": ' + "[" * 990
                   + "]" * 990 + "}]}", headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 400 and "nested too deeply" in r.json()["message"], r.text


def test_deeply_nested_json_gets_a_fatal_error_over_sync(server):
    ws = RawWebSocket(server.url)
    try:
        ws.send_json(connect_message())
        ws.send_frame(0x1, ('{"type": "Mutation", "requestId": 0, "udfPath": "notes:add", "args": ['
                            + "[" * 5000 + "]" * 5000 + "]}").encode())
        message = ws.recv_json()
        assert message["type"] == "FatalError" and "nested too deeply" in message["error"], message
    finally:
        ws.close()


def test_an_over_long_static_path_is_a_404_not_a_500(server):
    for path in ("/" + "a" * 300, "/" + "b" * 255 + "/" + "c" * 300, "/assets/" + "x" * 5000 + ".js"):
        r = httpx.get(server.url + path, timeout=30)
        assert r.status_code == 404, (len(path), r.status_code, r.text[:200])
    assert httpx.get(server.url + "/", timeout=30).text == "<p>page</p>"


# ---------------------------------------------------------------------------- uploads (items 6, 10)

def upload_dir(server: RunningServer) -> Path:
    return server.db.parent / f"{server.db.name}.files"


def test_a_bad_upload_token_is_refused_before_a_byte_reaches_disk(server):
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.settimeout(30)
    try:
        sock.sendall(post_head("/api/storage/upload?token=bogus", 100 * MiB, "image/png").encode())
        sock.sendall(b"\x89PNG" + b"\x00" * MiB)
        answer = b""
        while b"StorageTokenInvalid" not in answer:  # the answer comes while the body is still due
            more = sock.recv(65536)
            if not more:
                break
            answer += more
        assert b" 401 " in answer.split(b"\r\n")[0] and b"StorageTokenInvalid" in answer, answer[:300]
        assert not any(upload_dir(server).glob(".upload-*")), "bytes of a refused upload reached the disk"
    finally:
        sock.close()


def test_uploads_are_capped_in_size(server):
    url = server.function("mutation", "files:upload_url", {}).json()["value"]
    path = urlsplit(url).path + "?" + urlsplit(url).query
    status, body = raw_request(server.port, post_head(path, 2 * MiB, "image/png"), [b"\x00" * 65536])
    assert status == 413 and "PREFMEM_UPLOAD_BYTES" in body["message"], body
    status, body = raw_request(server.port, post_head(path, None, "image/png"), chunked(20 * MiB))
    assert status == 413, body
    assert not any(upload_dir(server).glob(".upload-*")), "the cut-off upload left its bytes behind"
    # The URL is still good for a file within the cap.
    r = httpx.post(url, content=b"\x00" * 1000, headers={"content-type": "image/png"}, timeout=30)
    assert r.status_code == 200 and r.json()["storageId"]


def test_a_user_holds_a_bounded_number_of_pending_upload_urls(server):
    alice = sign_up(server, "alice")
    urls = [server.function("mutation", "files:upload_url", {}, alice["token"]).json()["value"] for _ in range(5)]
    statuses = [httpx.post(u, content=b"data", headers={"content-type": "text/plain"}, timeout=30).status_code
                for u in urls]
    assert statuses == [401, 401, 200, 200, 200], "asking for more than 3 URLs retires the oldest"


def test_an_upload_belongs_to_whoever_asked_for_its_url(server):
    alice, bob = sign_up(server, "alice"), sign_up(server, "bob")
    url = server.function("mutation", "files:upload_url", {}, alice["token"]).json()["value"]
    storage_id = httpx.post(url, content=b"mine", headers={"content-type": "text/plain"}, timeout=30).json()["storageId"]
    for token in (None, bob["token"], alice["token"]):
        owner = server.function("query", "files:uploaded_by", {"storageId": storage_id}, token).json()["value"]
        assert owner == alice["tokenIdentifier"]
    anonymous_url = server.function("mutation", "files:upload_url", {}).json()["value"]
    anonymous = httpx.post(anonymous_url, content=b"x", headers={"content-type": "text/plain"}, timeout=30)
    assert server.function("query", "files:uploaded_by", {"storageId": anonymous.json()["storageId"]}).json()["value"] is None


# ---------------------------------------------------------------------------- serving files (item 1)

@pytest.mark.parametrize("content_type, disposition", [
    ("text/html", "attachment"),
    ("text/html; charset=utf-8", "attachment"),
    ("image/svg+xml", "attachment"),
    ("application/xhtml+xml", "attachment"),
    ("text/xml", "attachment"),
    ("application/javascript", "attachment"),
    ("application/octet-stream", "attachment"),
    ("image/png", "inline"),
    ("image/jpeg", "inline"),
    ("image/webp", "inline"),
    ("application/pdf", "inline"),
    ("text/plain", "inline"),
    ("application/json", "inline"),
])
def test_stored_files_can_never_run_as_active_content(server, content_type, disposition):
    url = server.function("mutation", "files:upload_url", {}).json()["value"]
    body = b"<html><script>alert(document.domain)</script></html>"
    storage_id = httpx.post(url, content=body, headers={"content-type": content_type}, timeout=30).json()["storageId"]
    r = httpx.get(f"{server.url}/api/storage/{storage_id}", timeout=30)
    assert r.status_code == 200 and r.content == body
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"] == disposition
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    if content_type != "application/pdf":
        assert "sandbox" in csp


# ---------------------------------------------------------------------------- files on disk (item 11)

def test_the_database_and_its_wal_are_private_to_their_owner(server):
    assert server.function("mutation", "notes:add", {"body": "x"}).status_code == 200
    for name in (server.db.name, f"{server.db.name}-wal", f"{server.db.name}-shm"):
        mode = stat.S_IMODE(os.stat(server.db.parent / name).st_mode)
        assert mode & 0o077 == 0, f"{name} is {oct(mode)}"
    assert stat.S_IMODE(os.stat(upload_dir(server)).st_mode) & 0o077 == 0
