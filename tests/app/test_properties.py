"""Property tests: overrides are untouchable by learning; forgetting is exact recomputation."""

from hypothesis import given, settings, strategies as st

from functions._lib.catalog import generate_catalog
from functions._lib.config import DAY_MS
from functions._lib.model import compute_profile

CATALOG = generate_catalog(400, seed=21)
BY_ID = {p["sku"]: p for p in CATALOG}
NOW = 200 * DAY_MS
REASONS = [None, "not_my_style", "too_pricey", "wrong_color", "not_my_brand", "not_my_category", "too_small",
           "too_big", "other"]
QUERIES = ["navy dress", "boho skirt", "black boots", "Linea coat", "maternity jeans", "sweater", "red tote"]

signal = st.one_of(
    st.builds(
        lambda t, i, day, reason, size: {k: v for k, v in {
            "type": t, "productId": CATALOG[i]["sku"], "ts": NOW - day * DAY_MS, "reason": reason,
            "size": size}.items() if v is not None},
        st.sampled_from(["view", "like", "save", "purchase", "dismiss", "return", "cart"]),
        st.integers(0, len(CATALOG) - 1),
        st.floats(0, 200),
        st.sampled_from(REASONS),
        st.sampled_from([None, "M", "S", "38", "40", "L"]),
    ),
    # A search with the results it showed: later signals on them are choices from that list.
    st.builds(lambda q, day, shown: {"type": "search", "query": q, "ts": NOW - day * DAY_MS,
                                     **({"shown": [CATALOG[i]["sku"] for i in shown]} if shown else {})},
              st.sampled_from(QUERIES), st.floats(0, 200),
              st.lists(st.integers(0, len(CATALOG) - 1), max_size=12, unique=True)),
)



@st.composite
def session(draw):
    """A search, the results it showed, and what was done with some of them minutes later."""
    day = draw(st.floats(0, 200))
    shown = draw(st.lists(st.integers(0, len(CATALOG) - 1), min_size=1, max_size=12, unique=True))
    out = [{"type": "search", "query": draw(st.sampled_from(QUERIES)), "ts": NOW - day * DAY_MS,
            "shown": [CATALOG[i]["sku"] for i in shown]}]
    for k in draw(st.lists(st.sampled_from(shown), max_size=6)):
        kind = draw(st.sampled_from(["view", "like", "save", "cart", "purchase", "dismiss"]))
        reason = draw(st.sampled_from(REASONS)) if kind == "dismiss" else None
        out.append({"type": kind, "productId": CATALOG[k]["sku"], "ts": NOW - day * DAY_MS + 60_000 * len(out),
                    **({"reason": reason} if reason else {})})
    return out


signals = st.lists(st.one_of(signal.map(lambda s: [s]), session()), max_size=12).map(
    lambda groups: [dict(s, _id=f"s{i}") for i, s in enumerate(s for g in groups for s in g)])

OVERRIDES = {
    "facets": {
        "style": {"minimalist": "pin", "edgy": "never", "bohemian": "remove"},
        "color": {"navy": "never", "black": "pin"},
        "brand": {"Linea": "remove"},
        "category": {"dresses": "pin"},
    },
    "budget": {"dresses": [40.0, 90.0], "tops": [10.0, 30.0]},
    "size": {"tops": "M", "shoes": "40"},
}
STATE = {"pin": "pinned", "remove": "removed", "never": "never"}


@settings(max_examples=150, deadline=None)
@given(signals)
def test_no_signals_change_an_overridden_value(sigs):
    prof = compute_profile(sigs, BY_ID, OVERRIDES, NOW)
    for facet, values in OVERRIDES["facets"].items():
        for value, action in values.items():
            v = prof.value(facet, value)
            assert v.state == STATE[action] and v.source == "user" and v.locked
            assert v.affinity == {"pin": 1.0, "remove": 0.0, "never": -1.0}[action] and v.confidence == 1.0
    for cat, (lo, hi) in OVERRIDES["budget"].items():
        b = prof.budget[cat]
        assert (b.min, b.max, b.source, b.locked) == (lo, hi, "user", True)
    for cat, size in OVERRIDES["size"].items():
        s = prof.size[cat]
        assert (s.size, s.source, s.locked) == (size, "user", True)
    # Overrides are inputs: the learner never adds one the shopper did not set.
    j = prof.to_json()
    user_values = {(f, v["value"]) for f, vs in j["facets"].items() for v in vs if v["source"] == "user"}
    assert user_values == {(f, v) for f, vs in OVERRIDES["facets"].items() for v in vs}


@settings(max_examples=150, deadline=None)
@given(signals, st.data())
def test_forgetting_equals_recomputation_without(sigs, data):
    forget = data.draw(st.sets(st.sampled_from(range(len(sigs))))) if sigs else set()
    kept = [s for i, s in enumerate(sigs) if i not in forget]
    after = compute_profile(kept, BY_ID, OVERRIDES, NOW)
    # A fresh computation over an independently built copy gives the identical profile,
    # whatever order the rows come back in from storage.
    shuffled = data.draw(st.permutations([dict(s) for s in kept]))
    assert compute_profile(shuffled, BY_ID, OVERRIDES, NOW).to_json() == after.to_json()
    # Forgetting everything leaves only the overrides.
    empty = compute_profile([], BY_ID, OVERRIDES, NOW).to_json()
    assert all(v["source"] == "user" for vs in empty["facets"].values() for v in vs)


@settings(max_examples=100, deadline=None)
@given(signals)
def test_profile_is_deterministic_and_bounded(sigs):
    a = compute_profile(sigs, BY_ID, None, NOW)
    assert a.to_json() == compute_profile(list(sigs), BY_ID, None, NOW).to_json()
    for vals in a.facets.values():
        shown = [v for v in vals.values() if v.state == "shown"]
        assert len(shown) <= 5
        for v in vals.values():
            assert -1.0 <= v.affinity <= 1.0 and 0.0 <= v.confidence <= 1.0
    for b in a.budget.values():
        assert 0 < b.min <= b.max
    for s in a.size.values():
        assert abs(sum(s.posterior.values()) - 1.0) < 1e-9
    assert "maternity" not in a.budget and a.value("category", "maternity") is None
