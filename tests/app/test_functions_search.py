"""search:personalized and the search-engine adapter."""

from collections import Counter

from functions._lib.catalog import generate_catalog
from functions._lib.engines import BuiltinFtsEngine, Retrieved, SearchAdapter, SyncEngineAdapter, bm25_rescore
from functions._lib.ranking import SearchEngine

from .appbackend import backend, products, seeded_template, settle  # noqa: F401 — fixtures
from .test_functions_learning import save_some


def ids(result):
    return [r["product"]["_id"] for r in result["results"]]


async def test_results_have_products_scores_and_reasons(backend):
    alice = backend.as_user("alice")
    r = await alice.action("search:personalized", {"query": "dress", "limit": 10})
    assert 0 < len(r["results"]) <= 10 and r["matched"] >= len(r["results"])
    for item in r["results"]:
        assert item["reasons"] and isinstance(item["score"], float)
        assert set(item["product"]) >= {"_id", "sku", "title", "category", "brand", "price", "styles", "colors",
                                        "sizes", "imageUrl"}
    assert r["results"][0]["product"]["category"] == "dresses"
    assert (await alice.action("search:personalized", {"query": "   "}))["results"] == []
    cat = await alice.action("search:personalized", {"query": "black", "category": "shoes", "limit": 50})
    assert cat["results"] and all(x["product"]["category"] == "shoes" for x in cat["results"])


async def test_personalisation_reorders_and_can_be_switched_off(backend):
    alice, bob = backend.as_user("alice"), backend.as_user("bob")
    liked = [p for p in backend.table("products") if "minimalist" in p["styles"]][:12]
    await save_some(backend, alice, liked, days=4)
    prof = await alice.query("preferences:get")
    assert "minimalist" in [v["value"] for v in prof["facets"]["style"] if v["state"] == "shown"]
    q = {"query": "black", "limit": 20}
    off = await alice.action("search:personalized", {**q, "personalize": False})
    anonymous_profile = await bob.action("search:personalized", q)
    assert not off["personalized"] and ids(off) == ids(anonymous_profile)
    on = await alice.action("search:personalized", q)
    assert on["personalized"] and ids(on) != ids(off)

    def minimalist(result, n=10):
        return sum("minimalist" in r["product"]["styles"] for r in result["results"][:n])

    assert minimalist(on) > minimalist(off)
    assert any("minimalist" in reason for r in on["results"][:10] for reason in r["reasons"])
    # guardrail: at most 3 of one brand in the top 10
    assert max(Counter(r["product"]["brand"] for r in on["results"][:10]).values()) <= 3
    # the shopper's own switch
    await alice.mutation("preferences:set_personalize", {"enabled": False})
    assert ids(await alice.action("search:personalized", q)) == ids(off)


async def test_log_search_records_a_signal_with_what_it_showed(backend):
    alice = backend.as_user("alice")
    found = await alice.action("search:personalized", {"query": "navy dress", "logSearch": True, "limit": 5})
    assert [(s["type"], s["query"]) for s in backend.table("signals")] == [("search", "navy dress")]
    # The learner measures choices against what searches showed, so the list is kept.
    assert backend.table("signals")[0]["shown"] == ids(found)


async def test_a_reason_names_only_the_words_a_result_matched(backend):
    # The generated catalogue has nothing floral: "floral dress" finds dresses, each
    # matching "dress" only, and the answer says that most of the query matched nothing.
    alice = backend.as_user("alice")
    r = await alice.action("search:personalized", {"query": "floral dress", "limit": 20})
    assert r["results"] and r["terms"] == ["floral", "dress"] and r["unmatchedTerms"] == ["floral"]
    assert r["mostlyUnmatched"] is True
    for item in r["results"]:
        assert "matches “floral dress”" not in item["reasons"]
        assert all("floral" not in reason for reason in item["reasons"])
    assert any("matches “dress”" in item["reasons"] for item in r["results"])
    navy = await alice.action("search:personalized", {"query": "navy dress", "limit": 20})
    assert navy["unmatchedTerms"] == [] and navy["mostlyUnmatched"] is False
    both = [x for x in navy["results"] if "navy" in x["product"]["colors"] and x["product"]["category"] == "dresses"]
    assert both and all("matches “navy dress”" in x["reasons"] for x in both[:3])
    none = await alice.action("search:personalized", {"query": "zzzz qqqq"})
    assert none["results"] == [] and none["unmatchedTerms"] == ["zzzz", "qqqq"] and none["mostlyUnmatched"] is True


def test_bm25_rescore_prefers_docs_matching_more_terms_and_prefix():
    docs = [{"title": "Red Shoes", "description": ""}, {"title": "Navy Dress", "description": "a dress"},
            {"title": "Navy Coat", "description": ""}, {"title": "Dresses", "description": ""}]
    found = bm25_rescore("navy dres", docs, corpus_size=100)
    assert [d["title"] for d, _, _ in found.candidates][:1] == ["Navy Dress"]
    assert {d["title"] for d, s, _ in found.candidates if s > 0} == {"Navy Dress", "Navy Coat", "Dresses"}
    matched = {d["title"]: m for d, _, m in found.candidates}
    assert matched == {"Navy Dress": ("navy", "dres"), "Navy Coat": ("navy",), "Dresses": ("dres",), "Red Shoes": ()}
    assert found.terms == ("navy", "dres") and found.unmatched == ()
    floral = bm25_rescore("floral dress", docs[1:2], corpus_size=100)
    assert floral.unmatched == ("floral",) and floral.mostly_unmatched
    assert not bm25_rescore("navy floral dress", docs[1:2], corpus_size=100).mostly_unmatched


class CategoryEngine:
    """An external engine stand-in: products whose category starts with a query word, by price."""

    def __init__(self, products):
        self.products = products

    def search(self, query, filters, limit):
        words = query.lower().split()
        hits = [p for p in self.products if any(p["category"].startswith(w) for w in words)
                and all(p.get(k) == v for k, v in (filters or {}).items())]
        return [(p["sku"], 1.0 / p["price"]) for p in hits][:limit]


async def test_engine_adapters():
    catalog = generate_catalog(300, seed=3)
    by_sku = {p["sku"]: p for p in catalog}

    async def load(pids):
        return {pid: by_sku[pid] for pid in pids}

    engine = CategoryEngine(catalog)
    assert isinstance(engine, SearchEngine)
    adapter = SyncEngineAdapter(engine, load)
    assert isinstance(adapter, SearchAdapter)
    found = await adapter.search("navy dress", {"category": "dresses"}, 20)
    assert found.candidates and all(p["category"] == "dresses" for p, _, _ in found.candidates)
    # Matched words are read off each product's own text, whatever the engine matched on.
    for p, _, matched in found.candidates:
        assert ("navy" in matched) == ("navy" in " ".join([p["title"], p["description"], *p["colors"]]).lower())
        assert "dress" in matched

    async def retrieve(query, filters, cap):
        found = bm25_rescore(query, catalog, len(catalog))
        return Retrieved(found.candidates[:cap], found.terms, found.unmatched)

    builtin = BuiltinFtsEngine(retrieve)
    assert isinstance(builtin, SearchAdapter)
    assert len((await builtin.search("dress", None, 5)).candidates) == 5
