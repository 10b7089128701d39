"""The learning model: weights, decay, thresholds, budget, size, overrides, privacy rules."""

import dataclasses
import math

import pytest

from functions._lib.catalog import generate_catalog
from functions._lib.config import DAY_MS, DEFAULT_CONFIG
from functions._lib.reasons import DISMISS_REASONS, RETURN_REASONS, dismiss_code, return_code
from functions._lib.model import (
    Profile, compute_profile, normalize_overrides,
)

CATALOG = generate_catalog(1500, seed=11)
BY_ID = {p["sku"]: p for p in CATALOG}
NOW = 400 * DAY_MS
# Plain variant without the credit refinements, for checking the spec's raw arithmetic.
RAW = dataclasses.replace(DEFAULT_CONFIG, credit_iterations=0, brand_conditional_baseline=False)


def items(pred, n):
    out = [p for p in CATALOG if pred(p)][:n]
    assert len(out) == n
    return out


def sig(type_, p=None, day=0.0, **kw):
    s = {"type": type_, "ts": NOW - day * DAY_MS, **kw}
    if p is not None:
        s["productId"] = p["sku"]
    return s


def test_weights_and_view_repeats():
    p = items(lambda p: len(p["styles"]) == 1 and len(p["colors"]) == 1, 1)[0]
    style = p["styles"][0]
    for type_, w in (("like", 3), ("save", 4), ("cart", 5), ("purchase", 10)):
        prof = compute_profile([sig(type_, p)], BY_ID, None, NOW, RAW)
        assert prof.value("style", style).positive == pytest.approx(w)
    views = [sig("view", p, day=0.0) for _ in range(4)]
    prof = compute_profile(views, BY_ID, None, NOW, RAW)
    assert prof.value("style", style).positive == pytest.approx(1 + math.log(4))
    prof = compute_profile([sig("search", query="navy dress")], BY_ID, None, NOW, RAW)
    assert prof.value("color", "navy").positive == pytest.approx(1.5)
    assert prof.value("category", "dresses").positive == pytest.approx(1.5)


def test_time_decay_by_half_life():
    p = items(lambda p: len(p["styles"]) == 1, 1)[0]
    prof = compute_profile([sig("like", p, day=90)], BY_ID, None, NOW, RAW)
    assert prof.value("style", p["styles"][0]).positive == pytest.approx(1.5)
    prof = compute_profile([sig("dismiss", p, day=30)], BY_ID, None, NOW, RAW)
    assert prof.value("style", p["styles"][0]).negative == pytest.approx(4 * 0.5 * 0.5)


def test_dismiss_spread_and_reasons():
    p = items(lambda p: len(p["colors"]) == 1 and len(p["styles"]) == 1, 1)[0]
    prof = compute_profile([sig("dismiss", p)], BY_ID, None, NOW, RAW)
    for facet, v in (("style", p["styles"][0]), ("color", p["colors"][0]), ("brand", p["brand"])):
        assert prof.value(facet, v).negative == pytest.approx(2.0)
    prof = compute_profile([sig("dismiss", p, reason="not_my_style")], BY_ID, None, NOW, RAW)
    assert prof.value("style", p["styles"][0]).negative == pytest.approx(6.0)
    assert prof.value("color", p["colors"][0]) is None and prof.value("brand", p["brand"]) is None
    prof = compute_profile([sig("dismiss", p, reason="wrong_color")], BY_ID, None, NOW, RAW)
    assert prof.value("color", p["colors"][0]).negative == pytest.approx(6.0)
    assert prof.value("style", p["styles"][0]) is None
    assert prof.value("color", p["colors"][0]).affinity < 0  # learned dislikes are negative


def test_reasons_are_codes_and_older_words_read_as_before():
    assert DISMISS_REASONS == {"not_my_style": "style", "wrong_color": "color", "too_pricey": "budget",
                               "not_my_brand": "brand", "not_my_category": "category"}
    assert RETURN_REASONS == {"too_small": 1, "too_big": -1, "other": None}
    for code in (*DISMISS_REASONS, *RETURN_REASONS):
        assert (dismiss_code(code) if code in DISMISS_REASONS else return_code(code)) == code
    # What the page sent before the codes, and free text from any client, as main read it.
    assert [dismiss_code(t) for t in ("Not my style", "wrong colour", "too pricey", "not my brand",
                                      "not a category I buy", "not my color", "too cheap", "meh", "", None)] == \
        ["not_my_style", "wrong_color", "too_pricey", "not_my_brand", "not_my_category", "wrong_color", None, None,
         None, None]
    assert [return_code(t) for t in ("too small", "Too tight", "too big", "changed my mind", None)] == \
        ["too_small", "too_small", "too_big", "other", None]
    # A code and the words it replaced teach the same.
    p = CATALOG[3]
    for code, words in (("not_my_style", "not my style"), ("wrong_color", "wrong colour"), ("too_pricey", "too pricey")):
        a = compute_profile([sig("dismiss", p, reason=code)], BY_ID, None, NOW, RAW).to_json()
        b = compute_profile([sig("dismiss", p, reason=words)], BY_ID, None, NOW, RAW).to_json()
        assert a == b


def test_display_thresholds_need_items_and_days():
    minimal = items(lambda p: p["styles"] == ["minimalist"] and p["category"] == "tops", 4)
    # One day only: not shown even with plenty of mass.
    one_day = [sig("save", p, day=1) for p in minimal]
    prof = compute_profile(one_day, BY_ID, None, NOW, RAW)
    assert prof.value("style", "minimalist").state == "learning"
    three_days = [sig("save", p, day=1 + i % 3) for i, p in enumerate(minimal)]
    prof = compute_profile(three_days, BY_ID, None, NOW, RAW)
    v = prof.value("style", "minimalist")
    assert v.state == "shown" and v.items == 4 and v.days == 3 and v.visits == 3
    assert v.confidence == pytest.approx(1 - math.exp(-(v.positive / 3) / 6))
    # Two items only: not shown.
    prof = compute_profile(three_days[:2] * 3, BY_ID, None, NOW, RAW)
    assert prof.value("style", "minimalist").state == "learning"


def test_a_style_needs_choices_in_three_visits():
    # Four saves on two days are enough for a colour or a category (the spec's two days),
    # not for a style: a style seen in one or two visits was as often another person's
    # or a random pick's (bench/EXPERIMENTS.md). A visit ends after a 30-minute pause.
    minimal = items(lambda p: p["styles"] == ["minimalist"] and p["category"] == "tops", 4)
    two_days = [sig("save", p, day=1 + i % 2) for i, p in enumerate(minimal)]
    prof = compute_profile(two_days, BY_ID, None, NOW, RAW)
    v = prof.value("style", "minimalist")
    assert v.days == 2 and v.visits == 2 and v.state == "learning"
    assert prof.value("category", "tops").state == "shown"
    # The same saves with a third visit on the second day, two hours after the first.
    later = dict(two_days[3], ts=two_days[3]["ts"] + 2 * 3_600_000)
    v = compute_profile(two_days[:3] + [later], BY_ID, None, NOW, RAW).value("style", "minimalist")
    assert v.days == 2 and v.visits == 3 and v.state == "shown"
    # Ten minutes later is the same visit.
    soon = dict(two_days[3], ts=two_days[1]["ts"] + 600_000)
    v = compute_profile(two_days[:3] + [soon], BY_ID, None, NOW, RAW).value("style", "minimalist")
    assert v.visits == 2 and v.state == "learning"
    no_rule = dataclasses.replace(RAW, facet_display_rules=tuple(
        (f, tuple(r for r in rs if r[0] != "min_visits")) for f, rs in RAW.facet_display_rules))
    assert compute_profile(two_days, BY_ID, None, NOW, no_rule).value("style", "minimalist").state == "shown"


def test_style_search_route_shows_a_searched_secondary_style():
    # A dominant style from saves, and a second one with a small share of the clicks that
    # the shopper searched for twice: shown through the search route only.
    minimal = items(lambda p: p["styles"] == ["minimalist"] and p["category"] == "tops", 12)
    romantic = items(lambda p: p["styles"] == ["romantic"] and p["category"] == "dresses", 4)
    signals = [sig("save", p, day=1 + i % 3) for i, p in enumerate(minimal)]
    signals += [sig("search", query="romantic dress", day=2), sig("search", query="romantic dresses", day=1)]
    signals += [sig("view", p, day=1 + i % 3) for i, p in enumerate(romantic)]
    prof = compute_profile(signals, BY_ID, None, NOW)
    v = prof.value("style", "romantic")
    assert v.searches == 2 and 0.08 <= v.share < DEFAULT_CONFIG.show_min_share
    assert v.state == "shown" and prof.value("style", "minimalist").state == "shown"
    no_route = dataclasses.replace(DEFAULT_CONFIG, facet_display_rules=(("style", (("min_exposure_lift", 1.1),)),))
    assert compute_profile(signals, BY_ID, None, NOW, no_route).value("style", "romantic").state == "learning"
    # One search is not enough.
    assert compute_profile(signals[:12] + signals[13:], BY_ID, None, NOW).value("style", "romantic").state == "learning"


def test_a_style_riding_along_with_a_loved_one_is_not_shown():
    # Each day the results show minimalist+classic tops, minimalist tops and other styles
    # (and, on five of the days, a classic-only top); the shopper saves the minimalist ones, with or
    # without classic, and looks once at a classic-only top. Classic has a quarter of the
    # saves and is chosen more often than shown (θ > 1.1), but the style-set model needs
    # only minimalist to explain the choices: classic is not displayed.
    tops = ("tops", "shirts", "knitwear")
    solo = items(lambda p: p["styles"] == ["minimalist"] and p["category"] in tops, 12)
    both = items(lambda p: sorted(p["styles"]) == ["classic", "minimalist"] and p["category"] in tops, 12)
    rider = items(lambda p: p["styles"] == ["classic"] and p["category"] in tops, 6)
    other = items(lambda p: p["styles"] in (["sporty"], ["edgy"]) and p["category"] in tops, 24)
    signals, imps = [], []
    for day in range(6):
        ts = NOW - (6 - day) * DAY_MS
        shown = (both[2 * day:2 * day + 2] + other[4 * day:4 * day + 2] + solo[2 * day:2 * day + 2]
                 + other[4 * day + 2:4 * day + 4] + (rider[day:day + 1] if day < 5 else []))
        signals.append({"type": "search", "query": "tops", "ts": ts, "_id": f"q{day}"})
        imps.append({"ts": ts, "productIds": [p["sku"] for p in shown]})
        signals += [{"type": "save", "productId": p["sku"], "ts": ts + 1000 + i, "_id": f"s{day}-{i}"}
                    for i, p in enumerate(shown[:2] + shown[4:5])]
    signals.append({"type": "view", "productId": rider[0]["sku"], "ts": NOW - 6 * DAY_MS + 5000, "_id": "v"})
    prof = compute_profile(signals, BY_ID, None, NOW, impressions=imps)
    classic, minimalist = prof.value("style", "classic"), prof.value("style", "minimalist")
    assert minimalist.posterior > 0.9 and minimalist.state == "shown"
    assert classic.share > 0.18 and classic.exposure_lift > 1.1
    assert classic.posterior < 0.5 and classic.state == "learning"
    # Without the posterior (the previous rules: share >= 0.18 and θ >= 1.1) it was shown.
    before = dataclasses.replace(DEFAULT_CONFIG, facet_display_rules=(("style", (("min_exposure_lift", 1.1), ("min_share", 0.18))),))
    assert compute_profile(signals, BY_ID, None, NOW, before, impressions=imps).value("style", "classic").state == "shown"


def test_a_searched_style_the_set_model_finds_likely_is_shown():
    # Minimalist saves dominate; romantic items, two in each list, are looked at on four
    # days and liked once, one other top is looked at on the first day, and the shopper
    # searched for "romantic dress" once. Romantic's share is under 0.12 and its posterior
    # under the 0.7 that shows a style on its own, but with posterior >= 0.5 and a search
    # it is shown.
    tops = ("tops", "shirts", "knitwear", "dresses")
    solo = items(lambda p: p["styles"] == ["minimalist"] and p["category"] in tops, 18)
    romantic = items(lambda p: p["styles"] == ["romantic"] and p["category"] in tops, 12)
    other = items(lambda p: p["styles"] in (["sporty"], ["edgy"]) and p["category"] in tops, 36)
    signals, imps = [], []
    for day in range(6):
        ts = NOW - (6 - day) * DAY_MS
        shown = solo[3 * day:3 * day + 3] + other[6 * day:6 * day + 3] + romantic[2 * day:2 * day + 2] + other[6 * day + 3:6 * day + 6]
        signals.append({"type": "search", "query": "romantic dress" if day == 3 else "tops", "ts": ts, "_id": f"q{day}"})
        imps.append({"ts": ts, "productIds": [p["sku"] for p in shown]})
        chosen = [("save", p) for p in shown[:3]] + ([("view", shown[6])] if day not in (0, 2) else [])
        chosen += [("like", shown[6])] if day == 3 else []
        chosen += [("view", shown[3])] if day == 0 else []
        signals += [{"type": t, "productId": p["sku"], "ts": ts + 1000 + i, "_id": f"s{day}-{i}"} for i, (t, p) in enumerate(chosen)]
    v = compute_profile(signals, BY_ID, None, NOW, impressions=imps).value("style", "romantic")
    assert v.searches == 1 and v.share < 0.12 and 0.5 <= v.posterior < 0.7 and v.state == "shown"
    rules = tuple((f, tuple(r for r in rs if r[0] != "searched_posterior")) for f, rs in DEFAULT_CONFIG.facet_display_rules)
    without = dataclasses.replace(DEFAULT_CONFIG, facet_display_rules=rules)
    assert compute_profile(signals, BY_ID, None, NOW, without, impressions=imps).value("style", "romantic").state == "learning"


def test_a_sure_style_with_a_tiny_share_is_not_shown():
    # Minimalist saves dominate; a romantic top in each day's list is looked at on seven
    # of eight days. The set model is sure of romantic (posterior > 0.95), but it carries
    # about 5% of the shopper's evidence, under the posterior route's 6% share: explored
    # items clicked a few times made styles "sure" like this, and most of them were wrong.
    tops = ("tops", "shirts", "knitwear")
    loved = items(lambda p: p["styles"] == ["minimalist"] and p["category"] in tops, 32)
    small = items(lambda p: p["styles"] == ["romantic"] and p["category"] in tops, 8)
    other = items(lambda p: p["styles"] in (["sporty"], ["edgy"], ["preppy"]) and p["category"] in tops, 48)
    signals, imps = [], []
    for day in range(8):
        ts = NOW - (8 - day) * DAY_MS
        shown = loved[4 * day:4 * day + 4] + other[6 * day:6 * day + 6] + small[day:day + 1]
        signals.append({"type": "search", "query": "tops", "ts": ts, "_id": f"q{day}"})
        imps.append({"ts": ts, "productIds": [p["sku"] for p in shown]})
        chosen = [("save", p) for p in shown[:4]] + ([("view", shown[-1])] if day < 7 else [])
        signals += [{"type": t, "productId": p["sku"], "ts": ts + 1000 + i, "_id": f"s{day}-{i}"} for i, (t, p) in enumerate(chosen)]
    v = compute_profile(signals, BY_ID, None, NOW, impressions=imps).value("style", "romantic")
    assert v.posterior > 0.95 and 0.04 < v.share < 0.06 and v.positive >= 6 and v.state == "learning"
    rules = tuple((f, tuple(r for r in rs if r[0] != "posterior_route_min_share")) for f, rs in DEFAULT_CONFIG.facet_display_rules)
    no_floor = dataclasses.replace(DEFAULT_CONFIG, facet_display_rules=rules)
    assert compute_profile(signals, BY_ID, None, NOW, no_floor, impressions=imps).value("style", "romantic").state == "shown"


def test_a_style_dismissed_as_not_my_style_needs_a_higher_net():
    # Four saves over three days and one "not my style" dismissal: net 0.42 passes the
    # spec's 0.2 but not the style's 0.6, so the style stays "learning".
    minimal = items(lambda p: p["styles"] == ["minimalist"] and p["category"] == "tops", 5)
    signals = [sig("save", p, day=1 + i % 3) for i, p in enumerate(minimal[:4])]
    signals.append(sig("dismiss", minimal[4], reason="not_my_style"))
    v = compute_profile(signals, BY_ID, None, NOW).value("style", "minimalist")
    assert 0.2 < v.net < 0.6 and v.state == "learning"
    assert compute_profile(signals[:4], BY_ID, None, NOW).value("style", "minimalist").state == "shown"
    spec_net = dataclasses.replace(DEFAULT_CONFIG, facet_display_rules=(("style", (("min_exposure_lift", 1.1),)),))
    assert compute_profile(signals, BY_ID, None, NOW, spec_net).value("style", "minimalist").state == "shown"


def test_budget_learned_and_shrunk():
    dresses = sorted(items(lambda p: p["category"] == "dresses" and 60 < p["price"] < 110, 6), key=lambda p: p["price"])
    signals = [sig("purchase", p, day=i) for i, p in enumerate(dresses)]
    prof = compute_profile(signals, BY_ID, None, NOW)
    b = prof.budget["dresses"]
    assert b.state == "shown" and b.source == "learned" and b.items == 6
    # Centred on what was bought (78–110 here); the width is shrunk toward the category's
    # middle band (a handful of purchases says little about how wide a budget is).
    prices = [p["price"] for p in dresses]
    assert 55 < b.min < min(prices) and max(prices) < b.max < 160
    assert abs(math.log(b.min * b.max) / 2 - math.log(sorted(prices)[3])) < 0.15
    thin = compute_profile(signals[:1], BY_ID, None, NOW).budget["dresses"]
    assert thin.state == "learning" and thin.max > thin.min  # one item: pulled toward the category band
    assert thin.confidence < b.confidence


def test_size_dirichlet_and_returns():
    tops = items(lambda p: p["category"] == "tops", 4)
    signals = [sig("purchase", tops[0], day=5, size="M"), sig("purchase", tops[1], day=4, size="M")]
    prof = compute_profile(signals, BY_ID, None, NOW)
    s = prof.size["tops"]
    assert s.size == "M" and s.kept_purchases == 2
    assert s.confidence == pytest.approx(2.5 / (0.5 * 6 + 2), rel=0.01)  # (decayed a few days)
    assert s.state == "learning"  # 0.5 < 0.6
    signals += [sig("purchase", tops[2], day=3, size="M"), sig("purchase", tops[3], day=2, size="S"),
                sig("return", tops[3], day=1, reason="too_small", size="S")]
    prof = compute_profile(signals, BY_ID, None, NOW)
    s = prof.size["tops"]
    assert s.size == "M" and s.kept_purchases == 3 and s.state == "shown"
    assert s.posterior["S"] == pytest.approx(s.posterior["XL"])  # the returned S was not kept
    # A size return never punishes the style.
    style = tops[3]["styles"][0]
    with_return = compute_profile(signals, BY_ID, None, NOW, RAW).value("style", style)
    without = compute_profile(signals[:-1], BY_ID, None, NOW, RAW).value("style", style)
    assert with_return.positive == pytest.approx(without.positive) and with_return.negative == 0


def test_overrides_win_and_sensitive_categories():
    mat = items(lambda p: p["category"] == "maternity", 2)
    signals = [sig("purchase", p, day=i) for i, p in enumerate(mat)] + [sig("search", query="maternity dress navy")]
    prof = compute_profile(signals, BY_ID, None, NOW)
    assert prof.value("category", "maternity") is None and "maternity" not in prof.budget
    assert prof.value("color", "navy") is None  # the whole sensitive query is ignored
    assert all(v.items == 0 for f in prof.facets.values() for v in f.values())
    ov = {"facets": {"category": {"maternity": "pin"}, "color": {"red": "never"}}, "budget": {"tops": [10, 20]},
          "size": {"shoes": "39"}}
    prof = compute_profile(signals, BY_ID, ov, NOW)
    assert prof.value("category", "maternity").state == "pinned"
    assert prof.value("category", "maternity").items == 2  # added by the shopper: now learned from
    assert prof.value("color", "red").state == "never" and prof.value("color", "red").affinity == -1
    assert prof.budget["tops"].locked and (prof.budget["tops"].min, prof.budget["tops"].max) == (10, 20)
    assert prof.size["shoes"].size == "39" and prof.size["shoes"].source == "user"


def test_override_row_form_and_validation():
    rows = [{"kind": "facet", "facet": "style", "value": "edgy", "action": "remove"},
            {"kind": "budget", "category": "bags", "min": 50, "max": 90},
            {"kind": "size", "category": "tops", "size": "L"}]
    ov = normalize_overrides(rows)
    assert ov.action("style", "edgy") == "remove" and ov.budget["bags"] == (50.0, 90.0) and ov.size["tops"] == "L"
    with pytest.raises(ValueError):
        normalize_overrides([{"kind": "facet", "facet": "mood", "value": "x", "action": "pin"}])
    with pytest.raises(ValueError):
        normalize_overrides({"budget": {"bags": [90, 50]}})


def test_to_json_shape_and_roundtrip():
    minimal = items(lambda p: "minimalist" in p["styles"], 5)
    signals = [sig("save", p, day=i, size="M") for i, p in enumerate(minimal)]
    prof = compute_profile(signals, BY_ID, {"facets": {"style": {"edgy": "pin"}}}, NOW)
    j = prof.to_json()
    assert set(j) >= {"facets", "budget", "size", "personalize", "learningPaused", "updatedAt"}
    assert set(j["facets"]) == {"style", "color", "brand", "category"}
    v = j["facets"]["style"][0]
    assert v["value"] == "edgy" and v["state"] == "pinned" and v["source"] == "user" and v["locked"] is True
    for facet in j["facets"].values():
        for v in facet:
            assert set(v) >= {"value", "source", "state", "confidence", "affinity", "evidence"}
            assert set(v["evidence"]) == {"items", "signals", "lastSeen"}
            assert v["state"] in ("shown", "learning", "pinned", "removed", "never")
    for b in j["budget"].values():
        assert set(b) >= {"min", "max", "source", "confidence", "locked"}
    assert j["updatedAt"] == NOW and isinstance(j["updatedAt"], float)
    again = Profile.from_json(j).to_json()
    assert again["facets"] == j["facets"] and again["budget"] == j["budget"]


def test_forgetting_is_recomputation():
    ps = items(lambda p: p["category"] in ("tops", "dresses"), 8)
    signals = [sig("like", p, day=i, _id=f"id{i}") for i, p in enumerate(ps)]
    full = compute_profile(signals, BY_ID, None, NOW).to_json()
    forgot = compute_profile(signals[:4] + signals[5:], BY_ID, None, NOW).to_json()
    assert forgot != full
    assert compute_profile(list(reversed(signals)), BY_ID, None, NOW).to_json() == full  # order-free


def test_a_misspelled_display_rule_or_facet_is_refused():
    with pytest.raises(ValueError, match="unknown rule 'min_shre'"):
        dataclasses.replace(DEFAULT_CONFIG, facet_display_rules=(("style", (("min_shre", 0.1),)),))
    with pytest.raises(ValueError, match="unknown facet 'colour'"):
        dataclasses.replace(DEFAULT_CONFIG, facet_display_rules=(("colour", (("min_share", 0.1),)),))
    with pytest.raises(ValueError, match="appears twice"):
        dataclasses.replace(DEFAULT_CONFIG, facet_display_rules=(("color", (("min_share", 0.1), ("min_share", 0.2))),))
    assert dataclasses.replace(DEFAULT_CONFIG, facet_display_rules=()).show_threshold("style", "min_share") == \
        DEFAULT_CONFIG.show_min_share
