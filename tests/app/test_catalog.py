"""Catalogue generator, importer and query facets."""

import json
import math

import pytest

from functions._lib.catalog import (
    CatalogImportError, SIZE_SYSTEMS, CATEGORIES, compute_catalog_stats, generate_catalog, load_catalog_file,
    parse_query_facets, weighted_quantile,
)

FIELDS = {"sku", "title", "description", "category", "brand", "price", "styles", "colors", "sizes"}


def test_generator_is_seeded_and_well_formed():
    a = generate_catalog(300, seed=3)
    assert a == generate_catalog(300, seed=3)
    assert a != generate_catalog(300, seed=4)
    assert len({p["sku"] for p in a}) == 300
    for p in a:
        assert set(p) == FIELDS
        assert isinstance(p["price"], float) and p["price"] > 0
        assert p["styles"] and p["colors"] and p["sizes"]
        system = SIZE_SYSTEMS[CATEGORIES[p["category"]][0]]
        assert set(p["sizes"]) <= set(system)


def test_colours_are_skewed_and_prices_tiered():
    cat = generate_catalog(4000, seed=7)
    colors = [c for p in cat for c in p["colors"]]
    assert colors.count("black") > 5 * colors.count("orange")
    lux = [p["price"] for p in cat if p["brand"] == "Maison Arlo" and p["category"] == "dresses"]
    bud = [p["price"] for p in cat if p["brand"] == "Basico" and p["category"] == "dresses"]
    assert min(lux) > max(bud) * 0.8 and sum(lux) / len(lux) > 5 * sum(bud) / len(bud)


@pytest.mark.parametrize(
    "query,expected",
    [
        ("navy dress", {"color": ["navy"], "category": ["dresses"]}),
        ("Boho maxi dress in wine", {"style": ["bohemian"], "category": ["dresses"], "color": ["burgundy"]}),
        ("Maison Arlo black leather boots", {"brand": ["Maison Arlo"], "color": ["black"], "category": ["shoes"]}),
        ("something nice", {}),
        ("gray t-shirt", {"color": ["grey"], "category": ["tops"]}),
    ],
)
def test_parse_query_facets(query, expected):
    assert parse_query_facets(query) == expected


def test_load_jsonl_and_csv(tmp_path):
    j = tmp_path / "c.jsonl"
    j.write_text(json.dumps({"sku": "A1", "title": "Tee", "category": "Tops", "brand": "X", "price": "19.5",
                             "styles": ["Minimalist"], "colors": "black|white", "sizes": ["S", "M"]}) + "\n\n")
    [p] = load_catalog_file(j)
    assert p["category"] == "tops" and p["price"] == 19.5 and p["colors"] == ["black", "white"]
    assert p["styles"] == ["minimalist"] and p["description"] == ""
    c = tmp_path / "c.csv"
    c.write_text('sku,title,category,brand,price,styles,colors,sizes\nB1,Dress,dresses,Y,80,"[""boho""]",navy;red,36|38\n')
    [q] = load_catalog_file(c)
    assert q["styles"] == ["boho"] and q["colors"] == ["navy", "red"] and q["sizes"] == ["36", "38"]


def test_import_reports_every_bad_line(tmp_path):
    j = tmp_path / "bad.jsonl"
    lines = [
        json.dumps({"sku": "A", "title": "t", "category": "tops", "brand": "b", "price": 1}),
        "{not json",
        json.dumps({"sku": "B", "title": "t", "category": "tops", "brand": "b", "price": "abc"}),
        json.dumps({"sku": "A", "title": "t", "category": "tops", "brand": "b", "price": 2}),
        json.dumps({"sku": "C", "title": "t", "brand": "b", "price": 2}),
        json.dumps({"sku": "D", "title": "t", "category": "tops", "brand": "b", "price": -1}),
    ]
    j.write_text("\n".join(lines) + "\n")
    with pytest.raises(CatalogImportError) as err:
        load_catalog_file(j)
    errs = err.value.errors
    assert [e.split(":")[0] for e in errs] == ["line 2", "line 3", "line 4", "line 5", "line 6"]
    assert "invalid JSON" in errs[0] and "price" in errs[1] and "duplicate sku" in errs[2]
    assert "missing category" in errs[3] and "≥ 0" in errs[4]


def test_csv_missing_header_column(tmp_path):
    c = tmp_path / "c.csv"
    c.write_text("sku,title,brand\nA,t,b\n")
    with pytest.raises(CatalogImportError, match="header lacks column"):
        load_catalog_file(c)


def test_weighted_quantile_and_stats():
    assert weighted_quantile([5.0], [1.0], 0.2) == 5.0
    assert weighted_quantile([1.0, 2.0, 3.0], [1, 1, 1], 0.5) == pytest.approx(2.0)
    assert weighted_quantile([1.0, 3.0], [3, 1], 0.5) < 2.0
    stats = compute_catalog_stats(generate_catalog(2000, seed=1))
    for facet in ("style", "color", "brand"):
        for cat, shares in stats.base_share[facet].items():
            assert math.isclose(sum(shares.values()), 1.0)
    lo, hi = stats.log_price_band["outerwear"]
    assert lo < hi and stats.log_price_band["outerwear"][0] > stats.log_price_band["accessories"][0]
    assert stats.size_systems["shoes"] == SIZE_SYSTEMS["shoes_eu"]


def test_a_catalogue_names_its_own_values():
    # An imported shop tags styles and colours in its own words: "retro" is its style (the
    # generator's "vintage" does not exist there) and "wine" its colour, not "burgundy".
    shop = [{"sku": "A", "title": "The Harlow", "category": "dresses", "brand": "Hollis & Vane", "price": 90.0,
             "styles": ["retro", "festival"], "colors": ["wine"], "sizes": ["38"]},
            {"sku": "B", "title": "Ines Column", "category": "tops", "brand": "Tidewell", "price": 40.0,
             "styles": ["clean"], "colors": ["ink", "black"], "sizes": ["M"]}]
    vocabulary = compute_catalog_stats(shop).vocabulary
    assert vocabulary.parse("retro wine dress") == {"style": ["retro"], "color": ["wine"], "category": ["dresses"]}
    assert vocabulary.parse("Hollis & Vane festival tee") == {"brand": ["Hollis & Vane"], "style": ["festival"],
                                                              "category": ["tops"]}
    assert vocabulary.parse("boho navy") == {}  # values this shop does not have
    assert parse_query_facets("retro wine dress") == {"style": ["vintage"], "color": ["burgundy"],
                                                      "category": ["dresses"]}
