"""The catalogues the simulated shoppers shop in, and what a shopper can know about one.

Two kinds, each at several seeds and sizes:

- ``generated``: the app's own seeded generator (``functions._lib.catalog.generate_catalog``),
  the catalogue ``make run`` serves;
- ``imported``: what a shop's own feed looks like after ``catalog:import``: the same kind
  of assortment (categories, size systems, price tiers, style and colour tags) but named
  in the shop's vocabulary, not the generator's: product titles are collection names and
  cuts ("The Harlow — Ink", "Marlowe Column No. 7"), descriptions are marketing copy, and
  style, colour and brand tags use other words ("festival", "ink", "Hollis & Vane"). A
  search finds these products only through their category and tags, and the learner must
  read a query against this catalogue's words, not the generator's.

``CatalogueView`` is what a simulated shopper is built from, read off the products alone
(so it works the same for both kinds): styles that go together, colour base rates, each
brand's price level and style lean, each category's price middle and size system, and the
words a shopper types for a category, a style or a colour.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass
from typing import Any

from functions._lib.catalog import compute_catalog_stats, generate_catalog
from functions._lib.config import DEFAULT_CONFIG

KINDS = ("generated", "imported")

# Words shoppers type for a category (the category's own name is always one of them).
CATEGORY_WORDS = {
    "tops": ("tops", "top", "tee"), "shirts": ("shirt", "shirts"), "knitwear": ("sweater", "knitwear", "cardigan"),
    "dresses": ("dress", "dresses"), "skirts": ("skirt", "skirts"), "jeans": ("jeans", "denim"),
    "trousers": ("trousers", "pants"), "outerwear": ("coat", "jacket", "outerwear"),
    "shoes": ("shoes", "boots", "sneakers"), "bags": ("bag", "tote", "bags"), "accessories": ("scarf", "belt", "accessories"),
}
# The generated catalogue's shoppers say "boho" for bohemian, as its copy does.
GENERATED_STYLE_WORDS = {"bohemian": "boho"}

# The imported shop's own names for the generator's tags and brands.
IMPORTED_STYLES = {
    "minimalist": "clean", "bohemian": "festival", "streetwear": "urban", "classic": "heritage", "sporty": "athleisure",
    "romantic": "soft", "edgy": "rock", "preppy": "collegiate", "vintage": "retro", "glam": "party",
}
IMPORTED_COLORS = {"navy": "ink", "grey": "charcoal", "beige": "oat", "cream": "ecru", "burgundy": "wine", "khaki": "sage"}
IMPORTED_BRANDS = (
    "Hollis & Vane", "Tidewell", "Okra Studio", "Fenwick", "Marlo", "Saltmarsh", "Juniper Row", "Caddo", "Ostra",
    "Wren", "Halden", "Mirrin", "Pell", "Quarry", "Seren", "Loam", "Atlas & Ash", "Brume", "Cinder", "Dune House",
    "Ember Lane", "Fathom", "Greer", "Hewn",
)
_NAMES = ("Harlow", "Ines", "Marlowe", "Odile", "Perrin", "Quinn", "Rosalind", "Sable", "Tamsin", "Una", "Vesper",
          "Willa", "Ada", "Bram", "Colette", "Dara", "Esme", "Flint", "Greta", "Hugo", "Iris", "Jules", "Kit", "Lux")
_CUTS = ("Column", "Longline", "Fluid", "Sculpted", "Draped", "Utility", "Weekend", "Studio", "Field", "Harbour")
_COPY = ("Designed in our studio and made to last.", "Pairs with everything you already own.",
         "Responsibly sourced, carefully finished.", "A quiet favourite, season after season.",
         "Cut for movement and comfort.", "Our take on a wardrobe essential.", "Made in small runs.")


@dataclass(frozen=True)
class CatalogueSpec:
    kind: str  # generated | imported
    seed: int
    size: int

    @property
    def label(self) -> str:
        return f"{self.kind}-{self.seed}-{self.size}"


def build_catalogue(spec: CatalogueSpec) -> list[dict[str, Any]]:
    """The products of ``spec``: the generator's, or the same assortment in an imported shop's words."""
    products = generate_catalog(spec.size, spec.seed)
    if spec.kind == "generated":
        return products
    if spec.kind != "imported":
        raise ValueError(f"unknown catalogue kind {spec.kind!r} (expected one of {', '.join(KINDS)})")
    rng = random.Random(spec.seed * 7919 + 3)
    brands = dict(zip(sorted({p["brand"] for p in products}), IMPORTED_BRANDS))
    out = []
    for i, p in enumerate(products):
        colors = [IMPORTED_COLORS.get(c, c) for c in p["colors"]]
        name = rng.choice(_NAMES)
        form = rng.random()
        if form < 0.4:
            title = f"The {name}"
        elif form < 0.75:
            title = f"{name} {rng.choice(_CUTS)}"
        else:
            title = f"{name} {rng.choice(_CUTS)} No. {rng.randint(1, 12)}"
        if rng.random() < 0.3:
            title += f" — {colors[0].title()}"
        out.append({**p, "sku": f"IMP-{spec.seed}-{i:05d}", "title": title, "description": rng.choice(_COPY),
                    "brand": brands[p["brand"]], "styles": [IMPORTED_STYLES[s] for s in p["styles"]], "colors": colors})
    return out


@dataclass
class CatalogueView:
    """What a simulated shopper is built from, read off a catalogue's products."""

    products: list[dict[str, Any]]
    categories: list[str]  # non-sensitive categories with products
    styles: list[str]
    related_styles: dict[str, list[str]]  # styles most often on the same items
    color_rates: dict[str, float]
    brand_level: dict[str, float]  # median log-price relative to the category's middle
    brand_styles: dict[str, set[str]]  # the styles a brand leans to
    category_mid: dict[str, float]  # median price
    size_systems: dict[str, tuple[str, ...]]
    style_words: dict[str, str]  # what a shopper types for a style

    @classmethod
    def of(cls, products: list[dict[str, Any]], kind: str) -> "CatalogueView":
        sensitive = DEFAULT_CONFIG.sensitive_categories
        by_cat: dict[str, list[dict[str, Any]]] = {}
        for p in products:
            by_cat.setdefault(p["category"], []).append(p)
        categories = sorted(c for c in by_cat if c not in sensitive and c in CATEGORY_WORDS)
        mid = {c: statistics.median(p["price"] for p in ps) for c, ps in by_cat.items()}
        style_n: dict[str, int] = {}
        pair_n: dict[tuple[str, str], int] = {}
        colors: dict[str, int] = {}
        levels: dict[str, list[float]] = {}
        brand_style: dict[str, dict[str, int]] = {}
        for p in products:
            for s in p["styles"]:
                style_n[s] = style_n.get(s, 0) + 1
                for t in p["styles"]:
                    if t != s:
                        pair_n[(s, t)] = pair_n.get((s, t), 0) + 1
                bs = brand_style.setdefault(p["brand"], {})
                bs[s] = bs.get(s, 0) + 1
            for c in p["colors"]:
                colors[c] = colors.get(c, 0) + 1
            levels.setdefault(p["brand"], []).append(math.log(p["price"] / mid[p["category"]]))
        styles = sorted(style_n)
        n = len(products)
        related = {}
        for s in styles:
            lift = {t: pair_n.get((s, t), 0) * n / (style_n[s] * style_n[t]) for t in styles if t != s}
            related[s] = sorted((t for t in lift if lift[t] > 1.5), key=lambda t: (-lift[t], t))[:2]
        total_c = sum(colors.values())
        stats = compute_catalog_stats(products)
        brand_styles = {}
        for b, counts in brand_style.items():
            expected = {s: style_n[s] / n for s in counts}
            items = len(levels[b])
            brand_styles[b] = {s for s, c in counts.items() if c / items > 2.0 * expected[s]}
        words = {s: GENERATED_STYLE_WORDS.get(s, s) for s in styles} if kind == "generated" else {s: s for s in styles}
        return cls(products, categories, styles, related, {c: k / total_c for c, k in sorted(colors.items())},
                   {b: statistics.median(v) for b, v in sorted(levels.items())}, brand_styles, mid,
                   {c: tuple(s) for c, s in stats.size_systems.items()}, words)

