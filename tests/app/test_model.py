"""The learning model: evidence, the facet posteriors, display, budget, size, overrides, privacy rules."""

import dataclasses
import math

import pytest

from functions._lib.catalog import generate_catalog
from functions._lib.config import DAY_MS, DEFAULT_CONFIG, Config, DisplayRule
from functions._lib.evidence import DISMISS_REASONS, RETURN_REASONS
from functions._lib.model import Profile, compute_profile, normalize_overrides

CATALOG = generate_catalog(1500, seed=11)
BY_ID = {p["sku"]: p for p in CATALOG}
NOW = 400 * DAY_MS


def items(pred, n):
    out = [p for p in CATALOG if pred(p)][:n]
    assert len(out) == n
    return out


def sig(type_, p=None, day=0.0, **kw):
    s = {"type": type_, "ts": NOW - day * DAY_MS, **kw}
    if p is not None:
        s["productId"] = p["sku"]
    return s


class Log:
    """Sessions as the app logs them: a search with the results it showed, then what was done with them."""

    def __init__(self):
        self.signals = []

    def session(self, day, query, shown, chosen=(), dismissed=()):
        ts = NOW - day * DAY_MS
        n = len(self.signals)
        self.signals.append({"type": "search", "query": query, "ts": ts, "_id": f"{n:05d}",
                             "shown": [p["sku"] for p in shown]})
        for i, (kind, p) in enumerate(chosen):
            self.signals.append({"type": kind, "productId": p["sku"], "ts": ts + 1000 + i, "_id": f"{n:05d}-{i:02d}"})
        for i, (p, reason) in enumerate(dismissed):
            s = {"type": "dismiss", "productId": p["sku"], "ts": ts + 5000 + i, "_id": f"{n:05d}-d{i}"}
            if reason:
                s["reason"] = reason
            self.signals.append(s)

    def profile(self, config=DEFAULT_CONFIG):
        return compute_profile(self.signals, BY_ID, None, NOW, config)


def test_evidence_weights_and_view_repeats():
    p = items(lambda p: len(p["styles"]) == 1 and len(p["colors"]) == 1, 1)[0]
    style = p["styles"][0]
    for type_, w in (("like", 3), ("save", 4), ("cart", 5), ("purchase", 10)):
        assert compute_profile([sig(type_, p)], BY_ID, None, NOW).value("style", style).positive == pytest.approx(w)
    views = [sig("view", p, day=0.0) for _ in range(4)]
    assert compute_profile(views, BY_ID, None, NOW).value("style", style).positive == pytest.approx(1 + math.log(4))
    prof = compute_profile([sig("search", query="navy dress")], BY_ID, None, NOW)
    assert prof.value("color", "navy").positive == pytest.approx(1.5)
    assert prof.value("category", "dresses").positive == pytest.approx(1.5)
    assert prof.value("color", "navy").searches == 1


def test_time_decay_by_half_life():
    p = items(lambda p: len(p["styles"]) == 1, 1)[0]
    prof = compute_profile([sig("like", p, day=90)], BY_ID, None, NOW)
    assert prof.value("style", p["styles"][0]).positive == pytest.approx(1.5)
    prof = compute_profile([sig("dismiss", p, day=30)], BY_ID, None, NOW)
    assert prof.value("style", p["styles"][0]).negative == pytest.approx(4 * 0.5 * 0.5)


def test_dismissal_reasons_are_codes_naming_one_facet():
    assert DISMISS_REASONS == {"not_my_style": "style", "wrong_color": "color", "too_pricey": "budget",
                               "not_my_brand": "brand", "not_my_category": "category"}
    assert RETURN_REASONS == {"too_small": 1, "too_big": -1, "other": None}
    p = items(lambda p: len(p["colors"]) == 1 and len(p["styles"]) == 1, 1)[0]
    prof = compute_profile([sig("dismiss", p)], BY_ID, None, NOW)
    for facet, v in (("style", p["styles"][0]), ("color", p["colors"][0]), ("brand", p["brand"])):
        assert prof.value(facet, v).negative == pytest.approx(2.0)
    prof = compute_profile([sig("dismiss", p, reason="not_my_style")], BY_ID, None, NOW)
    assert prof.value("style", p["styles"][0]).negative == pytest.approx(6.0)
    assert prof.value("color", p["colors"][0]) is None and prof.value("brand", p["brand"]) is None
    prof = compute_profile([sig("dismiss", p, reason="wrong_color")], BY_ID, None, NOW)
    assert prof.value("color", p["colors"][0]).negative == pytest.approx(6.0)
    assert prof.value("color", p["colors"][0]).affinity < 0  # learned dislikes are negative
    # English is not a code: such a dismissal counts as one without a reason.
    prof = compute_profile([sig("dismiss", p, reason="not my style")], BY_ID, None, NOW)
    assert prof.value("color", p["colors"][0]).negative == pytest.approx(2.0)


def _style_days(log, style, days, other_styles=("sporty", "edgy", "preppy"), category=("tops", "shirts", "knitwear")):
    """``days`` sessions of broad queries whose lists mix ``style`` with others; the shopper saves the ``style`` ones."""
    loved = items(lambda p: p["styles"] == [style] and p["category"] in category, 3 * days)
    other = items(lambda p: len(p["styles"]) == 1 and p["styles"][0] in other_styles and p["category"] in category,
                  6 * days)
    for d in range(days):
        shown = other[6 * d:6 * d + 3] + loved[3 * d:3 * d + 3] + other[6 * d + 3:6 * d + 6]
        log.session(days - d, "tops", shown, chosen=[("view", p) for p in shown[3:6]] + [("save", shown[3])])
    return loved


def test_a_style_chosen_over_what_was_shown_is_shown_with_its_posterior():
    log = Log()
    _style_days(log, "minimalist", 6)
    prof = log.profile()
    v = prof.value("style", "minimalist")
    assert v.posterior > DEFAULT_CONFIG.display["style"].min_posterior and v.state == "shown"
    assert v.confidence == v.posterior and v.prior < 0.5 and v.affinity > 0.5
    assert v.items == 18 and v.days == 6
    for other in ("sporty", "edgy", "preppy"):  # shown as often, never chosen
        o = prof.value("style", other)
        assert o is None or (o.state == "learning" and o.posterior < o.prior)
    # One session is not enough to be sure.
    one = Log()
    _style_days(one, "minimalist", 1)
    assert one.profile().value("style", "minimalist").state == "learning"


def test_a_style_riding_along_with_a_loved_one_is_not_shown():
    # Each day the results show minimalist+classic tops, minimalist tops and other styles (and,
    # on five of the days, a classic-only top); the shopper saves the minimalist ones, with or
    # without classic, and looks once at a classic-only top. Classic has a quarter of the
    # saves, but only minimalist is needed to explain the choices.
    tops = ("tops", "shirts", "knitwear")
    solo = items(lambda p: p["styles"] == ["minimalist"] and p["category"] in tops, 12)
    both = items(lambda p: sorted(p["styles"]) == ["classic", "minimalist"] and p["category"] in tops, 12)
    rider = items(lambda p: p["styles"] == ["classic"] and p["category"] in tops, 6)
    other = items(lambda p: p["styles"] in (["sporty"], ["edgy"]) and p["category"] in tops, 24)
    log = Log()
    for day in range(6):
        shown = (both[2 * day:2 * day + 2] + other[4 * day:4 * day + 2] + solo[2 * day:2 * day + 2]
                 + other[4 * day + 2:4 * day + 4] + (rider[day:day + 1] if day < 5 else []))
        chosen = [("save", p) for p in shown[:2] + shown[4:5]] + ([("view", rider[0])] if day == 0 else [])
        log.session(6 - day, "tops", shown, chosen=chosen)
    prof = log.profile()
    classic, minimalist = prof.value("style", "classic"), prof.value("style", "minimalist")
    assert minimalist.state == "shown" and minimalist.posterior >= DEFAULT_CONFIG.display["style"].min_posterior
    assert classic.share > 0.2 and classic.state == "learning" and classic.posterior < 0.5


def test_results_a_query_picked_say_nothing_about_what_it_named():
    # Seven days of "black top" searches: every list is black, and the shopper picks from
    # it. The searches are the evidence for black; the black picks are not more of it.
    black = items(lambda p: p["colors"] == ["black"] and p["category"] == "tops", 35)
    log = Log()
    for day in range(7):
        shown = black[day * 5:day * 5 + 5]
        log.session(7 - day, "black top", shown, chosen=[("save", shown[0]), ("save", shown[1])])
    searched = log.profile().value("color", "black").posterior
    plain = Log()
    for day in range(7):  # the same picks, the lists shown for "tops" instead
        shown = black[day * 5:day * 5 + 5]
        plain.session(7 - day, "tops", shown, chosen=[("save", shown[0]), ("save", shown[1])])
    assert plain.profile().value("color", "black").posterior < 0.5  # nothing but black was on offer
    assert searched > 0.9  # seven searches naming it


def test_one_search_naming_a_colour_is_not_enough_to_show_it():
    log = Log()
    log.session(3, "green dress", items(lambda p: "green" in p["colors"] and p["category"] == "dresses", 6))
    v = log.profile().value("color", "green")
    assert v.searches == 1 and v.items == 0
    assert v.posterior < DEFAULT_CONFIG.display["color"].min_posterior and v.state == "learning"


def test_categories_come_from_what_sessions_were_about():
    log = Log()
    dresses = items(lambda p: p["category"] == "dresses", 30)
    for day in range(6):
        log.session(10 - day, "dress", dresses[5 * day:5 * day + 5], chosen=[("view", dresses[5 * day])])
    bag = items(lambda p: p["category"] == "bags", 5)
    log.session(2, "bag", bag, chosen=[("view", bag[0])])  # once: could be anyone's
    prof = log.profile()
    assert prof.value("category", "dresses").state == "shown"
    assert prof.value("category", "bags").state == "learning"


def test_display_rules_are_typed_and_validated():
    with pytest.raises(TypeError):
        DisplayRule(min_posterier=0.9)  # a misspelled rule is an error, never ignored
    with pytest.raises(ValueError):
        DisplayRule(1.5)
    with pytest.raises(ValueError):
        DisplayRule(0.9, max_values=0)
    with pytest.raises(ValueError, match="display"):
        dataclasses.replace(DEFAULT_CONFIG, display={"style": DisplayRule(0.9)})  # facets missing
    with pytest.raises(ValueError, match="display"):
        dataclasses.replace(DEFAULT_CONFIG, display={**DEFAULT_CONFIG.display, "colour": DisplayRule(0.9)})
    with pytest.raises(TypeError):
        dataclasses.replace(DEFAULT_CONFIG, display={**DEFAULT_CONFIG.display, "style": 0.9})
    with pytest.raises(ValueError, match="likelihood_power"):
        Config(likelihood_power={"style": 1.0})
    # The rule is the one threshold: lowered, the one-session style is shown.
    log = Log()
    _style_days(log, "minimalist", 1)
    v = log.profile().value("style", "minimalist")
    low = dataclasses.replace(DEFAULT_CONFIG, display={**DEFAULT_CONFIG.display, "style": DisplayRule(v.posterior)})
    assert log.profile(low).value("style", "minimalist").state == "shown"


def test_budget_learned_against_the_prices_shown():
    # Lists of dresses at every price; the shopper engages with the ones around 80-120.
    dresses = sorted(items(lambda p: p["category"] == "dresses", 160), key=lambda p: p["price"])
    log = Log()
    for day in range(8):
        shown = dresses[day::8]
        picks = [p for p in shown if 80 <= p["price"] <= 120][:3]
        log.session(10 - day, "dress", shown, chosen=[("view", p) for p in picks] + [("save", p) for p in picks])
    b = log.profile().budget["dresses"]
    assert b.source == "learned" and b.items >= 8
    assert 65 < math.sqrt(b.min * b.max) < 130  # centred on what was chosen
    assert b.min < 90 < 110 < b.max
    thin = Log()
    thin.session(1, "dress", dresses[::8], chosen=[("save", next(p for p in dresses if p["price"] > 80))])
    t = thin.profile().budget["dresses"]
    assert t.state == "learning" and t.confidence < b.confidence and t.sd > b.sd


def test_price_level_is_pooled_across_categories():
    # Premium choices in tops and shirts; one bag looked at. The bag budget leans toward the
    # shopper's price level, not the catalogue's middle.
    def top_priced(cat, n):
        return sorted((p for p in CATALOG if p["category"] == cat), key=lambda p: -p["price"])[5:5 + n]
    signals = [sig("purchase", p, day=i, _id=f"p{i}") for i, p in enumerate(top_priced("tops", 6) + top_priced("shirts", 6))]
    bags = sorted((p for p in CATALOG if p["category"] == "bags"), key=lambda p: p["price"])
    middle = bags[len(bags) // 2]
    signals.append(sig("like", middle, day=1, _id="bag"))
    b = compute_profile(signals, BY_ID, None, NOW).budget["bags"]
    assert math.sqrt(b.min * b.max) > middle["price"] * 1.3


def test_size_dirichlet_and_returns():
    tops = items(lambda p: p["category"] == "tops", 4)
    signals = [sig("purchase", tops[0], day=5, size="M"), sig("purchase", tops[1], day=4, size="M")]
    s = compute_profile(signals, BY_ID, None, NOW).size["tops"]
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
    without = compute_profile(signals[:-1], BY_ID, None, NOW).value("style", style)
    assert prof.value("style", style).positive == pytest.approx(without.positive)
    assert prof.value("style", style).negative == 0


def test_size_evidence_is_pooled_within_a_size_system():
    tops = items(lambda p: p["category"] == "tops", 3)
    shirts = items(lambda p: p["category"] == "shirts", 2)
    signals = [sig("purchase", p, day=i, size="L", _id=f"t{i}") for i, p in enumerate(tops)]
    # One shirt in L, one (a gift) in S: a tie on its own, the tops break it.
    signals += [sig("purchase", shirts[0], day=5, size="L", _id="s0"), sig("purchase", shirts[1], day=4, size="S", _id="s1")]
    prof = compute_profile(signals, BY_ID, None, NOW)
    assert prof.size["shirts"].size == "L" and prof.size["shirts"].kept_purchases == 2
    assert abs(sum(prof.size["shirts"].posterior.values()) - 1.0) < 1e-9


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
    log = Log()
    _style_days(log, "minimalist", 5)
    prof = compute_profile(log.signals, BY_ID, {"facets": {"style": {"edgy": "pin"}}}, NOW)
    j = prof.to_json()
    assert set(j) >= {"facets", "budget", "size", "personalize", "learningPaused", "updatedAt"}
    assert set(j["facets"]) == {"style", "color", "brand", "category"}
    v = j["facets"]["style"][0]
    assert v["value"] == "edgy" and v["state"] == "pinned" and v["source"] == "user" and v["locked"] is True
    for facet in j["facets"].values():
        for v in facet:
            assert set(v) >= {"value", "source", "state", "confidence", "affinity", "evidence", "posterior", "prior"}
            assert set(v["evidence"]) == {"items", "signals", "days", "searches", "lastSeen"}
            assert v["state"] in ("shown", "learning", "pinned", "removed", "never")
    for b in j["budget"].values():
        assert set(b) >= {"min", "max", "source", "confidence", "locked", "sd", "prior"}
    assert j["updatedAt"] == NOW and isinstance(j["updatedAt"], float)
    # What the ranker reads comes back from the stored JSON (the posterior the explore ranks test).
    back = Profile.from_json(j)
    assert back.value("style", "minimalist").posterior == j["facets"]["style"][1]["posterior"]
    again = back.to_json()
    assert again["facets"] == j["facets"] and again["budget"] == j["budget"]


def test_forgetting_is_recomputation():
    ps = items(lambda p: p["category"] in ("tops", "dresses"), 8)
    signals = [sig("like", p, day=i, _id=f"id{i}") for i, p in enumerate(ps)]
    full = compute_profile(signals, BY_ID, None, NOW).to_json()
    forgot = compute_profile(signals[:4] + signals[5:], BY_ID, None, NOW).to_json()
    assert forgot != full
    assert compute_profile(list(reversed(signals)), BY_ID, None, NOW).to_json() == full  # order-free
