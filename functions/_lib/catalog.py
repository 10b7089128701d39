"""The catalogue: the facets, a seeded generator, a file importer, and the words of a query.

Why a generator: no public fashion interaction data ships inside a package, so the app's
demo data, its unit tests and the simulated-shopper benchmark all need a realistic
catalogue that is identical on every machine. ``generate_catalog(n, seed)`` uses only
``random.Random(seed)``, so the same arguments always give the same products.

What "realistic" means here (and why each part matters to the learner):

- categories with their own size systems (letters, EU shoe sizes, jeans waists, EU dress
  sizes, one-size), so size learning is per category;
- style tags that co-occur (minimalist with classic, bohemian with romantic...), so a
  style's *lift* over the catalogue, not its raw share, is what shows a preference;
- colours with skewed base rates (black is everywhere, orange is rare), for the same reason;
- brands in price tiers with a style lean, and log-normal prices per category × tier, so
  a budget is a band of log-price;
- imperfect titles and descriptions: colours sometimes named by a synonym ("ink" for
  navy), style words sometimes missing or misleading, so text relevance is noisy.

``FACET_INFO`` / ``FACETS`` are the one list of learned facets (the page reads it through
``preferences:facets``). ``QueryVocabulary`` maps free text onto a catalogue's own values
(and shoppers' usual words for them); the learner credits a search that names a facet
value, and the ranker gives no preference boost to a facet the query names itself.
"""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple

from .text import tokenize

# ---------------------------------------------------------------------------- vocabulary

LETTER_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
SIZE_SYSTEMS: dict[str, tuple[str, ...]] = {
    "letters": LETTER_SIZES,
    "letters_short": ("XS", "S", "M", "L", "XL"),
    "shoes_eu": tuple(str(s) for s in range(36, 47)),
    "waist": ("26", "27", "28", "29", "30", "31", "32", "33", "34", "36", "38"),
    "dress_eu": ("32", "34", "36", "38", "40", "42", "44"),
    "one_size": ("OS",),
}

# category -> (size system, median price of a mid-tier item, share of the catalogue)
CATEGORIES: dict[str, tuple[str, float, float]] = {
    "tops": ("letters", 35.0, 0.16),
    "shirts": ("letters", 55.0, 0.10),
    "knitwear": ("letters", 70.0, 0.09),
    "dresses": ("dress_eu", 85.0, 0.12),
    "skirts": ("letters_short", 55.0, 0.06),
    "jeans": ("waist", 75.0, 0.09),
    "trousers": ("waist", 65.0, 0.07),
    "outerwear": ("letters", 150.0, 0.08),
    "shoes": ("shoes_eu", 95.0, 0.10),
    "bags": ("one_size", 90.0, 0.06),
    "accessories": ("one_size", 30.0, 0.05),
    # sensitive: the learner skips these unless the shopper adds them
    "maternity": ("letters_short", 50.0, 0.01),
    "shapewear": ("letters", 40.0, 0.01),
}

CATEGORY_NOUNS: dict[str, tuple[str, ...]] = {
    "tops": ("T-Shirt", "Tee", "Tank Top", "Blouse", "Top", "Camisole", "Polo"),
    "shirts": ("Shirt", "Oxford Shirt", "Overshirt", "Button-Down"),
    "knitwear": ("Sweater", "Jumper", "Cardigan", "Knit Vest", "Turtleneck"),
    "dresses": ("Dress", "Midi Dress", "Maxi Dress", "Slip Dress", "Shirt Dress", "Wrap Dress"),
    "skirts": ("Skirt", "Midi Skirt", "Mini Skirt", "Pleated Skirt"),
    "jeans": ("Jeans", "Straight Jeans", "Wide-Leg Jeans", "Skinny Jeans", "Denim"),
    "trousers": ("Trousers", "Chinos", "Joggers", "Cargo Pants", "Tailored Trousers"),
    "outerwear": ("Coat", "Jacket", "Trench Coat", "Puffer", "Blazer", "Parka"),
    "shoes": ("Sneakers", "Boots", "Loafers", "Sandals", "Heels", "Ankle Boots", "Trainers"),
    "bags": ("Tote", "Crossbody Bag", "Backpack", "Shoulder Bag", "Clutch"),
    "accessories": ("Scarf", "Belt", "Cap", "Beanie", "Sunglasses", "Earrings"),
    "maternity": ("Maternity Dress", "Maternity Jeans", "Nursing Top"),
    "shapewear": ("Shaping Bodysuit", "Shaping Shorts", "Control Slip"),
}

STYLES = ("minimalist", "bohemian", "streetwear", "classic", "sporty", "romantic", "edgy", "preppy", "vintage", "glam")
# Styles that tend to appear together on one product (symmetric affinity).
STYLE_AFFINITY: dict[str, tuple[str, ...]] = {
    "minimalist": ("classic",),
    "bohemian": ("romantic", "vintage"),
    "streetwear": ("sporty", "edgy"),
    "classic": ("minimalist", "preppy"),
    "sporty": ("streetwear",),
    "romantic": ("bohemian", "glam"),
    "edgy": ("streetwear", "glam"),
    "preppy": ("classic",),
    "vintage": ("bohemian",),
    "glam": ("romantic", "edgy"),
}
STYLE_WORDS: dict[str, tuple[str, ...]] = {
    "minimalist": ("clean-lined", "minimalist", "pared-back", "understated"),
    "bohemian": ("boho", "free-spirited", "bohemian", "flowy"),
    "streetwear": ("streetwear", "oversized", "urban", "street-ready"),
    "classic": ("classic", "timeless", "tailored", "heritage"),
    "sporty": ("sporty", "athletic", "performance", "active"),
    "romantic": ("romantic", "feminine", "delicate", "soft"),
    "edgy": ("edgy", "bold", "rock-inspired", "statement"),
    "preppy": ("preppy", "collegiate", "polished", "smart"),
    "vintage": ("vintage", "retro", "70s-inspired", "throwback"),
    "glam": ("glam", "glamorous", "evening", "sparkling"),
}

# colour -> base rate (skewed: neutrals dominate fashion catalogues)
COLORS: dict[str, float] = {
    "black": 0.19, "white": 0.11, "navy": 0.09, "grey": 0.08, "beige": 0.07, "blue": 0.07,
    "brown": 0.05, "green": 0.05, "red": 0.05, "pink": 0.04, "cream": 0.04, "burgundy": 0.03,
    "olive": 0.03, "yellow": 0.02, "purple": 0.02, "orange": 0.02, "camel": 0.02, "khaki": 0.02,
}
COLOR_SYNONYMS: dict[str, tuple[str, ...]] = {
    "navy": ("ink", "midnight"), "grey": ("gray", "charcoal"), "beige": ("sand", "stone"),
    "burgundy": ("wine", "oxblood"), "cream": ("ecru", "ivory"), "red": ("scarlet",),
    "green": ("forest",), "brown": ("chocolate", "tan"), "white": ("optic white",),
}

MATERIALS: dict[str, tuple[str, ...]] = {
    "tops": ("Cotton", "Jersey", "Silk", "Linen", "Modal"),
    "shirts": ("Linen", "Cotton", "Poplin", "Flannel", "Denim"),
    "knitwear": ("Wool", "Merino", "Cashmere", "Cotton-Knit", "Mohair"),
    "dresses": ("Linen", "Satin", "Cotton", "Jersey", "Crepe", "Chiffon"),
    "skirts": ("Satin", "Denim", "Wool", "Cotton", "Leather"),
    "jeans": ("Rigid", "Stretch", "Organic", "Raw"),
    "trousers": ("Wool", "Cotton", "Twill", "Linen", "Fleece"),
    "outerwear": ("Wool", "Leather", "Nylon", "Cotton", "Suede"),
    "shoes": ("Leather", "Suede", "Canvas", "Mesh", "Patent"),
    "bags": ("Leather", "Canvas", "Nylon", "Suede"),
    "accessories": ("Wool", "Leather", "Silk", "Cotton", "Acetate"),
    "maternity": ("Jersey", "Cotton"),
    "shapewear": ("Microfibre", "Nylon"),
}
FITS = ("Relaxed", "Slim", "Oversized", "Cropped", "Regular", "Boxy", "Fitted", "Easy")
BENEFITS = ("breathable", "everyday", "soft-touch", "easy-care", "lightweight", "warm", "versatile", "durable")
ENDINGS = ("essential", "staple", "favourite", "piece", "must-have", "classic")

TIERS = ("budget", "mid", "premium", "luxury")
TIER_PRICE_FACTOR = {"budget": 0.45, "mid": 1.0, "premium": 2.1, "luxury": 4.8}
PRICE_SIGMA = 0.28  # log-normal spread of prices within category × tier

# brand -> (tier, style lean); invented names
BRANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Basico": ("budget", ("minimalist", "classic")),
    "Trendzy": ("budget", ("streetwear", "glam")),
    "Kidd & Co": ("budget", ("sporty", "streetwear")),
    "Flora Lane": ("budget", ("romantic", "bohemian")),
    "Urbanite": ("budget", ("streetwear", "edgy")),
    "Daily Form": ("budget", ("minimalist", "sporty")),
    "Northway": ("mid", ("classic", "preppy")),
    "Arket Lane": ("mid", ("minimalist",)),
    "Sol & Sea": ("mid", ("bohemian", "vintage")),
    "Rivet": ("mid", ("edgy", "streetwear")),
    "Pace": ("mid", ("sporty",)),
    "Bellflower": ("mid", ("romantic", "glam")),
    "Old Harbour": ("mid", ("vintage", "classic")),
    "Courtside": ("mid", ("preppy", "sporty")),
    "Linea": ("premium", ("minimalist", "classic")),
    "Wildmoor": ("premium", ("bohemian", "romantic")),
    "Blackline": ("premium", ("edgy", "glam")),
    "Ivy House": ("premium", ("preppy", "classic")),
    "Stride Lab": ("premium", ("sporty", "streetwear")),
    "Retrograde": ("premium", ("vintage", "edgy")),
    "Maison Arlo": ("luxury", ("classic", "minimalist")),
    "Velour Paris": ("luxury", ("glam", "romantic")),
    "Odessa Noir": ("luxury", ("edgy", "glam")),
    "Santorin": ("luxury", ("bohemian", "minimalist")),
}

class Facet(NamedTuple):
    """A learned facet: its name in data and what the page calls it."""

    name: str
    label: str  # a heading: "Colours"
    singular: str  # in a sentence: "a colour you like"


# The learned facets, in the order the profile shows them: the one definition the model,
# the ranker, the functions and (through ``preferences:facets``) the page all read.
FACET_INFO = (Facet("style", "Styles", "style"), Facet("color", "Colours", "colour"),
              Facet("brand", "Brands", "brand"), Facet("category", "Categories", "category"))
FACETS = tuple(f.name for f in FACET_INFO)

# Shoppers' words for the generator's values (a catalogue's own values are words too).
CATEGORY_WORDS: dict[str, str] = {
    "top": "tops", "tops": "tops", "tee": "tops", "tees": "tops", "t shirt": "tops", "tshirt": "tops",
    "blouse": "tops", "tank": "tops", "camisole": "tops", "polo": "tops",
    "shirt": "shirts", "shirts": "shirts", "overshirt": "shirts", "button down": "shirts", "oxford": "shirts",
    "sweater": "knitwear", "sweaters": "knitwear", "jumper": "knitwear", "cardigan": "knitwear",
    "knit": "knitwear", "knitwear": "knitwear", "turtleneck": "knitwear",
    "dress": "dresses", "dresses": "dresses",
    "skirt": "skirts", "skirts": "skirts",
    "jeans": "jeans", "denim": "jeans",
    "trousers": "trousers", "pants": "trousers", "chinos": "trousers", "joggers": "trousers",
    "coat": "outerwear", "coats": "outerwear", "jacket": "outerwear", "jackets": "outerwear",
    "outerwear": "outerwear", "blazer": "outerwear", "parka": "outerwear", "puffer": "outerwear",
    "shoes": "shoes", "sneakers": "shoes", "trainers": "shoes", "boots": "shoes", "loafers": "shoes",
    "sandals": "shoes", "heels": "shoes",
    "bag": "bags", "bags": "bags", "tote": "bags", "backpack": "bags", "clutch": "bags", "handbag": "bags",
    "scarf": "accessories", "belt": "accessories", "cap": "accessories", "beanie": "accessories",
    "sunglasses": "accessories", "earrings": "accessories", "accessories": "accessories",
    "maternity": "maternity", "pregnancy": "maternity", "nursing": "maternity",
    "shapewear": "shapewear", "shaping": "shapewear",
}
STYLE_QUERY_WORDS: dict[str, str] = {
    "minimal": "minimalist", "boho": "bohemian", "street": "streetwear", "timeless": "classic",
    "athletic": "sporty", "athleisure": "sporty", "feminine": "romantic", "rock": "edgy", "retro": "vintage",
    "glamorous": "glam", "sparkly": "glam",
}
COLOR_QUERY_WORDS: dict[str, str] = {
    syn: color for color, syns in COLOR_SYNONYMS.items() for syn in syns if " " not in syn
} | {"gray": "grey"}


class QueryVocabulary:
    """Which facet values a query names, in one catalogue's words.

    A catalogue's own values name themselves ("festival" in a shop that tags styles so);
    the shoppers' words above name the values they stand for when the catalogue has them
    ("boho" → bohemian), but never take a word the catalogue uses for a value of its own
    (a shop whose colour is "wine" means wine, not burgundy). Words are the app's tokens
    (``text.tokenize``), matched as phrases, longest first ("t-shirt" is a top, not a
    shirt; "Maison Arlo" is one brand).
    """

    def __init__(self, values: Mapping[str, Iterable[str]]):
        present = {f: set(vs) for f, vs in values.items()}
        phrases: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        for facet, vs in sorted(present.items()):
            for value in sorted(vs):
                key = tuple(tokenize(value))
                if key:
                    phrases.setdefault(key, []).append((facet, value))
        for facet, words in (("category", CATEGORY_WORDS), ("style", STYLE_QUERY_WORDS), ("color", COLOR_QUERY_WORDS)):
            for word, value in words.items():
                key = tuple(tokenize(word))
                targets = phrases.setdefault(key, [])
                if value in present.get(facet, ()) and not any(f == facet for f, _ in targets):
                    targets.append((facet, value))
        self._phrases = {k: tuple(t) for k, t in phrases.items() if t}
        self._longest = max((len(k) for k in self._phrases), default=0)
        self._memo: dict[str, dict[str, list[str]]] = {}

    def parse(self, query: str) -> dict[str, list[str]]:
        """``{facet: [values]}`` the query names: "navy dress" → {color: [navy], category: [dresses]}."""
        hit = self._memo.get(query)
        if hit is None:
            hit = self._parse(query)
            if len(self._memo) < 4096:
                self._memo[query] = hit
        return {f: list(vs) for f, vs in hit.items()}

    def _parse(self, query: str) -> dict[str, list[str]]:
        tokens = tokenize(query or "")
        out: dict[str, list[str]] = {}
        i = 0
        while i < len(tokens):
            for n in range(min(self._longest, len(tokens) - i), 0, -1):
                targets = self._phrases.get(tuple(tokens[i:i + n]))
                if targets:
                    for facet, value in targets:
                        vals = out.setdefault(facet, [])
                        if value not in vals:
                            vals.append(value)
                    i += n
                    break
            else:
                i += 1
        return out


GENERATOR_VOCABULARY = QueryVocabulary({
    "style": STYLES, "color": COLORS, "brand": BRANDS, "category": CATEGORIES,
})


def parse_query_facets(query_text: str, vocabulary: QueryVocabulary | None = None) -> dict[str, list[str]]:
    """Which facet values a free-text query names: "navy dress" → {color: [navy], category: [dresses]}.

    Why: a search is evidence for each value it names, and the ranker must not boost a
    facet the shopper already stated in the query ("red dress": every result is red;
    boosting their usual colour would fight the query). ``vocabulary``: the catalogue's
    (``CatalogStats.vocabulary``); by default the generator's.
    """
    return (vocabulary or GENERATOR_VOCABULARY).parse(query_text)


# ---------------------------------------------------------------------------- generator


def _weighted_choice(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys], k=1)[0]


def _pick_styles(rng: random.Random, lean: tuple[str, ...]) -> list[str]:
    """1–3 styles: mostly the brand's lean, plus a co-occurring or random one."""
    first = rng.choice(lean) if rng.random() < 0.8 else rng.choice(STYLES)
    styles = [first]
    r = rng.random()
    if r < 0.55:
        second = rng.choice(STYLE_AFFINITY[first]) if rng.random() < 0.6 else rng.choice(STYLES)
        if second not in styles:
            styles.append(second)
    if r < 0.12:
        third = rng.choice(STYLES)
        if third not in styles:
            styles.append(third)
    return styles


def _pick_colors(rng: random.Random) -> list[str]:
    first = _weighted_choice(rng, COLORS)
    colors = [first]
    if rng.random() < 0.22:
        second = _weighted_choice(rng, COLORS)
        if second != first:
            colors.append(second)
    return colors


def _color_word(rng: random.Random, color: str) -> str:
    syns = COLOR_SYNONYMS.get(color)
    if syns and rng.random() < 0.2:
        return rng.choice(syns).title()
    return color.title()


def _sizes_in_stock(rng: random.Random, system: str) -> list[str]:
    sizes = SIZE_SYSTEMS[system]
    if len(sizes) == 1:
        return list(sizes)
    p = rng.uniform(0.45, 0.95)  # some items are nearly sold out, most are well stocked
    stock = [s for s in sizes if rng.random() < p]
    return stock or [rng.choice(sizes)]


def generate_catalog(n: int = 4000, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` products, identical for identical (n, seed), with the fields of ``schema.py``.

    Each product: sku, title, description, category, brand, price, styles, colors, sizes.
    Brands are picked mostly among those whose style lean fits, so brands carry a style
    signal like real ones; prices are log-normal around category median × tier factor.
    """
    rng = random.Random(seed)
    cat_weights = {c: share for c, (_, _, share) in CATEGORIES.items()}
    products: list[dict[str, Any]] = []
    brand_names = list(BRANDS)
    for i in range(n):
        category = _weighted_choice(rng, cat_weights)
        system, median, _ = CATEGORIES[category]
        brand = rng.choice(brand_names)
        tier, lean = BRANDS[brand]
        styles = _pick_styles(rng, lean)
        colors = _pick_colors(rng)
        price = median * TIER_PRICE_FACTOR[tier] * math.exp(rng.gauss(0.0, PRICE_SIGMA))
        price = round(price) - 0.01 if price > 20 else round(price, 2)  # 49.99-style prices
        price = max(price, 2.99)
        noun = rng.choice(CATEGORY_NOUNS[category])
        material = rng.choice(MATERIALS[category])
        fit = rng.choice(FITS)
        color_word = _color_word(rng, colors[0])
        # Imperfect copy: the style word is sometimes missing or from an unlisted style.
        if rng.random() < 0.75:
            style_word = rng.choice(STYLE_WORDS[styles[0]])
        elif rng.random() < 0.5:
            style_word = rng.choice(STYLE_WORDS[rng.choice(STYLES)])
        else:
            style_word = ""
        title_forms = (
            f"{fit} {material} {noun} in {color_word}",
            f"{material} {noun} — {color_word}",
            f"{brand} {fit} {noun}, {color_word}",
            f"{fit} {noun} in {color_word}",
        )
        title = rng.choice(title_forms)
        benefit = rng.choice(BENEFITS)
        ending = rng.choice(ENDINGS)
        desc = f"{benefit.capitalize()} {style_word + ' ' if style_word else ''}{ending}"
        if len(colors) > 1 and rng.random() < 0.7:
            desc += f" with {colors[1]} details"
        if rng.random() < 0.5:
            desc += f". {material} {noun.lower()} by {brand}"
        if rng.random() < 0.3:
            desc += f", a {rng.choice(STYLE_WORDS[rng.choice(styles)])} take on the {noun.lower()}"
        products.append(
            {
                "sku": f"SKU-{seed}-{i:05d}",
                "title": title,
                "description": desc + ".",
                "category": category,
                "brand": brand,
                "price": float(price),
                "styles": styles,
                "colors": colors,
                "sizes": _sizes_in_stock(rng, system),
            }
        )
    return products


def size_system(category: str) -> tuple[str, ...] | None:
    """The ordered sizes of a known category (for "next size up"), else None."""
    entry = CATEGORIES.get(category)
    return SIZE_SYSTEMS[entry[0]] if entry else None


# ---------------------------------------------------------------------------- importer


class CatalogImportError(ValueError):
    """A catalogue file had invalid lines; ``errors`` lists each as "line N: what is wrong"."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        shown = "\n".join(errors[:20])
        more = f"\n... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"{len(errors)} invalid line(s) in catalogue:\n{shown}{more}")


REQUIRED_FIELDS = ("sku", "title", "category", "brand", "price")
LIST_FIELDS = ("styles", "colors", "sizes")


def _as_list(value: Any, field_name: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise ValueError(f"{field_name} must be a list of strings")
        return [v.strip() for v in value if v.strip()]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{field_name} is not a valid JSON list ({exc.msg})") from None
            return _as_list(parsed, field_name)
        sep = "|" if "|" in text else (";" if ";" in text else ",")
        return [v.strip() for v in text.split(sep) if v.strip()]
    raise ValueError(f"{field_name} must be a list or a separated string, got {type(value).__name__}")


def validate_product(raw: dict[str, Any]) -> dict[str, Any]:
    """One product in the canonical shape, or ValueError saying what is wrong.

    Canonical: lower-case category / styles / colours (they are facet values), brand and
    sizes as given, price a finite float ≥ 0, description defaulting to "".
    """
    if not isinstance(raw, dict):
        raise ValueError("expected an object")
    missing = [f for f in REQUIRED_FIELDS if raw.get(f) in (None, "")]
    if missing:
        raise ValueError("missing " + ", ".join(missing))
    try:
        price = float(str(raw["price"]).strip().lstrip("$€£"))
    except ValueError:
        raise ValueError(f"price must be a number, got {raw['price']!r}") from None
    if not math.isfinite(price) or price < 0:
        raise ValueError(f"price must be a finite number ≥ 0, got {raw['price']!r}")
    product = {
        "sku": str(raw["sku"]).strip(),
        "title": str(raw["title"]).strip(),
        "description": str(raw.get("description") or "").strip(),
        "category": str(raw["category"]).strip().lower(),
        "brand": str(raw["brand"]).strip(),
        "price": price,
    }
    for f in LIST_FIELDS:
        values = _as_list(raw.get(f), f)
        product[f] = values if f == "sizes" else [v.lower() for v in values]
    return product


def load_catalog_file(path: str | Path) -> list[dict[str, Any]]:
    """Import a shopper-supplied catalogue from JSONL (``.jsonl``/``.ndjson``) or CSV.

    CSV list fields may be "a|b", "a;b", "a,b" (quoted) or a JSON array. Every line is
    checked; if any is invalid (bad JSON, missing field, bad price, duplicate sku) nothing
    is imported and ``CatalogImportError`` lists every problem by line number, so the
    whole file can be fixed in one pass.
    """
    path = Path(path)
    errors: list[str] = []
    products: list[dict[str, Any]] = []
    seen: dict[str, int] = {}

    def accept(lineno: int, raw: Any) -> None:
        try:
            product = validate_product(raw)
        except ValueError as exc:
            errors.append(f"line {lineno}: {exc}")
            return
        if product["sku"] in seen:
            errors.append(f"line {lineno}: duplicate sku {product['sku']!r} (first on line {seen[product['sku']]})")
            return
        seen[product["sku"]] = lineno
        products.append(product)

    suffix = path.suffix.lower()
    with path.open(encoding="utf-8-sig", newline="") as fh:
        if suffix in (".jsonl", ".ndjson", ".json"):
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError as exc:
                    errors.append(f"line {lineno}: invalid JSON ({exc.msg} at column {exc.colno})")
                    continue
                accept(lineno, raw)
        elif suffix in (".csv", ".tsv"):
            reader = csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ",")
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [f for f in REQUIRED_FIELDS if f not in header]
            if missing:
                raise CatalogImportError([f"line 1: header lacks column(s) {', '.join(missing)}"])
            reader.fieldnames = header
            for row in reader:
                if row.get(None):  # more cells than header columns
                    errors.append(f"line {reader.line_num}: {len(row[None])} cell(s) beyond the header")
                    continue
                accept(reader.line_num, {k: v for k, v in row.items() if k is not None})
        else:
            raise CatalogImportError([f"line 0: unsupported file type {suffix!r} (use .jsonl or .csv)"])
    if errors:
        raise CatalogImportError(errors)
    return products


# ---------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class CatalogStats:
    """What the learner needs to know about the whole catalogue, computed once.

    - ``base_share[facet][category][value]``: share of that category's items carrying the
      value (normalised per facet so it compares with a shopper's share), the baseline for
      *lift*: a shopper who buys black as often as the catalogue stocks it has no black
      preference.
    - ``log_price_band[category]``: the category's middle band of log-prices, the prior the
      budget is shrunk toward when evidence is thin.
    - ``values[facet]``: every value in the catalogue, the words a query can name.
    """

    base_share: dict[str, dict[str, dict[str, float]]]
    category_share: dict[str, float]
    log_price_band: dict[str, tuple[float, float]]
    size_systems: dict[str, tuple[str, ...]]
    # per category: (brand, styles, log-price or None) of every product, for baselines
    # conditioned on the shopper's style and budget (see model._brand_baseline)
    items_by_category: dict[str, tuple[tuple[str, tuple[str, ...], float | None], ...]] = field(default_factory=dict)
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @cached_property
    def vocabulary(self) -> QueryVocabulary:
        return QueryVocabulary(self.values) if self.values else GENERATOR_VOCABULARY


def weighted_quantile(values: list[float], weights: list[float], q: float) -> float:
    """Interpolated weighted quantile (midpoint rule), so 1 value gives that value."""
    pairs = sorted((v, w) for v, w in zip(values, weights) if w > 0)
    if not pairs:
        raise ValueError("no positive weights")
    total = sum(w for _, w in pairs)
    # position of each value = cumulative weight up to its midpoint
    positions = []
    acc = 0.0
    for v, w in pairs:
        positions.append((acc + w / 2) / total)
        acc += w
    if q <= positions[0]:
        return pairs[0][0]
    if q >= positions[-1]:
        return pairs[-1][0]
    for i in range(1, len(pairs)):
        if q <= positions[i]:
            p0, p1 = positions[i - 1], positions[i]
            t = (q - p0) / (p1 - p0) if p1 > p0 else 0.0
            return pairs[i - 1][0] + t * (pairs[i][0] - pairs[i - 1][0])
    return pairs[-1][0]


def _ordered_sizes(sizes: Iterable[str]) -> tuple[str, ...]:
    """Order an unknown size set: letters by the letter scale, numbers numerically."""
    uniq = set(sizes)
    letter_rank = {s: i for i, s in enumerate(("XXS",) + LETTER_SIZES + ("XXXL",))}

    def key(s: str) -> tuple[int, float, str]:
        if s in letter_rank:
            return (0, letter_rank[s], s)
        try:
            return (1, float(s), s)
        except ValueError:
            return (2, 0.0, s)

    return tuple(sorted(uniq, key=key))


def compute_catalog_stats(products: Iterable[dict[str, Any]], prior_low_q: float = 0.30, prior_high_q: float = 0.70) -> CatalogStats:
    """Per-category facet base shares, price bands and size systems of a catalogue."""
    counts: dict[str, dict[str, dict[str, float]]] = {f: {} for f in ("style", "color", "brand")}
    cat_counts: dict[str, int] = {}
    prices: dict[str, list[float]] = {}
    sizes: dict[str, set[str]] = {}
    items: dict[str, list[tuple[str, tuple[str, ...], float | None]]] = {}
    total = 0
    for p in products:
        total += 1
        cat = p["category"]
        price = p.get("price")
        items.setdefault(cat, []).append((p["brand"], tuple(p.get("styles") or ()), math.log(price) if price and price > 0 else None))
        cat_counts[cat] = cat_counts.get(cat, 0) + 1
        for facet, values in (("style", p.get("styles") or []), ("color", p.get("colors") or []), ("brand", [p["brand"]])):
            bucket = counts[facet].setdefault(cat, {})
            for v in values:
                bucket[v] = bucket.get(v, 0.0) + 1.0
        if p.get("price") is not None and p["price"] > 0:
            prices.setdefault(cat, []).append(math.log(p["price"]))
        sizes.setdefault(cat, set()).update(p.get("sizes") or [])
    base_share: dict[str, dict[str, dict[str, float]]] = {}
    for facet, per_cat in counts.items():
        base_share[facet] = {}
        for cat, bucket in per_cat.items():
            s = sum(bucket.values())
            base_share[facet][cat] = {v: c / s for v, c in bucket.items()}
    category_share = {c: n / total for c, n in cat_counts.items()} if total else {}
    bands = {}
    for cat, lps in prices.items():
        w = [1.0] * len(lps)
        bands[cat] = (weighted_quantile(lps, w, prior_low_q), weighted_quantile(lps, w, prior_high_q))
    systems = {}
    for cat, found in sizes.items():
        known = size_system(cat)
        systems[cat] = known if known and found <= set(known) else _ordered_sizes(found)
    values = {f: tuple(sorted({v for per_cat in counts[f].values() for v in per_cat})) for f in ("style", "color", "brand")}
    values["category"] = tuple(sorted(cat_counts))
    return CatalogStats(base_share, category_share, bands, systems, {c: tuple(v) for c, v in items.items()}, values)
