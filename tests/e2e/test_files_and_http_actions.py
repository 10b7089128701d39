"""File storage and HTTP actions over real HTTP against a running server."""

from __future__ import annotations

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
    # The URL is single-use.
    again = httpx.post(upload_url, content=b"x", headers={"Content-Type": "text/plain"})
    assert again.status_code == 400 and "already used" in again.json()["message"]

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
    assert served.text == "héllo" and served.headers["content-type"].startswith("text/plain")


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
