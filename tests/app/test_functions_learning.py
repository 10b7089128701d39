"""interactions:log, the learning runs it schedules, overrides, pause, crons, external learner."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from prefmem import ConvexError
from prefmem.testing import FunctionFailed

from functions._lib import model
from functions._lib.catalog import compute_catalog_stats
from functions._lib.config import DEFAULT_CONFIG

from .appbackend import DAY, backend, products, seeded_template, settle  # noqa: F401 — fixtures


def pending_runs(b):
    return [r for r in b.table("learning_runs") if r["state"] == "pending"]


def expected_profile(b, user_id, overrides=None):
    """The profile computed directly with the model from the stored signals."""
    prods = {p["_id"]: p for p in b.table("products")}
    stats = compute_catalog_stats(prods.values(), DEFAULT_CONFIG.budget_prior_low_quantile,
                                  DEFAULT_CONFIG.budget_prior_high_quantile)
    signals = [s for s in b.table("signals") if s["userId"] == user_id]
    return model.compute_profile(signals, prods, overrides, b.clock.now_ms(), catalog_stats=stats).to_json()


async def save_some(b, who, items, days=3):
    """Save items spread over ``days`` days (so values can be shown)."""
    per_day = max(1, len(items) // days)
    for i, p in enumerate(items):
        await who.mutation("interactions:log", {"type": "save", "productId": p["_id"]})
        if (i + 1) % per_day == 0:
            b.clock.advance(DAY)
    await settle(b)


async def test_signal_shapes_are_validated(backend):
    alice = backend.as_user("alice")
    pid = backend.table("products")[0]["_id"]
    bad = [
        {"type": "teleport", "productId": pid},
        {"type": "view"},                                  # missing productId
        {"type": "search"},                                # missing query
        {"type": "like", "productId": pid, "query": "x"},  # field of another type
        {"type": "view", "productId": "nope"},             # not a products id
        {"type": "dismiss", "productId": pid, "reason": "too pricey"},  # reasons are codes, not sentences
        {"type": "dismiss", "productId": pid, "reason": "too_pricy"},   # ... and a misspelled code is refused
        {"type": "return", "productId": pid, "reason": "too small"},
    ]
    for args in bad:
        with pytest.raises((FunctionFailed, ConvexError)):
            await alice.mutation("interactions:log", args)
    with pytest.raises(ConvexError) as err:
        await alice.mutation("interactions:log", {"type": "save", "productId": pid, "size": "XXXXL"})
    assert err.value.data["code"] == "BAD_SIGNAL"
    assert backend.table("signals") == []
    for args in ({"type": "view", "productId": pid}, {"type": "search", "query": "navy dress"},
                 {"type": "dismiss", "productId": pid, "reason": "too_pricey"},
                 {"type": "return", "productId": pid, "reason": "too_small"}):
        assert (await alice.mutation("interactions:log", args))["logged"] is True
    kinds = [s["type"] for s in backend.table("signals")]
    assert kinds == ["view", "search", "dismiss", "return"]


async def test_one_pending_learning_run_per_shopper(backend):
    alice, bob = backend.as_user("alice"), backend.as_user("bob")
    ps = backend.table("products")[:6]
    for p in ps:
        await alice.mutation("interactions:log", {"type": "view", "productId": p["_id"]})
    await bob.mutation("interactions:log", {"type": "like", "productId": ps[0]["_id"]})
    assert len(pending_runs(backend)) == 2  # one per shopper, not one per signal
    jobs = [j for j in backend.table("_scheduled_functions") if j["name"] == "learning:run"]
    assert len(jobs) == 2
    await settle(backend)
    assert pending_runs(backend) == [] and {r["state"] for r in backend.table("learning_runs")} == {"done"}
    await alice.mutation("interactions:log", {"type": "like", "productId": ps[1]["_id"]})
    assert len(pending_runs(backend)) == 1


async def test_learned_profile_is_the_model_output_in_the_documented_shape(backend):
    alice = backend.as_user("alice")
    uid = await alice.mutation("users:store")
    items = [p for p in products(backend, category="dresses")][:9]
    await save_some(backend, alice, items)
    prof = await alice.query("preferences:get")
    assert set(prof) >= {"facets", "budget", "size", "personalize", "learningPaused", "updatedAt"}
    assert set(prof["facets"]) == {"style", "color", "brand", "category"}
    for values in prof["facets"].values():
        for v in values:
            assert set(v) >= {"value", "source", "state", "confidence", "affinity", "evidence", "locked"}
            assert set(v["evidence"]) >= {"items", "signals", "lastSeen"}
            assert v["state"] in ("shown", "learning", "pinned", "removed", "never")
    for b in prof["budget"].values():
        assert set(b) >= {"min", "max", "source", "confidence", "locked"}
    dresses = {v["value"]: v for v in prof["facets"]["category"]}["dresses"]
    assert dresses["state"] == "shown" and dresses["source"] == "learned" and dresses["evidence"]["items"] == 9
    # exactly what the model computes from the stored signals (as of the last run)
    assert prof["updatedAt"] == backend.clock.now_ms()
    assert prof["facets"] == expected_profile(backend, uid)["facets"]
    assert prof["budget"] == expected_profile(backend, uid)["budget"]
    stored = backend.table("preferences")[0]
    assert stored["learner"] == "builtin" and stored["signalCount"] == 9


async def test_overrides_win_and_learning_never_writes_them(backend):
    alice = backend.as_user("alice")
    uid = await alice.mutation("users:store")
    items = products(backend, category="dresses")[:9]
    await save_some(backend, alice, items)
    learned = await alice.query("preferences:get")
    style = learned["facets"]["style"][0]["value"]
    prof = await alice.mutation("preferences:set_override", {"facet": "style", "value": style, "action": "never"})
    v = {x["value"]: x for x in prof["facets"]["style"]}[style]
    assert (v["state"], v["source"], v["locked"], v["affinity"]) == ("never", "user", True, -1.0)
    await alice.mutation("preferences:update", {"color": ["red"], "budget": {"dresses": {"min": 10, "max": 50}},
                                                "size": {"dresses": "38"}})
    before = backend.table("overrides")
    # many more signals for the banned style: learning changes nothing the shopper set
    more = [p for p in backend.table("products") if style in p["styles"]][:10]
    await save_some(backend, alice, more)
    assert backend.table("overrides") == before
    prof = await alice.query("preferences:get")
    assert {x["value"]: x for x in prof["facets"]["style"]}[style]["state"] == "never"
    assert {x["value"]: x for x in prof["facets"]["color"]}["red"]["state"] == "pinned"
    assert prof["budget"]["dresses"] == {**prof["budget"]["dresses"], "min": 10.0, "max": 50.0, "source": "user",
                                         "locked": True}
    assert prof["size"]["dresses"]["size"] == "38" and prof["size"]["dresses"]["locked"] is True
    # the stored learned profile equals the model's output given the same overrides
    rows = [{k: r[k] for k in r if not k.startswith("_") and k not in ("userId", "key", "updatedAt")} for r in before]
    assert backend.table("preferences")[0]["profile"]["facets"] == expected_profile(backend, uid, rows)["facets"]
    # clearing: the value is learned again
    await alice.mutation("preferences:set_override", {"facet": "style", "value": style, "action": "clear"})
    await alice.mutation("preferences:update", {"budget": {"dresses": None}})
    await settle(backend)
    prof = await alice.query("preferences:get")
    assert {x["value"]: x for x in prof["facets"]["style"]}[style]["source"] == "learned"
    assert prof["budget"]["dresses"]["source"] == "learned"


async def test_update_sets_the_pinned_list(backend):
    alice = backend.as_user("alice")
    await alice.mutation("preferences:update", {"style": ["Minimalist", "classic"]})
    await alice.mutation("preferences:set_override", {"facet": "color", "value": "orange", "action": "remove"})
    prof = await alice.mutation("preferences:update", {"style": ["classic"]})
    pinned = [v["value"] for v in prof["facets"]["style"] if v["state"] == "pinned"]
    assert pinned == ["classic"]
    assert [v["state"] for v in prof["facets"]["color"]] == ["removed"]
    with pytest.raises(ConvexError):
        await alice.mutation("preferences:update", {"budget": {"shoes": {"min": 100, "max": 10}}})
    with pytest.raises(ConvexError):
        await alice.mutation("preferences:set_override", {"facet": "budget", "value": "shoes", "action": "pin"})


async def test_reset_learned_keeps_overrides(backend):
    alice = backend.as_user("alice")
    await save_some(backend, alice, products(backend, category="dresses")[:9])
    await alice.mutation("preferences:update", {"brand": ["Acme"]})
    await settle(backend)
    assert (await alice.mutation("preferences:reset_learned"))["forgotten"] == 9
    assert backend.table("signals") == []
    prof = await alice.query("preferences:get")
    assert [v["value"] for f in prof["facets"].values() for v in f] == ["Acme"]
    await settle(backend)
    prof = await alice.query("preferences:get")
    assert [(v["value"], v["state"]) for f in prof["facets"].values() for v in f] == [("Acme", "pinned")]


async def test_pause_stops_logging(backend):
    alice = backend.as_user("alice")
    pid = backend.table("products")[0]["_id"]
    assert await alice.mutation("privacy:set_learning_paused", {"paused": True}) is True
    r = await alice.mutation("interactions:log", {"type": "like", "productId": pid})
    assert r == {"logged": False, "signalId": None, "learningScheduled": False}
    assert backend.table("signals") == [] and pending_runs(backend) == []
    assert (await alice.query("preferences:get"))["learningPaused"] is True
    await alice.mutation("privacy:set_learning_paused", {"paused": False})
    assert (await alice.mutation("interactions:log", {"type": "like", "productId": pid}))["logged"] is True


async def test_retention_cron_deletes_old_signals_and_relearns(backend):
    alice = backend.as_user("alice")
    uid = await alice.mutation("users:store")
    ps = backend.table("products")
    await alice.mutation("interactions:log", {"type": "like", "productId": ps[0]["_id"]})
    await alice.mutation("interactions:log", {"type": "search", "query": "navy dress"})
    await settle(backend)
    backend.clock.advance(100 * DAY)  # the search is past 90 days, the like is not past 180
    await alice.mutation("interactions:log", {"type": "search", "query": "red shoes"})
    r = await backend.run("learning:retention")
    assert r == {"deleted": 1.0, "users": 1.0}
    assert sorted(s.get("query", s["type"]) for s in backend.table("signals")) == ["like", "red shoes"]
    backend.clock.advance(81 * DAY)
    assert (await backend.run("learning:retention"))["deleted"] == 1.0
    await settle(backend)
    assert [s["type"] for s in backend.table("signals")] == ["search"]
    prof = await alice.query("preferences:get")
    assert prof["facets"]["brand"] == [] and backend.table("preferences")[0]["signalCount"] == 1
    assert uid


async def test_decay_cron_relearns_stale_profiles_but_not_paused(backend):
    alice, bob = backend.as_user("alice"), backend.as_user("bob")
    pid = backend.table("products")[0]["_id"]
    for who in (alice, bob):
        await who.mutation("interactions:log", {"type": "like", "productId": pid})
    await settle(backend)
    await bob.mutation("privacy:set_learning_paused", {"paused": True})
    backend.clock.advance(DAY)
    assert (await backend.run("learning:decay", {}))["scheduled"] == 1.0
    await settle(backend)
    updated = {p["userId"]: p["updatedAt"] for p in backend.table("preferences")}
    assert max(updated.values()) > min(updated.values())


def test_crons_are_declared():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("app_crons", Path(__file__).resolve().parents[2] / "functions" / "crons.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = repr(vars(mod.crons))
    assert "learning:retention" in text and "learning:decay" in text


class _Learner(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        _Learner.received.append(body)
        profile = {"facets": {"style": [{"value": "glam", "source": "learned", "state": "shown", "confidence": 0.9,
                                         "affinity": 0.8, "evidence": {"items": 3, "signals": 3, "lastSeen": 1.0}}]},
                   "budget": {}, "size": {}}
        data = json.dumps({"profile": profile}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


async def test_external_learner_and_fallback(backend, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Learner)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        alice = backend.as_user("alice")
        pid = backend.table("products")[0]["_id"]
        monkeypatch.setenv("PREFMEM_EXTERNAL_LEARNER_URL", f"http://127.0.0.1:{server.server_port}/learn")
        await alice.mutation("interactions:log", {"type": "like", "productId": pid})
        await alice.mutation("preferences:set_override", {"facet": "style", "value": "glam", "action": "remove"})
        await settle(backend)
        assert backend.table("preferences")[0]["learner"] == "external"
        sent = _Learner.received[-1]
        assert [s["type"] for s in sent["signals"]] == ["like"] and pid in sent["products"]
        # the override still wins over what the external learner says
        prof = await alice.query("preferences:get")
        assert [(v["value"], v["state"]) for v in prof["facets"]["style"]] == [("glam", "removed")]
    finally:
        server.shutdown()
    monkeypatch.setenv("PREFMEM_EXTERNAL_LEARNER_URL", f"http://127.0.0.1:{server.server_port}/gone")
    monkeypatch.setenv("PREFMEM_EXTERNAL_LEARNER_TIMEOUT", "0.5")
    await alice.mutation("interactions:log", {"type": "view", "productId": pid})
    await settle(backend)
    stored = backend.table("preferences")[0]
    assert stored["learner"].startswith("builtin (external learner failed")
    assert stored["signalCount"] == 2
