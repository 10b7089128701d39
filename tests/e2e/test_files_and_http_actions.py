"""File storage and HTTP actions over real HTTP against a running server."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest
from convex import ConvexClient

from tests.e2e.conftest import RunningServer

pytestmark = pytest.mark.engines


@pytest.fixture
def files_server(database):
    server = RunningServer("files", database).start()
    yield server
    server.stop()


def test_upload_round_trip_serves_the_same_bytes_and_type(files_server):
    client = ConvexClient(files_server.url)
    upload_url = client.mutation("files:upload_url", {})
    assert upload_url.startswith(files_server.url)
    payload = bytes(range(256)) * 1000
    reply = httpx.post(upload_url, content=payload, headers={"Content-Type": "image/png"})
    assert reply.status_code == 200, reply.text
    storage_id = reply.json()["storageId"]
    # The URL is single-use: used again, its token is refused as Convex refuses a bad one.
    again = httpx.post(upload_url, content=b"x", headers={"Content-Type": "text/plain"})
    assert (again.status_code, again.json()) == (401, {"code": "StorageTokenInvalid",
                                                       "message": "Couldn't decode the StoreFileAuthorization token"})

    client.mutation("files:save_photo", {"storageId": storage_id, "caption": "bytes"})
    (photo,) = client.query("files:photos", {})
    assert photo["size"] == len(payload) and photo["contentType"] == "image/png"
    served = httpx.get(photo["url"])
    assert served.status_code == 200
    assert served.content == payload and served.headers["content-type"] == "image/png"

    client.mutation("files:delete_file", {"storageId": storage_id})
    assert httpx.get(photo["url"]).status_code == 404
    assert client.query("files:photos", {})[0]["url"] is None


def test_actions_store_and_read_bytes(files_server):
    client = ConvexClient(files_server.url)
    result = client.action("files:store_text", {"text": "héllo"})
    assert result["roundTrip"] == "héllo"
    served = httpx.get(result["url"])
    assert served.text == "héllo" and served.headers["content-type"] == "text/plain"  # as stored: no charset added


def test_vector_search_orders_by_cosine_and_filters(files_server):
    client = ConvexClient(files_server.url)
    a = client.mutation("files:add_doc", {"kind": "x", "embedding": [1.0, 0.0, 0.0]})
    b = client.mutation("files:add_doc", {"kind": "y", "embedding": [0.9, 0.1, 0.0]})
    client.mutation("files:add_doc", {"kind": "x", "embedding": [0.0, 1.0, 0.0]})
    hits = client.action("files:nearest", {"vector": [1.0, 0.0, 0.0]})
    assert [h["_id"] for h in hits] == [a, b]
    assert hits[0]["_score"] == pytest.approx(1.0)
    hits = client.action("files:nearest", {"vector": [1.0, 0.0, 0.0], "kind": "y"})
    assert [h["_id"] for h in hits] == [b]


def test_http_actions_route_exact_before_longest_prefix(files_server):
    url = files_server.url
    reply = httpx.post(url + "/echo", content=b"payload", headers={"x-test": "yes"})
    assert reply.json() == {"method": "POST", "body": "payload", "header": "yes", "identity": None}
    assert httpx.get(url + "/api2/exact").text == "exact"
    assert httpx.get(url + "/api2/other").text == "prefix /api2/other"
    assert httpx.get(url + "/api2/deeper/x").text == "longer /api2/deeper/x"
    assert httpx.head(url + "/api2/exact").status_code == 200
    assert httpx.get(url + "/echo").status_code == 405
    assert httpx.get(url + "/nowhere").status_code == 404
    assert httpx.get(url + "/photos/count").json() == {"photos": 0}


# ----------------------------------------------------------------------------- Convex's storage contract

REQUEST = r"\[Request ID: [0-9a-f]{16}\] Server Error"


def _body(message: str) -> str:
    head, _, body = message.partition("\n")
    assert re.search(REQUEST, head), message
    return body


def test_get_metadata_in_queries_mutations_and_actions(files_server, node_driver):
    payload = b"metadata bytes"
    client = ConvexClient(files_server.url)
    reply = httpx.post(client.mutation("files:upload_url", {}), content=payload, headers={"Content-Type": "text/csv"})
    storage_id = reply.json()["storageId"]
    expected = {"storageId": storage_id, "sha256": hashlib.sha256(payload).hexdigest(), "size": len(payload),
                "contentType": "text/csv"}
    node = node_driver(files_server.url)
    for kind in ("query", "mutation", "action"):
        assert node.call("http", f"files:metadata_in_{kind}", {"storageId": storage_id}, method=kind)["value"] \
            == expected
    client.mutation("files:delete_file", {"storageId": storage_id})
    assert node.call("http", "files:metadata_in_query", {"storageId": storage_id}, method="query")["value"] is None
    for kind in ("query", "mutation", "action"):
        refused = node.call("http", f"files:metadata_in_{kind}", {"storageId": "not-a-storage-id"}, method=kind)
        assert _body(refused["message"]) == 'Uncaught Error: Invalid storage ID: "not-a-storage-id"'


def test_uploads_honour_a_digest_header(files_server):
    client = ConvexClient(files_server.url)
    payload = b"digest me"
    digest = base64.b64encode(hashlib.sha256(payload).digest()).decode()
    url = client.mutation("files:upload_url", {})
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    mismatch = httpx.post(url, content=payload, headers={"Digest": f"sha-256={wrong}"})
    assert (mismatch.status_code, mismatch.json()) == (400, {
        "code": "Sha256Mismatch", "message": f"Sha256 mismatch. Expected: {wrong} Actual: {digest}"})
    bad = httpx.post(url, content=payload, headers={"Digest": "md5=abc"})
    assert bad.status_code == 400 and bad.json()["code"] == "BadHeader"
    # Refused uploads did not use the token up.
    ok = httpx.post(url, content=payload, headers={"Digest": f"sha-256={digest}", "Content-Type": "text/plain"})
    assert ok.status_code == 200
    served = httpx.get(f"{files_server.url}/api/storage/{ok.json()['storageId']}")
    assert served.content == payload and served.headers["digest"] == f"sha-256={digest}"
    unknown = httpx.post(files_server.url + "/api/storage/upload?token=made-up", content=payload)
    assert (unknown.status_code, unknown.json()["code"]) == (401, "StorageTokenInvalid")


def test_store_in_an_action_checks_its_sha256(files_server, node_driver):
    node = node_driver(files_server.url)
    text = "checked"
    hex_digest = hashlib.sha256(text.encode()).hexdigest()
    stored = node.call("action", "files:store_checked", {"text": text, "sha256": hex_digest})
    assert node.call("http", "files:metadata_in_query", {"storageId": stored["value"]}, method="query")["value"][
        "sha256"] == hex_digest
    b64 = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    assert "value" in node.call("action", "files:store_checked", {"text": text, "sha256": b64})
    wrong = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    refused = node.call("http", "files:store_checked", {"text": text, "sha256": wrong}, method="action")
    assert _body(refused["message"]) == f"Uncaught Error: Sha256 mismatch. Expected: {wrong} Actual: {b64}"


def test_serving_exact_types_empty_ranges_and_deleting_what_is_gone(files_server, node_driver):
    client = ConvexClient(files_server.url)
    for content_type, payload in (("text/html", b"<p>x</p>"), ("application/json", b"{}"),
                                  ("text/plain; charset=latin-1", b"caf\xe9"), ("image/svg+xml", b"")):
        sid = httpx.post(client.mutation("files:upload_url", {}), content=payload,
                         headers={"Content-Type": content_type}).json()["storageId"]
        served = httpx.get(f"{files_server.url}/api/storage/{sid}")
        assert served.headers["content-type"] == content_type and served.content == payload
    empty = httpx.get(f"{files_server.url}/api/storage/{sid}", headers={"Range": "bytes=0-0"})
    assert (empty.status_code, empty.content) == (200, b"")  # an empty file has no byte 0 to range over
    node = node_driver(files_server.url)
    gone = node.call("mutation", "files:delete_twice", {"storageId": sid})
    assert _body(gone["message"].split("] ", 1)[1]) == f"Uncaught Error: storage id {sid} not found\n  Called by client"
    # That mutation failed, so the file is still there: an action deletes it, then finds it gone.
    assert node.call("http", "files:delete_in_action", {"storageId": sid}, method="action")["value"] is None
    in_action = node.call("http", "files:delete_in_action", {"storageId": sid}, method="action")
    assert _body(in_action["message"]) == f"Uncaught Error: storage id {sid} not found"
