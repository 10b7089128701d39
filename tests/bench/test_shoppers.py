"""The simulated-shopper benchmark measures what runs: its retrieval is search:personalized's,
its populations come from their ranges, its held-out seeds are never the fitting ones."""

from __future__ import annotations

import json
import math
import re

import pytest

from bench import shoppers
from bench.catalogues import CatalogueSpec, CatalogueView, build_catalogue
from bench.populations import SPLITS, catalogues, draw
from bench.retrieval import Retrieval, match_expression
from functions._lib.catalog import (
    CATEGORY_NOUNS, COLORS, FITS, MATERIALS, STYLE_WORDS, compute_catalog_stats,
)
from functions._lib.text import tokenize
from tests.app.appbackend import backend, seeded_template  # noqa: F401 — fixtures

QUERIES = ["dress", "navy dress", "boho skirt", "floral dress", "black", "Linea coat", "t-shirt", "dres", "zzzz"]


async def test_retrieval_is_search_personalized_s(backend):
    # The app's own internal query on a real seeded database, against the benchmark's copy
    # of the runtime's FTS semantics over the same products.
    alice = backend.as_user("alice")
    retrieve = backend.backend.registry.get("search:_retrieve", allow_internal=True)
    products = backend.table("products")
    mine = Retrieval(products)
    for query in QUERIES:
        theirs = (await backend.app.run(retrieve, {"query": query, "cap": 2000.0, "withProfile": False},
                                        alice.identity)).unwrap()
        served = {p["_id"]: (rel, tuple(matched)) for p, rel, matched in json.loads(theirs["candidates"])}
        found = mine.search(query)
        ours = {p["_id"]: (round(rel, 6), matched) for p, rel, matched in found.candidates}
        assert ours == served, query
        assert list(found.terms) == theirs["terms"] and list(found.unmatched) == theirs["unmatched"], query


def test_match_expression_is_the_runtimes():
    assert match_expression("Navy  Dress") == '"navy" OR "dress" OR "dress"*'
    assert match_expression("café") == '"cafe" OR "cafe"*'
    assert match_expression("  ") is None


def test_populations_are_drawn_from_their_ranges_and_the_splits_never_share_a_seed():
    fit = [draw("fit", i) for i in range(60)]
    held = [draw("heldout", i) for i in range(60)]
    assert not {p.seed for p in fit} & {p.seed for p in held}
    assert not {c.seed for c in catalogues("fit")} & {c.seed for c in catalogues("heldout")}
    assert draw("heldout", 3) == draw("heldout", 3)  # seeded
    for p in fit + held:
        assert 0.0 <= p.noise <= 0.30 and 1 <= p.n_styles <= 4
        assert 0.0 <= p.color_strength <= 1.0 and 0.0 <= p.brand_strength <= 1.0
        assert 0.20 <= p.budget_half_width <= 0.50 and 0.0 <= p.shared_rate <= 0.20 and 0.0 <= p.gift_rate <= 0.12
    for split in SPLITS:
        kinds = {c.kind for c in catalogues(split)}
        assert kinds == {"generated", "imported"} and len({c.size for c in catalogues(split)}) == 3
    assert {p.n_styles for p in held} == {1, 2, 3, 4} and {p.personalised for p in held} == {True, False}
    with pytest.raises(ValueError):
        draw("test", 0)


def test_an_imported_catalogue_does_not_use_the_generators_words():
    spec = CatalogueSpec("imported", 5, 600)
    products = build_catalogue(spec)
    generated = build_catalogue(CatalogueSpec("generated", 5, 600))
    vocabulary = set()
    for words in (*CATEGORY_NOUNS.values(), *STYLE_WORDS.values(), FITS, *MATERIALS.values(), COLORS):
        for w in words:
            vocabulary.update(tokenize(w))
    for p, g in zip(products, generated):
        assert not set(tokenize(p["title"] + " " + p["description"])) & (vocabulary - set(p["colors"]))
        assert (p["category"], p["price"], p["sizes"]) == (g["category"], g["price"], g["sizes"])
    assert not {s for p in products for s in p["styles"]} & {s for p in generated for s in p["styles"]}
    # A shopper's view of it comes from its own products: its styles, its words for them.
    view = CatalogueView.of(products, "imported")
    assert set(view.styles) == {s for p in products for s in p["styles"]}
    assert all(view.style_words[s] == s for s in view.styles)
    stats = compute_catalog_stats(products)
    assert stats.vocabulary.parse("festival dress") == {"style": ["festival"], "category": ["dresses"]}


def test_worst_decile_is_the_mean_of_the_worst_tenth():
    values = [float(i) for i in range(1, 21)]
    assert shoppers.worst_decile(values, higher_is_better=True) == 1.5
    assert shoppers.worst_decile(values, higher_is_better=False) == 19.5
    assert shoppers.worst_decile([0.4], higher_is_better=True) == 0.4


def test_a_small_family_runs_and_reports_every_checkpoint(capsys):
    data = shoppers.run("fit", populations=2, shoppers=2, jobs=1)
    assert data["split"] == "fit" and len(data["per_population"]) == 2
    for cp in shoppers.CHECKPOINTS:
        row = data["aggregate"][str(cp)]
        assert set(row) >= {key for key, *_ in shoppers.METRICS}
        if row["style_recall_at_3"] is not None:
            lo, hi = row["style_recall_at_3"]["mean_ci"]
            assert math.isnan(lo) or lo <= row["style_recall_at_3"]["mean"] <= hi
    assert set(data["targets"]) == {f"{key}@20" for key, *_ in shoppers.METRICS} | {"false_displayed@5"}
    shoppers.print_table(data)
    out = capsys.readouterr().out
    assert re.search(r"style recall@3 worst 10%", out) and "targets (worst decile)" in out
