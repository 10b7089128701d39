"""The family of simulated populations: every behavioural parameter drawn from a range.

One simulator measures one set of quirks; a model tuned on it learns those quirks. So each
population of shoppers draws every parameter of their behaviour from a range, and the
benchmark reports the mean and the worst decile over many populations.

Where the ranges come from (fixed before the model was fitted, and never moved to make a
figure look better; bench/EXPERIMENTS.md records the runs):

- issue 20 names the parameters and two ranges: noise 0–30 %, 1–4 true styles;
- PREFERENCES.md ("Measuring it") names the behaviours: position bias, a noisy utility,
  random clicks, gifts, a shared account, broad and specific queries;
- every other range brackets the value the first simulator (issue 6) used, from about
  half to about one and a half times it, so that simulator is one point inside the family.

Two disjoint sets of seeds: ``fit`` (used while choosing the model's few constants) and
``heldout`` (used only to report). A seed fixes a population's parameters, its shoppers
and its catalogue; the two splits also use different catalogue seeds.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from bench.catalogues import KINDS, CatalogueSpec

SPLITS = ("fit", "heldout")
SEED_BASE = {"fit": 1, "heldout": 10_001}
CATALOGUE_SEED_BASE = {"fit": 101, "heldout": 201}
CATALOGUE_SIZES = (1500, 4000, 8000)


@dataclass(frozen=True)
class Population:
    seed: int
    catalogue: CatalogueSpec
    n_styles: int  # true styles per shopper, 1–4 (issue 20)
    noise: float  # share of examined results judged on a random item's appeal, 0–0.30 (issue 20)
    utility_sd: float  # how unsure a shopper is of an item's appeal (issue 6's simulator: 0.35)
    click_centre: float  # appeal at which an examined result is viewed half the time (0.6)
    like_rate: float  # a liked item (appeal > 1.0) that is viewed is also liked (0.35)
    save_rate: float  # ... saved (appeal > 1.1) (0.3)
    cart_rate: float  # ... put in the cart (appeal > 1.2) (0.3)
    buy_rate: float  # a carted item is bought (0.6)
    dismiss_rate: float  # an unwanted examined item (appeal < −0.4) is dismissed (0.15)
    reason_share: float  # a dismissal gives its reason (0.5)
    return_rate: float  # a purchase comes in the wrong size and is returned (0.12)
    color_strength: float  # 0 = colour does not matter, 1 = liked +0.8, avoided −1.6 (≈0.6)
    brand_strength: float  # 0 = brands do not matter, 1 = a favourite brand +0.8 (≈0.6)
    budget_half_width: float  # half-width of a true budget band in log-price (0.28–0.42)
    price_sensitivity: float  # how much over / under budget hurts (1.0)
    gift_rate: float  # a session ends with a gift bought for someone else (0.08)
    shared_rate: float  # a session is another person's on the same account (0.12)
    examine_depth: int  # results a shopper looks through (20; the page shows 24)
    max_views: int  # results viewed per session at most (6)
    position_bias: float  # examined with probability 1 / (1 + bias · position) (0.35)
    personalised: bool  # the shoppers browse with personalisation on, or off (plain relevance)
    broad_share: float  # a session's query is broad ("dresses") (0.5)
    color_query_share: float  # a specific query names a colour, else a style (0.6)
    liked_query_share: float  # a specific query names one of the shopper's own values (0.7)
    session_gap_days: float  # mean days between sessions (1.6)
    n_categories: int  # categories a shopper shops (3–5)

    def describe(self) -> dict:
        d = asdict(self)
        d["catalogue"] = self.catalogue.label
        return d


def catalogues(split: str) -> list[CatalogueSpec]:
    """The split's catalogues: each kind at each size, each with its own seed."""
    base = CATALOGUE_SEED_BASE[split]
    specs = []
    for k, kind in enumerate(KINDS):
        for j, size in enumerate(CATALOGUE_SIZES):
            specs.append(CatalogueSpec(kind, base + k * len(CATALOGUE_SIZES) + j, size))
    return specs


def draw(split: str, index: int) -> Population:
    """Population ``index`` of ``split``: its parameters drawn from their ranges by its seed."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    seed = SEED_BASE[split] + index
    rng = random.Random(seed * 104_729 + 11)
    cats = catalogues(split)
    u = rng.uniform
    return Population(
        seed=seed, catalogue=cats[index % len(cats)], n_styles=rng.randint(1, 4), noise=u(0.0, 0.30),
        utility_sd=u(0.15, 0.45), click_centre=u(0.4, 0.8), like_rate=u(0.15, 0.55), save_rate=u(0.10, 0.50),
        cart_rate=u(0.15, 0.45), buy_rate=u(0.4, 0.8), dismiss_rate=u(0.05, 0.25), reason_share=u(0.3, 0.7),
        return_rate=u(0.05, 0.20), color_strength=u(0.0, 1.0), brand_strength=u(0.0, 1.0),
        budget_half_width=u(0.20, 0.50), price_sensitivity=u(0.7, 1.5), gift_rate=u(0.0, 0.12),
        shared_rate=u(0.0, 0.20), examine_depth=rng.randint(10, 24), max_views=rng.randint(3, 8),
        position_bias=u(0.2, 0.5), personalised=rng.random() < 0.5, broad_share=u(0.3, 0.7),
        color_query_share=u(0.4, 0.8), liked_query_share=u(0.5, 0.9), session_gap_days=u(0.5, 3.0),
        n_categories=rng.randint(2, 5),
    )
