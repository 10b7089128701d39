"""Lift against what the shopper was shown (impressions), price level, size pooling."""

import dataclasses
import math
import random

from functions._lib.catalog import generate_catalog
from functions._lib.config import DAY_MS, DEFAULT_CONFIG
from functions._lib.exposure import fit_exposure, normalize_impressions
from functions._lib.model import compute_profile

CATALOG = generate_catalog(1500, seed=11)
BY_ID = {p["sku"]: p for p in CATALOG}
NOW = 400 * DAY_MS


def test_fit_recovers_planted_preferences_against_what_was_shown():
    rng = random.Random(3)
    colors, styles, brands = ["black", "white", "navy", "red"], ["a", "b", "c"], ["X", "Y", "Z"]
    true = {"black": 1.0, "white": 1.0, "navy": 3.0, "red": 0.5, "a": 4.0, "b": 1.0, "c": 1.0, "X": 2.0, "Y": 1.0, "Z": 1.0}
    products = {i: {"styles": [rng.choice(styles)], "colors": [rng.choice(colors)], "brand": rng.choice(brands),
                    "price": 50.0, "category": "tops"} for i in range(400)}
    imps, choices = [], []
    for k in range(300):
        ids = rng.sample(range(400), 20)
        imps.append((k * 1e6, ids))
        w = [true[products[i]["styles"][0]] * true[products[i]["colors"][0]] * true[products[i]["brand"]]
             / math.log2(pos + 2) for pos, i in enumerate(ids)]
        for _ in range(3):
            choices.append((rng.choices(ids, weights=w)[0], 1.0, k * 1e6 + 10))
    fit = fit_exposure(choices, imps, products, {"tops": math.log(50)}, DEFAULT_CONFIG, lambda c: True)
    th = fit.theta
    assert th[("color", "navy")] / th[("color", "black")] > 2.0
    assert th[("color", "red")] < th[("color", "white")]
    assert th[("style", "a")] / th[("style", "b")] > 2.5
    assert th[("brand", "X")] / th[("brand", "Y")] > 1.4


def _all_black_lists() -> tuple[list[dict], list[dict]]:
    """Twelve days of result lists that show only black tops, two of each saved."""
    black = [p for p in CATALOG if p["colors"] == ["black"] and p["category"] == "tops"][:60]
    signals, imps = [], []
    for day in range(12):
        shown = black[day * 5:day * 5 + 5]
        ts = NOW - (12 - day) * DAY_MS
        signals.append({"type": "search", "query": "tops", "ts": ts, "_id": f"q{day}"})
        imps.append({"ts": ts, "productIds": [p["sku"] for p in shown]})
        signals += [{"type": "save", "productId": p["sku"], "ts": ts + 1000 + i, "_id": f"s{day}-{i}"} for i, p in enumerate(shown[:2])]
    return signals, imps


def test_feedback_loop_is_not_a_preference():
    # Every list shown is all black and the shopper picks from it: a catalogue lift calls
    # that a love of black; measured against what was shown, it is no preference at all.
    signals, imps = _all_black_lists()
    plain = compute_profile(signals, BY_ID, None, NOW)
    seen = compute_profile(signals, BY_ID, None, NOW, impressions=imps)
    assert plain.value("color", "black").lift > 3
    assert seen.value("color", "black").exposure_lift is not None
    assert seen.value("color", "black").exposure_lift < 1.3


def test_ranking_affinity_uses_the_lift_against_what_was_shown():
    # Same feedback loop: with impressions the ranker's affinity for black comes from θ
    # (config.impression_rank_lift), so the profile stops pushing what it already showed.
    import dataclasses
    signals, imps = _all_black_lists()
    assert DEFAULT_CONFIG.impression_rank_lift
    by_theta = compute_profile(signals, BY_ID, None, NOW, impressions=imps).value("color", "black")
    off = dataclasses.replace(DEFAULT_CONFIG, impression_rank_lift=False)
    by_catalogue = compute_profile(signals, BY_ID, None, NOW, off, impressions=imps).value("color", "black")
    assert by_catalogue.affinity > 0.3
    assert by_theta.affinity < 0.5 * by_catalogue.affinity


def test_impressions_on_search_signals_are_forgotten_with_them():
    ps = [p for p in CATALOG if p["category"] == "dresses"][:30]
    signals = []
    for day in range(6):
        ts = NOW - (6 - day) * DAY_MS
        shown = ps[day * 5:day * 5 + 5]
        signals.append({"type": "search", "query": "dress", "ts": ts, "_id": f"q{day}", "shown": [p["sku"] for p in shown]})
        signals.append({"type": "like", "productId": shown[0]["sku"], "ts": ts + 5, "_id": f"l{day}"})
    assert len(normalize_impressions(None, signals)) == 6
    kept = [s for s in signals if s["_id"] != "q2"]
    explicit = [{"ts": s["ts"], "productIds": s["shown"]} for s in kept if s["type"] == "search"]
    stripped = [{k: v for k, v in s.items() if k != "shown"} for s in kept]
    a = compute_profile(kept, BY_ID, None, NOW).to_json()
    b = compute_profile(stripped, BY_ID, None, NOW, impressions=explicit).to_json()
    assert a == b


def test_price_level_is_pooled_across_categories():
    # A premium shopper: many purchases near the top of tops' and shirts' prices; one
    # cheap-ish bag. The bag budget leans toward their price level, not just that bag.
    def top_priced(cat, n):
        return sorted((p for p in CATALOG if p["category"] == cat), key=lambda p: -p["price"])[5:5 + n]
    signals = [{"type": "purchase", "productId": p["sku"], "ts": NOW - i * DAY_MS, "_id": f"p{i}"}
               for i, p in enumerate(top_priced("tops", 6) + top_priced("shirts", 6))]
    bag = sorted((p for p in CATALOG if p["category"] == "bags"), key=lambda p: p["price"])[len([1 for p in CATALOG if p["category"] == "bags"]) // 2]
    signals.append({"type": "like", "productId": bag["sku"], "ts": NOW - DAY_MS, "_id": "bag"})
    prof = compute_profile(signals, BY_ID, None, NOW)
    b = prof.budget["bags"]
    assert math.sqrt(b.min * b.max) > bag["price"] * 1.3


def test_size_evidence_is_pooled_within_a_size_system():
    tops = [p for p in CATALOG if p["category"] == "tops"][:3]
    shirts = [p for p in CATALOG if p["category"] == "shirts"][:2]
    signals = [{"type": "purchase", "productId": p["sku"], "size": "L", "ts": NOW - i * DAY_MS, "_id": f"t{i}"} for i, p in enumerate(tops)]
    # One shirt in L, one (a gift) in S: a tie on its own, the tops break it.
    signals += [{"type": "purchase", "productId": shirts[0]["sku"], "size": "L", "ts": NOW - 5 * DAY_MS, "_id": "s0"},
                {"type": "purchase", "productId": shirts[1]["sku"], "size": "S", "ts": NOW - 4 * DAY_MS, "_id": "s1"}]
    prof = compute_profile(signals, BY_ID, None, NOW)
    assert prof.size["shirts"].size == "L" and prof.size["shirts"].kept_purchases == 2
    assert abs(sum(prof.size["shirts"].posterior.values()) - 1.0) < 1e-9


def test_style_posterior_reads_lists_without_choices_and_leaves_theta_alone():
    # A list with nothing chosen is evidence for the style-set model, but it must not give
    # its values a θ (the ranker uses θ only for values seen where the shopper chose).
    products = {i: {"styles": ["a"] if i < 10 else ["z"], "colors": ["black"], "brand": "X", "price": 50.0,
                    "category": "tops"} for i in range(20)}
    imps = [(0.0, list(range(10))), (1e6, list(range(10, 20)))]
    choices = [(i, 1.0, 10.0) for i in range(4)]
    fit = fit_exposure(choices, imps, products, {"tops": math.log(50)}, DEFAULT_CONFIG, lambda c: True)
    assert ("style", "z") not in fit.theta and ("style", "a") in fit.theta
    assert fit.style_posterior["a"] > 0.9 and fit.style_posterior["z"] == 0.0


def _two_loved_styles_one_shown_overpriced(seed: int) -> tuple[list, list, dict]:
    """Styles a and b are loved, c is not; most b items (and half the c items) are four
    times the shopper's price, which they rarely choose whatever the style."""
    rng = random.Random(seed)
    products = {}
    for i in range(300):
        st = "a" if i < 100 else "b" if i < 200 else "c"
        dear = st != "a" and rng.random() < (0.75 if st == "b" else 0.5)
        products[i] = {"styles": [st], "colors": ["black"], "brand": "X", "price": 200.0 if dear else 50.0,
                       "category": "tops"}
    appeal = {"a": 4.0, "b": 4.0, "c": 1.0}
    imps, choices = [], []
    for k in range(150):
        ids = rng.sample(range(300), 20)
        imps.append((k * 1e6, ids))
        w = [appeal[products[i]["styles"][0]] * (0.1 if products[i]["price"] > 100 else 1.0) / math.log2(pos + 2)
             for pos, i in enumerate(ids)]
        choices += [(rng.choices(ids, weights=w)[0], 1.0, k * 1e6 + 10) for _ in range(3)]
    return choices, imps, products


def test_style_set_fits_with_the_higher_rate_and_explains_price_away():
    # The set model's "fitting" items must be the ones chosen more often: unconstrained,
    # {c} (the disliked style, chosen at the lower rate) explained the choices exactly as
    # well as {a, b} and, being one style, won (posterior of c 0.62). And the overpriced b
    # items the shopper passed over are not held against b once price explains them.
    for seed in (1, 2, 3):
        choices, imps, products = _two_loved_styles_one_shown_overpriced(seed)
        mid = {"tops": math.log(50)}
        post = fit_exposure(choices, imps, products, mid, DEFAULT_CONFIG, lambda c: True).style_posterior
        assert post["a"] > 0.95 and post["b"] > 0.95 and post["c"] < 0.05
        plain = dataclasses.replace(DEFAULT_CONFIG, style_set_explain=())
        assert fit_exposure(choices, imps, products, mid, plain, lambda c: True).style_posterior["b"] < 0.5


def test_price_level_is_not_pushed_up_by_cheap_items_of_a_style_never_chosen():
    # The shopper picks style a around the category's middle price; the cheap items in
    # their lists are all of style c, which they never want. Passing those over says
    # nothing about price: with each item's exposure scaled by its style θ the level stays
    # near the truth (0); read as price evidence, they push it up.
    for seed in (1, 2, 3):
        rng = random.Random(seed)
        products = {}
        for i in range(300):
            st, z = ("a", rng.gauss(0.0, 0.3)) if i < 150 else ("c", rng.gauss(-0.8, 0.2))
            products[i] = {"styles": [st], "colors": ["black"], "brand": "X", "price": 50.0 * math.exp(z), "category": "tops"}
        imps, choices = [], []
        for k in range(60):
            ids = rng.sample(range(300), 20)
            imps.append((k * 1e6, ids))
            w = [(1.0 if products[i]["styles"] == ["a"] else 0.02) * math.exp(-math.log(products[i]["price"] / 50) ** 2 / 0.245)
                 / math.log2(pos + 2) for pos, i in enumerate(ids)]
            choices += [(rng.choices(ids, weights=w)[0], 1.0, k * 1e6 + 10) for _ in range(2)]
        mid = {"tops": math.log(50)}
        level = fit_exposure(choices, imps, products, mid, DEFAULT_CONFIG, lambda c: True).price_level
        plain = dataclasses.replace(DEFAULT_CONFIG, budget_level_explain=())
        assert abs(level) < 0.06
        assert fit_exposure(choices, imps, products, mid, plain, lambda c: True).price_level > 0.1
