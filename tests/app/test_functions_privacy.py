"""privacy:*, saved_items:*, and isolation: shopper B can neither read nor change A's data."""

import json

import pytest

from prefmem import ConvexError
from prefmem.files.context import store_stream

from .appbackend import DAY, backend, products, seeded_template, settle  # noqa: F401 — fixtures
from .test_functions_learning import expected_profile, save_some


async def test_saved_items(backend):
    alice = backend.as_user("alice")
    p, q = backend.table("products")[:2]
    sid = await alice.mutation("saved_items:add", {"productId": p["_id"]})
    assert await alice.mutation("saved_items:add", {"productId": p["_id"]}) == sid  # once per product
    await alice.mutation("interactions:log", {"type": "purchase", "productId": q["_id"]})
    items = await alice.query("saved_items:list", {})
    assert [(i["kind"], i["product"]["_id"]) for i in items] == [("purchased", q["_id"]), ("saved", p["_id"])]
    assert items[0]["product"]["imageUrl"]
    assert [i["kind"] for i in await alice.query("saved_items:list", {"kind": "saved"})] == ["saved"]
    assert [s["type"] for s in backend.table("signals")] == ["save", "save", "purchase"]
    assert await alice.mutation("saved_items:remove", {"productId": p["_id"]}) == 1
    assert [i["kind"] for i in await alice.query("saved_items:list", {})] == ["purchased"]


async def test_shopper_b_cannot_read_or_change_shopper_a(backend):
    alice, bob = backend.as_user("alice"), backend.as_user("bob")
    await bob.mutation("users:store")
    items = products(backend, category="dresses")[:9]
    await save_some(backend, alice, items)
    await alice.mutation("preferences:update", {"style": ["edgy"]})
    saved_id = await alice.mutation("saved_items:add", {"productId": items[0]["_id"]})
    await settle(backend)
    a_profile = await alice.query("preferences:get")
    a_signal = backend.table("signals")[0]
    snapshot = {t: backend.table(t) for t in ("signals", "overrides", "saved_items", "preferences")}

    # reads: Bob sees only his own (empty) data
    b_profile = await bob.query("preferences:get")
    assert all(v == [] for v in b_profile["facets"].values()) and b_profile["budget"] == {}
    assert await bob.query("saved_items:list", {}) == []
    export = await bob.action("privacy:export")
    assert export["signals"] == [] and export["savedItems"] == [] and export["overrides"] == []
    assert (await bob.query("users:me"))["tokenIdentifier"] == "prefmem-test|bob"

    # writes aimed at Alice's rows fail without revealing them, or touch only Bob's rows
    with pytest.raises(ConvexError) as err:
        await bob.mutation("saved_items:remove", {"id": saved_id})
    assert err.value.data["code"] == "NOT_FOUND"
    with pytest.raises(ConvexError) as err:
        await bob.mutation("privacy:forget", {"signalId": a_signal["_id"]})
    assert err.value.data["code"] == "NOT_FOUND"
    assert await bob.mutation("saved_items:remove", {"productId": items[0]["_id"]}) == 0
    assert (await bob.mutation("privacy:forget", {"productId": items[0]["_id"]}))["forgotten"] == 0
    assert (await bob.mutation("privacy:forget", {"from": 0, "to": backend.clock.now_ms() + DAY}))["forgotten"] == 0
    await bob.mutation("preferences:reset_learned")
    await bob.mutation("preferences:set_override", {"facet": "style", "value": "edgy", "action": "clear"})
    await bob.mutation("privacy:delete_account")
    await settle(backend)
    for table, rows in snapshot.items():
        assert backend.table(table) == rows, table
    assert await alice.query("preferences:get") == a_profile


async def test_export_everything_as_one_value(backend):
    alice = backend.as_user("alice")
    await save_some(backend, alice, products(backend, category="shoes")[:4])
    await alice.mutation("preferences:set_override", {"facet": "color", "value": "red", "action": "never"})
    await settle(backend)
    data = await alice.action("privacy:export")
    assert data["user"]["tokenIdentifier"] == "prefmem-test|alice"
    assert len(data["signals"]) == 4 and len(data["overrides"]) == 1 and data["storedProfile"]["userId"]
    assert {v["value"]: v["state"] for v in data["profile"]["facets"]["color"]}["red"] == "never"
    assert {r["state"] for r in data["learningRuns"]} == {"done"}


async def test_forget_gives_the_profile_recomputed_without(backend):
    alice = backend.as_user("alice")
    uid = await alice.mutation("users:store")
    dresses = products(backend, category="dresses")[:8]
    await save_some(backend, alice, dresses)
    gift = products(backend, category="bags")[0]
    for t in ("view", "like", "purchase"):
        await alice.mutation("interactions:log", {"type": t, "productId": gift["_id"]})
    await settle(backend)
    assert "bags" in [v["value"] for v in (await alice.query("preferences:get"))["facets"]["category"]]
    r = await alice.mutation("privacy:forget", {"productId": gift["_id"]})  # "it was a gift"
    assert r == {"forgotten": 3.0}
    await settle(backend)
    prof = await alice.query("preferences:get")
    assert "bags" not in [v["value"] for v in prof["facets"]["category"]]
    assert prof["facets"] == expected_profile(backend, uid)["facets"]
    # one signal
    one = backend.table("signals")[0]
    assert (await alice.mutation("privacy:forget", {"signalId": one["_id"]}))["forgotten"] == 1
    # a date range: everything logged on the first two days
    first = min(s["ts"] for s in backend.table("signals"))
    r = await alice.mutation("privacy:forget", {"from": first, "to": first + 1.5 * DAY})
    assert r["forgotten"] >= 1 and all(s["ts"] > first + 1.5 * DAY for s in backend.table("signals"))
    await settle(backend)
    assert (await alice.query("preferences:get"))["facets"] == expected_profile(backend, uid)["facets"]
    with pytest.raises(ConvexError):
        await alice.mutation("privacy:forget", {"signalId": one["_id"], "productId": gift["_id"]})


async def test_delete_account_removes_every_row_and_file(backend):
    alice, bob = backend.as_user("alice"), backend.as_user("bob")
    pid = backend.table("products")[0]["_id"]
    await bob.mutation("interactions:log", {"type": "like", "productId": pid})
    await alice.mutation("saved_items:add", {"productId": pid})
    await alice.mutation("interactions:log", {"type": "purchase", "productId": pid})
    await alice.mutation("preferences:update", {"size": {"tops": "M"}})
    url = await alice.mutation("users:inspiration_upload_url")

    async def chunks():
        yield b"\xff\xd8\xff\xe0 photo"

    photo = (await store_stream(backend.app, chunks(), "image/jpeg", url.split("token=")[1]))["storageId"]
    await alice.action("users:save_inspiration_photo", {"storageId": photo})
    await settle(backend)
    await alice.mutation("interactions:log", {"type": "view", "productId": pid})  # a pending run too
    result = await alice.mutation("privacy:delete_account")
    assert result["deleted"]["users"] == 1 and result["deleted"]["files"] == 1
    bob_id = backend.table("users")[0]["_id"]
    for table in ("users", "signals", "overrides", "saved_items", "preferences", "learning_runs", "webhook_events"):
        assert all(r.get("userId", r["_id"]) == bob_id for r in backend.table(table)), table
    assert photo not in {f["_id"] for f in backend.table("_storage")}
    assert await alice.query("users:me") is None
    await settle(backend)  # the canceled run does not resurrect anything
    assert len(backend.table("users")) == 1 and len(backend.table("preferences")) == 1


async def test_a_deleted_account_is_not_brought_back_by_a_token_from_before(backend):
    """A page left open after privacy:delete_account must not recreate the account with its
    old token; a sign-in after the deletion (a token issued later) starts afresh."""
    from prefmem.auth.identity import Identity
    from prefmem.testing import TEST_ISSUER, _Caller

    def signed_in(at_ms: float) -> _Caller:
        return _Caller(backend, Identity("alice", TEST_ISSUER, {"sub": "alice", "iss": TEST_ISSUER},
                                         issued_at=at_ms / 1000.0))

    pid = backend.table("products")[0]["_id"]
    old_token = signed_in(backend.clock.now_ms())
    await old_token.mutation("saved_items:add", {"productId": pid})
    backend.clock.advance(1_000)
    await old_token.mutation("privacy:delete_account")
    for path, args in (("users:store", {}), ("saved_items:add", {"productId": pid}),
                       ("interactions:log", {"type": "like", "productId": pid})):
        with pytest.raises(ConvexError) as err:
            await old_token.mutation(path, args)
        assert err.value.data["code"] == "UNAUTHENTICATED", path
    assert backend.table("users") == [] and backend.table("saved_items") == []
    assert all("alice" not in json.dumps(row) for row in backend.table("deleted_accounts")), "only a hash is kept"
    backend.clock.advance(1_000)
    assert await signed_in(backend.clock.now_ms()).mutation("users:store")


def test_an_open_socket_cannot_bring_a_deleted_account_back(tmp_path):
    """Over a real server and socket: after privacy:delete_account the same socket's next
    mutations are refused instead of recreating the shopper."""
    import uuid

    import httpx

    from tests.helpers.rawws import RawWebSocket, connect_message
    from tests.helpers.server import RunningServer

    from .appbackend import ROOT

    server = RunningServer(ROOT, tmp_path / "data.sqlite3").start()
    ws = None
    try:
        session = httpx.post(f"{server.url}/api/auth/signup", timeout=60, json={
            "email": f"{uuid.uuid4().hex[:10]}@example.com", "password": "correct horse battery"}).json()
        ws = RawWebSocket(server.url)
        ws.send_json(connect_message(str(uuid.uuid4())))
        ws.send_json({"type": "Authenticate", "tokenType": "User", "value": session["token"], "baseVersion": 0})

        def mutation(request_id: int, path: str) -> dict:
            ws.send_json({"type": "Mutation", "requestId": request_id, "udfPath": path, "args": [{}]})
            while True:
                message = ws.recv_json()
                if message["type"] == "MutationResponse" and message["requestId"] == request_id:
                    return message

        assert mutation(0, "users:store")["success"]
        assert mutation(1, "privacy:delete_account")["success"]
        again = mutation(2, "users:store")
        assert not again["success"] and again["errorData"]["code"] == "UNAUTHENTICATED", again
    finally:
        if ws is not None:
            ws.close()
        server.stop()
