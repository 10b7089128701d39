"""The signed purchase webhook over real HTTP (a `prefmem dev` process serving the repo app).

Bad signature, stale timestamp and replayed event are rejected; a valid event logs
exactly one purchase. Also checks that product images are served from file storage.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from prefmem.testing import TestBackend

from functions._lib import webhook

from tests.helpers.rawhttp import post_head, raw_request
from tests.helpers.server import RunningServer

from .appbackend import FUNCTIONS, ROOT, SCHEMA

SECRET = "whsec_test_" + uuid.uuid4().hex



@pytest.fixture
async def app(tmp_path):
    db = tmp_path / "data.sqlite3"
    async with TestBackend(FUNCTIONS, SCHEMA, db=db) as b:
        await b.run("catalog:seed_if_empty", {"count": 30})
        user_id = await b.as_user("alice").mutation("users:store")
        product = b.table("products")[0]
    server = RunningServer(ROOT, db, env={"PREFMEM_WEBHOOK_SECRET": SECRET}).start()
    try:
        yield server, user_id, product
    finally:
        server.stop()


def post(server, body: bytes, header: str | None):
    headers = {"content-type": "application/json"}
    if header is not None:
        headers[webhook.HEADER] = header
    return httpx.post(server.url + "/webhooks/purchase", content=body, headers=headers, timeout=10)


async def stored(db):
    async with TestBackend(FUNCTIONS, SCHEMA, db=db) as b:
        return b.table("signals"), b.table("saved_items"), b.table("webhook_events")


async def test_webhook_rejects_forgeries_and_replays_and_logs_one_purchase(app):
    server, user_id, product = app
    event = {"id": "evt_" + uuid.uuid4().hex, "type": "purchase", "userId": user_id, "productId": product["_id"],
             "size": product["sizes"][0], "orderId": "order-1"}
    body = json.dumps(event).encode()

    assert post(server, body, None).status_code == 401
    r = post(server, body, webhook.sign("wrong-secret", body))
    assert r.status_code == 401 and "signature" in r.json()["error"]
    tampered = body.replace(b"order-1", b"order-2")
    assert post(server, tampered, webhook.sign(SECRET, body)).status_code == 401
    r = post(server, body, webhook.sign(SECRET, body, int(time.time()) - 600))  # stale
    assert r.status_code == 401 and "window" in r.json()["error"]
    r = post(server, body, webhook.sign(SECRET, body, int(time.time()) + 600))  # from the future
    assert r.status_code == 401

    r = post(server, body, webhook.sign(SECRET, body))
    assert r.status_code == 200 and r.json()["status"] == "logged", r.text
    # the same event again (a replay, or the sender retrying): rejected, nothing logged
    r = post(server, body, webhook.sign(SECRET, body))
    assert r.status_code == 409 and r.json()["status"] == "duplicate", r.text

    other = json.dumps({**event, "id": "evt_other", "userId": "nobody"}).encode()
    assert post(server, other, webhook.sign(SECRET, other)).status_code == 404
    assert post(server, b"not json", webhook.sign(SECRET, b"not json")).status_code == 400

    server.stop()
    signals, saved, events = await stored(server.db)
    assert [(s["type"], s["userId"], s["productId"], s.get("source")) for s in signals] == \
        [("purchase", user_id, product["_id"], "webhook")]
    assert signals[0]["orderId"] == "order-1" and signals[0]["size"] == product["sizes"][0]
    assert [(i["kind"], i["productId"]) for i in saved] == [("purchased", product["_id"])]
    assert [e["eventId"] for e in events] == [event["id"]]


async def test_webhook_refuses_what_it_cannot_take_whole(app):
    server, user_id, product = app
    event = {"type": "purchase", "userId": user_id, "productId": product["_id"]}
    # Two ids that share their first 200 characters are two events: both refused, not cut
    # to one id (which made the second a "duplicate" of the first).
    for suffix in ("a", "b"):
        body = json.dumps({**event, "id": "evt_" + "x" * 200 + suffix}).encode()
        r = post(server, body, webhook.sign(SECRET, body))
        assert r.status_code == 400 and "longer than 200" in r.json()["error"], r.text
    body = json.dumps({**event, "id": "evt_ok", "orderId": "o" * 201}).encode()
    assert post(server, body, webhook.sign(SECRET, body)).status_code == 400
    # A non-ASCII byte in the signature: 401, not a 500.
    body = json.dumps({**event, "id": "evt_sig"}).encode()
    header = webhook.sign(SECRET, body)
    r = httpx.post(server.url + "/webhooks/purchase", content=body, timeout=10,
                   headers={"content-type": "application/json", webhook.HEADER: (header[:-1] + "\u00e9").encode("latin-1")})
    assert r.status_code == 401, r.text
    # JSON nested 5,000 deep, correctly signed: 400, not a 500.
    deep = b'{"id": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert post(server, deep, webhook.sign(SECRET, deep)).status_code == 400
    # A body declared past 64 KiB: 413 at once, without waiting for the bytes announced.
    status, answer = raw_request(server.port, post_head("/webhooks/purchase", 600 * 1024 * 1024,
                                                        extra={webhook.HEADER: "t=1,v1=00"}), [b" " * 65536])
    assert status == 413, answer
    server.stop()
    _signals, _saved, events = await stored(server.db)
    assert events == []


async def test_product_images_are_served_from_file_storage(app):
    server, _, product = app
    r = httpx.get(f"{server.url}/api/storage/{product['imageId']}", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert r.content.startswith(b"<svg")


async def test_webhook_disabled_without_secret(tmp_path):
    db = tmp_path / "data.sqlite3"
    server = RunningServer(ROOT, db, env={"PREFMEM_WEBHOOK_SECRET": ""}).start()
    try:
        assert post(server, b"{}", webhook.sign("x", b"{}")).status_code == 503
    finally:
        server.stop()


def test_verify_unit():
    body = b'{"id": "e"}'
    now = 1_700_000_000
    header = webhook.sign("s", body, now)
    assert webhook.verify("s", header, body, now + 299) == now
    for bad_header, at in ((header, now + 301), (header.replace("v1=", "v1=0"), now), ("t=1", now), ("garbage", now)):
        with pytest.raises(webhook.WebhookError):
            webhook.verify("s", bad_header, body, at)
    rotated = f"t={now},v1=deadbeef,v1={header.split('v1=')[1]}"
    assert webhook.verify("s", rotated, body, now) == now
