"""A database written before reasons were codes starts, keeps its data, learns the same, and migrates."""

import shutil

import pytest

from prefmem.errors import SchemaMismatch
from prefmem.testing import TestBackend

from functions._lib import model
from functions._lib.catalog import compute_catalog_stats

from .appbackend import DAY, FUNCTIONS, ROOT, SCHEMA, seeded_template  # noqa: F401 — fixture

WRITER = ROOT / "tests" / "app" / "fixtures" / "raw_writes"  # an app that writes any document
# The signals' reasons in today's schema; as main had them before the codes (free text in
# ``reason``, no ``reasonText``); and the codes alone, what the schema can be narrowed to
# once every database is migrated.
STORED = """    _signal("dismiss", productId=PRODUCT, reason=v.optional(v.union(DISMISS_REASON, WORDS)),
            reasonText=v.optional(v.string())),
    _signal("return", productId=PRODUCT, reason=v.optional(v.union(RETURN_REASON, WORDS)),
            reasonText=v.optional(v.string()), size=v.optional(v.string())),"""
BEFORE_CODES = """    _signal("dismiss", productId=PRODUCT, reason=v.optional(v.string())),
    _signal("return", productId=PRODUCT, reason=v.optional(v.string()), size=v.optional(v.string())),"""
CODES_ONLY = """    _signal("dismiss", productId=PRODUCT, reason=v.optional(DISMISS_REASON), reasonText=v.optional(v.string())),
    _signal("return", productId=PRODUCT, reason=v.optional(RETURN_REASON), reasonText=v.optional(v.string()),
            size=v.optional(v.string())),"""
# (type, the words a client sent, the code they mean): the page's old choices, other words, none.
REASONS = [
    ("dismiss", "not my style", "not_my_style"),
    ("dismiss", "wrong colour", "wrong_color"),
    ("dismiss", "too pricey", "too_pricey"),
    ("dismiss", "not my brand", "not_my_brand"),
    ("dismiss", "not a category I buy", "not_my_category"),
    ("dismiss", "meh", None),
    ("dismiss", "not_my_style", "not_my_style"),  # already a code
    ("dismiss", None, None),
    ("return", "too small", "too_small"),
    ("return", "Too big on me", "too_big"),
    ("return", "changed my mind", "other"),
]


def profile_of(b: TestBackend, user_id) -> dict:
    prods = {p["_id"]: p for p in b.table("products")}
    signals = [s for s in b.table("signals") if s["userId"] == user_id]
    return model.compute_profile(signals, prods, None, 30 * DAY, catalog_stats=compute_catalog_stats(prods.values())).to_json()


def schema_with(tmp_path, name: str, reasons: str):
    """Today's schema with the signals' reasons as given, written as its own file."""
    text = SCHEMA.read_text()
    assert text.count(STORED) == 1
    path = tmp_path / f"{name}.py"
    path.write_text(text.replace(STORED, reasons))
    return path


async def test_reasons_in_words_start_keep_their_data_and_become_codes(seeded_template, tmp_path):
    shutil.copytree(seeded_template, tmp_path / "db")
    db = tmp_path / "db" / "data.sqlite3"
    async with TestBackend(WRITER, schema_with(tmp_path, "before_codes", BEFORE_CODES), db=db) as old:
        items = old.table("products")[:len(REASONS)]
        user = await old.run("raw:insert", {"table": "users", "doc": {
            "tokenIdentifier": "issuer|alice", "createdAt": 0.0, "lastSeenAt": 0.0, "learningPaused": False,
            "personalize": True}})
        for i, ((kind, words, _), p) in enumerate(zip(REASONS, items)):
            base = {"userId": user, "productId": p["_id"], "ts": i * DAY}
            await old.run("raw:insert", {"table": "signals", "doc": {**base, "type": "save"}})
            if kind == "return":
                await old.run("raw:insert", {"table": "signals", "doc": {**base, "type": "purchase", "size": "M"}})
            doc = {**base, "type": kind, "ts": i * DAY + 1.0, **({"reason": words} if words else {})}
            await old.run("raw:insert", {"table": "signals", "doc": doc})
        written = sorted(old.table("signals"), key=lambda s: s["_id"])

    # The codes alone refuse this database, naming a document.
    with pytest.raises(SchemaMismatch, match='does not match the schema'):
        async with TestBackend(FUNCTIONS, schema_with(tmp_path, "codes_only", CODES_ONLY), db=db):
            pass

    async with TestBackend(FUNCTIONS, SCHEMA, db=db) as app:
        assert sorted(app.table("signals"), key=lambda s: s["_id"]) == written  # starting changes nothing
        learned = profile_of(app, user)
        by_words = {s["_id"]: s for s in written}
        first = await app.run("migrations:reason_codes", {})
        assert first == {"type": "dismiss", "read": 8, "rewritten": 6, "done": False}
        assert await app.run_scheduled() == 1  # the returns
        assert await app.run_scheduled() == 0
        migrated = {s["_id"]: s for s in app.table("signals")}
        assert migrated.keys() == by_words.keys()
        for sid, s in migrated.items():
            before = by_words[sid]
            kind, words, code = next(r for r in REASONS if r[0] == s["type"] and r[1] == before.get("reason")) \
                if s["type"] in ("dismiss", "return") else (s["type"], None, None)
            if words is None or words == code:
                assert s == before  # no words, or already a code: untouched
                continue
            assert s.get("reason") == code and s["reasonText"] == words
            assert {k: val for k, val in s.items() if k not in ("reason", "reasonText")} == \
                {k: val for k, val in before.items() if k != "reason"}
        assert profile_of(app, user) == learned  # the codes teach what the words taught
        again = await app.run("migrations:reason_codes", {"type": "return"})
        assert again == {"type": "return", "read": 3, "rewritten": 0, "done": True}

    # Migrated, the database satisfies the codes alone.
    async with TestBackend(FUNCTIONS, schema_with(tmp_path, "codes_only", CODES_ONLY), db=db) as narrowed:
        assert len(narrowed.table("signals")) == len(written)
