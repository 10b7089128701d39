"""users:*, catalog:* and the identity check of every public function."""

import json

import pytest

from prefmem import ConvexError
from prefmem.files.context import store_stream

from .appbackend import N_PRODUCTS, backend, products, seeded_template  # noqa: F401 — fixtures

PUBLIC_CALLS = [
    ("mutation", "users:store", {}),
    ("query", "catalog:get", None),
    ("query", "catalog:list", {"paginationOpts": {"numItems": 5, "cursor": None}}),
    ("query", "preferences:get", {}),
    ("query", "preferences:facets", {}),
    ("mutation", "preferences:update", {"style": ["minimalist"]}),
    ("mutation", "preferences:set_override", {"facet": "color", "value": "red", "action": "never"}),
    ("mutation", "preferences:reset_learned", {}),
    ("query", "saved_items:list", {}),
    ("mutation", "saved_items:add", None),
    ("mutation", "saved_items:remove", None),
    ("mutation", "interactions:log", None),
    ("action", "search:personalized", {"query": "dress"}),
    ("action", "privacy:export", {}),
    ("mutation", "privacy:forget", {"from": 0, "to": 1}),
    ("mutation", "privacy:set_learning_paused", {"paused": True}),
    ("mutation", "privacy:delete_account", {}),
]


async def test_every_public_function_needs_a_signed_in_shopper(backend):
    pid = backend.table("products")[0]["_id"]
    for kind, path, args in PUBLIC_CALLS:
        if args is None:
            args = {"id": pid} if path == "catalog:get" else {"productId": pid}
            if path == "interactions:log":
                args = {"type": "view", "productId": pid}
        call = getattr(backend, kind)
        with pytest.raises(ConvexError) as err:
            await call(path, args)
        assert err.value.data["code"] == "UNAUTHENTICATED", path
    assert backend.table("users") == [] and backend.table("signals") == []
    assert await backend.query("users:me") is None  # signed out: null, nothing revealed


async def test_store_creates_then_refreshes_one_record(backend):
    alice = backend.as_user("alice", email="alice@example.com", name="Alice")
    assert await alice.query("users:me") is None
    uid = await alice.mutation("users:store")
    assert await alice.mutation("users:store") == uid
    me = await alice.query("users:me")
    assert me["_id"] == uid and me["email"] == "alice@example.com" and me["tokenIdentifier"] == "prefmem-test|alice"
    assert me["learningPaused"] is False and me["personalize"] is True
    assert len(backend.table("users")) == 1
    assert await backend.as_user("bob").mutation("users:store") != uid


async def test_catalog_get_and_list(backend):
    alice = backend.as_user("alice")
    p = backend.table("products")[0]
    got = await alice.query("catalog:get", {"id": p["_id"]})
    for field in ("sku", "title", "description", "category", "brand", "price", "styles", "colors", "sizes"):
        assert got[field] == p[field]
    assert got["imageUrl"].endswith("/api/storage/" + p["imageId"])
    seen, cursor = [], None
    while True:
        page = await alice.query("catalog:list", {"paginationOpts": {"numItems": 64, "cursor": cursor}})
        seen += page["page"]
        if page["isDone"]:
            break
        cursor = page["continueCursor"]
    assert len(seen) == N_PRODUCTS and len({p["_id"] for p in seen}) == N_PRODUCTS
    dresses = await alice.query("catalog:list", {"paginationOpts": {"numItems": 500, "cursor": None},
                                                 "category": "dresses"})
    assert dresses["page"] and all(p["category"] == "dresses" for p in dresses["page"])
    assert len(dresses["page"]) == len(products(backend, category="dresses"))
    cats = await alice.query("catalog:categories")
    assert sum(cats.values()) == N_PRODUCTS


async def test_placeholder_images_are_stored_files(backend):
    p = backend.table("products")[0]
    data = backend.app.files.read(p["imageId"])
    assert data.startswith(b"<svg") and p["category"].encode() in data
    # one image per category x colour, shared
    assert len({q["imageId"] for q in backend.table("products")}) == len(backend.table("placeholder_images"))


async def test_seed_is_idempotent(backend):
    assert (await backend.run("catalog:seed_if_empty", {"count": 50}))["seeded"] is False
    assert len(backend.table("products")) == N_PRODUCTS


async def test_import_jsonl_upserts_and_reports_each_bad_line(backend, tmp_path):
    good = [{"sku": "MY-1", "title": "Linen Shirt", "category": "Shirts", "brand": "Mine", "price": 40,
             "styles": ["minimalist"], "colors": ["white"], "sizes": ["S", "M"]},
            {"sku": "SKU-7-00000", "title": "Renamed", "category": "tops", "brand": "X", "price": "12.5"}]
    path = tmp_path / "cat.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in good) + "\n")
    result = await backend.run("catalog:import", {"path": str(path)})
    assert result == {"inserted": 1.0, "updated": 1.0, "total": N_PRODUCTS + 1.0}
    mine = [p for p in backend.table("products") if p["sku"] == "MY-1"][0]
    assert mine["category"] == "shirts" and mine["imageId"]
    assert [p["title"] for p in backend.table("products") if p["sku"] == "SKU-7-00000"] == ["Renamed"]
    alice = backend.as_user("alice")
    hits = await alice.action("search:personalized", {"query": "linen shirt"})
    assert hits["results"][0]["product"]["sku"] == "MY-1"

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"sku": "A", "title": "t", "category": "c", "brand": "b", "price": 1}\n'
                   "{not json\n"
                   '{"sku": "B", "title": "t", "category": "c", "brand": "b", "price": "cheap"}\n')
    with pytest.raises(ConvexError) as err:
        await backend.run("catalog:import", {"path": str(bad)})
    assert err.value.data["code"] == "INVALID_CATALOG"
    assert [e.split(":")[0] for e in err.value.data["errors"]] == ["line 2", "line 3"]
    assert not [p for p in backend.table("products") if p["sku"] == "A"]  # nothing imported


async def test_import_csv_content(backend):
    csv = "sku,title,category,brand,price,styles,colors,sizes\nC-1,Wool Coat,outerwear,Nord,199,classic|minimalist,camel,S|M|L\n"
    result = await backend.run("catalog:import", {"content": csv, "format": "csv", "images": False})
    assert result["inserted"] == 1.0
    coat = [p for p in backend.table("products") if p["sku"] == "C-1"][0]
    assert coat["styles"] == ["classic", "minimalist"] and coat["sizes"] == ["S", "M", "L"]


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


async def _upload(backend, caller, data: bytes, content_type: str) -> str:
    url = await caller.mutation("users:inspiration_upload_url")

    async def chunks():
        yield data

    return (await store_stream(backend.app, chunks(), content_type, url.split("token=")[1]))["storageId"]


async def test_inspiration_photo_upload(backend):
    alice = backend.as_user("alice")
    await alice.mutation("users:store")
    sid = await _upload(backend, alice, PNG, "image/png")
    photo_url = await alice.action("users:save_inspiration_photo", {"storageId": sid})
    assert photo_url.endswith(sid)
    me = await alice.query("users:me")
    assert me["inspirationPhotoId"] == sid and me["inspirationPhotoUrl"] == photo_url
    # Bob cannot claim Alice's photo, nor a product image.
    bob = backend.as_user("bob")
    for other in (sid, backend.table("products")[0]["imageId"]):
        with pytest.raises(ConvexError) as err:
            await bob.action("users:save_inspiration_photo", {"storageId": other})
        assert err.value.data["code"] == "FORBIDDEN"
    # Replacing deletes the old file.
    sid2 = await _upload(backend, alice, b"\xff\xd8\xff\xe0 a jpeg", "image/jpeg")
    await alice.action("users:save_inspiration_photo", {"storageId": sid2})
    assert [f["_id"] for f in backend.table("_storage") if f["_id"] == sid] == []


async def test_an_upload_is_only_its_uploaders_to_attach(backend):
    alice, bob = backend.as_user("alice"), backend.as_user("bob")
    await alice.mutation("users:store")
    pending = await _upload(backend, alice, PNG, "image/png")  # uploaded, not attached yet
    with pytest.raises(ConvexError) as err:
        await bob.action("users:save_inspiration_photo", {"storageId": pending})
    assert err.value.data["code"] == "FORBIDDEN"
    assert await bob.query("users:me") is None or (await bob.query("users:me"))["inspirationPhotoId"] is None
    assert pending in {f["_id"] for f in backend.table("_storage")}, "Bob's attempt deleted nothing"
    assert (await alice.action("users:save_inspiration_photo", {"storageId": pending})).endswith(pending)


@pytest.mark.parametrize("data, content_type", [
    (b"<html><script>alert(document.cookie)</script></html>", "text/html"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml"),
    (b"<html><script>alert(1)</script></html>", "image/png"),  # the declared type is not believed
    (PNG, "image/jpeg"),  # an image, but not the one it claims to be
])
async def test_an_inspiration_photo_must_really_be_a_raster_image(backend, data, content_type):
    alice = backend.as_user("alice")
    await alice.mutation("users:store")
    sid = await _upload(backend, alice, data, content_type)
    with pytest.raises(ConvexError) as err:
        await alice.action("users:save_inspiration_photo", {"storageId": sid})
    assert err.value.data["code"] == "NOT_AN_IMAGE"
    assert (await alice.query("users:me"))["inspirationPhotoId"] is None
    assert sid not in {f["_id"] for f in backend.table("_storage")}, "the refused upload is deleted"
