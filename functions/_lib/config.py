"""Every number of the learning model and the ranker, in one place.

Why one frozen dataclass: the figures are defaults that get tuned; keeping them together
(and immutable) means the learner, the ranker, the retention cron and the benchmark read
the same values, a test can build a variant with ``dataclasses.replace(DEFAULT_CONFIG,
...)``, and a profile computed with a given config is reproducible. What each constant
was chosen from, with the figures, is in bench/EXPERIMENTS.md.

Units: weights are in "view-equivalents" (a view is 1), half-lives and retention in days,
prices in the catalogue's currency, log-prices in natural log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from .catalog import FACETS

DAY_MS = 86_400_000.0


@dataclass(frozen=True)
class DisplayRule:
    """When a facet's learned value is shown on the profile: its posterior, and how many at most.

    A typed rule, so a misspelled field is a ``TypeError`` and an impossible value a
    ``ValueError`` when the configuration is built, never a rule silently ignored.
    """

    min_posterior: float  # P(the value is one of the shopper's) at which it is shown
    max_values: int = 5

    def __post_init__(self) -> None:
        if not 0.0 < self.min_posterior <= 1.0:
            raise ValueError(f"DisplayRule.min_posterior must be in (0, 1], got {self.min_posterior!r}")
        if not isinstance(self.max_values, int) or self.max_values < 1:
            raise ValueError(f"DisplayRule.max_values must be a positive int, got {self.max_values!r}")


@dataclass(frozen=True)
class Config:
    # ------------------------------------------------------------------ signal weights
    # PREFERENCES.md's weights: the evidence each value shows the shopper (P, N, share).
    w_view: float = 1.0  # repeats of one item: total 1 + ln n
    w_search_facet: float = 1.5  # per facet value a search names
    w_like: float = 3.0
    w_save: float = 4.0
    w_cart: float = 5.0
    w_purchase: float = 10.0
    w_dismiss: float = -4.0  # spread over the item's facets ...
    dismiss_spread: float = 0.5  # ... at half strength
    w_dismiss_reason: float = -6.0  # on the named facet only

    # ------------------------------------------------------------ half-lives (days)
    half_life_style: float = 90.0
    half_life_color: float = 90.0
    half_life_brand: float = 90.0
    half_life_category: float = 90.0
    half_life_budget: float = 120.0
    half_life_size: float = 365.0
    half_life_negative: float = 30.0

    # ------------------------------------------------------ the facet posteriors
    # (preference.py) A signal counts as a choice from a result list shown this recently.
    list_window_hours: float = 24.0
    # How many values of a facet compete for the shopper's set (the most chosen first),
    # and how many the set may hold: enumerating subsets stays cheap.
    set_candidates: int = 8
    set_max: int = 4
    # Prior: the shopper's set holds about this many values of each facet ("a few dominant
    # styles", "liked colours", "favourite brands", "the categories they shop"), each
    # value in proportion to the square root of its catalogue share (black is liked more
    # often than orange; a rare style is not).
    expected_values: Mapping[str, float] = field(default_factory=lambda: {
        "style": 2.5, "color": 2.0, "brand": 2.0, "category": 3.5})
    # The likelihood counts each signal as independent evidence, but one session's choices
    # are not (a keen session, another person on the account, a mood): each facet's
    # likelihood is raised to a power (a power likelihood), chosen so that its posteriors
    # are calibrated on the benchmark's fitting populations.
    likelihood_power: Mapping[str, float] = field(default_factory=lambda: {
        "style": 0.6, "color": 0.6, "brand": 0.35, "category": 0.7, "budget": 0.7})
    # A result at 0-based position k is looked at with probability 1 / (1 + bias · k).
    position_bias: float = 0.35
    # What fitting adds to the log-odds of viewing a product looked at (prior mean, sd),
    # and its uncertainty, averaged over around the estimate.
    fit_effect_prior: tuple[float, float] = (2.5, 1.0)
    fit_effect_spread: tuple[float, ...] = (-0.5, 0.0, 0.5)
    # ... and of engaging (like, save, cart, purchase) with a product viewed.
    engage_effect_prior: tuple[float, float] = (2.0, 1.0)
    # The share of views that are random clicks, averaged over (the first also for engaging).
    click_floors: tuple[float, ...] = (0.02, 0.05, 0.1)
    # A fitting product not viewed is dismissed this much as often as one that does not fit,
    # and dismissed for a reason naming the facet this much as often.
    dismiss_fit_ratio: float = 0.3
    reason_fit_ratio: float = 0.05
    # A product chosen outside any list: how much likelier a fitting one is, averaged over.
    unexposed_ratios: tuple[float, ...] = (2.0, 4.0, 8.0)
    # Rounds of EM between the posterior over sets and the choice model's rates.
    em_rounds: int = 4
    # A search names one of the shopper's values with probability 1 − ε, else a value at
    # random; ε is unknown, averaged over this grid (a uniform prior).
    search_noise_grid: tuple[float, ...] = (0.3, 0.5, 0.7)

    # ------------------------------------------------------- display
    # One threshold per facet on the posterior; see DisplayRule.
    display: Mapping[str, DisplayRule] = field(default_factory=lambda: {
        "style": DisplayRule(0.85), "color": DisplayRule(0.85), "brand": DisplayRule(0.95),
        "category": DisplayRule(0.9)})
    # The ranker's affinity (model._facet_values): a liked value's posterior lift over its
    # prior times the confidence of its evidence, 1 − exp(−E / confidence_scale) with E =
    # P / like_equivalent (PREFERENCES.md: still-learning values count, scaled by confidence);
    # a learned dislike from dismissals, net = (P − N) / (P + N + net_prior) when negative,
    # weighed by 1 − exp(−N / confidence_scale).
    like_equivalent: float = 3.0
    confidence_scale: float = 6.0
    net_prior: float = 2.0

    # ------------------------------------------------------------------- budget
    # (budget.py) The category's middle band: these quantiles of the catalogue's log-prices.
    budget_prior_low_quantile: float = 0.34
    budget_prior_high_quantile: float = 0.66
    # How much a category's centre may differ from the shopper's cross-category price level (sd, log-price).
    budget_category_sd: float = 0.15
    budget_level_prior_sd: float = 1.0  # the level, around the catalogue's middle
    # Acceptance falls off beyond the band's top by this much per unit of log-price (in
    # log-acceptance), and below its bottom by that much: cheaper is rarely a deal-breaker.
    budget_slope_above: float = 9.0
    budget_slope_below: float = 4.5
    # The grid the half-width and the share of choices unrelated to price are read from.
    budget_half_widths: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5)
    budget_noise_levels: tuple[float, ...] = (0.1, 0.3)
    # Weight of each kind of choice in the prices chosen (views are the noisiest).
    budget_choice_weights: Mapping[str, float] = field(default_factory=lambda: {
        "view": 0.25, "engaged": 1.0})
    # Shown when P(the band's centre is within 0.35 half-widths of the truth: an overlap of
    # 0.7 with the true band) reaches this.
    budget_show_confidence: float = 0.5
    budget_pricey_margin: float = 0.9  # "too pricey": the upper bound moves to just below that price

    # --------------------------------------------------------------------- size
    size_prior: float = 0.5  # Dirichlet pseudo-count per size of the category's system
    size_kept_purchase: float = 1.0
    size_cart: float = 0.5
    size_save: float = 0.3
    size_return_shift: float = 1.0  # mass put on the next size up / down after a return
    size_show_posterior: float = 0.6
    size_show_min_kept: int = 1
    # Categories sharing a size system share a body: the weight of the other categories' evidence.
    size_pool_weight: float = 0.5

    # ------------------------------------------------------------------ ranking
    lam: float = 0.35  # λ: weight of the preference score (0 when personalisation is off)
    fts_cap: int = 2000  # text matches retrieved before re-ranking (the runtime caps at 1024)
    facet_weights: Mapping[str, float] = field(default_factory=lambda: {
        "style": 0.40, "color": 0.25, "brand": 0.20, "category": 0.15})
    budget_inside_bonus: float = 0.15
    budget_outside_penalty: float = 0.35  # at and beyond `budget_far` outside the band
    budget_near: float = math.log(1.15)  # this far outside (log-price) costs nothing
    budget_far: float = math.log(1.8)  # "far outside": full penalty
    size_in_stock_bonus: float = 0.12
    size_missing_penalty: float = 0.05
    never_penalty: float = 1.0  # a "never" value: strong push down
    guard_brand_top10: int = 3  # at most this many items of one brand in the top 10
    # 1-based ranks within the top 20 kept so the profile keeps learning (ranking.rank): each
    # goes to the best result of a style the profile is unsure of (posterior in
    # ``explore_style_posterior``) carrying no displayed style, else to the best
    # unpersonalised result not already above.
    explore_ranks: tuple[int, ...] = (9, 18)
    explore_style_posterior: tuple[float, float] = (0.05, 0.85)
    max_reasons: int = 3

    # ------------------------------------------------------------------ privacy
    retention_signals_days: float = 180.0
    retention_queries_days: float = 90.0
    # Categories implying health, pregnancy or body size: never learned unless the
    # shopper adds them (pins / sets budget or size for them).
    sensitive_categories: frozenset[str] = field(
        default_factory=lambda: frozenset(
            {"maternity", "shapewear", "plus-size", "health", "medical", "adaptive", "nursing", "postpartum"}
        )
    )

    def __post_init__(self) -> None:
        facets = set(FACETS)
        for name, keys in (("display", facets), ("expected_values", facets), ("facet_weights", facets),
                           ("likelihood_power", facets | {"budget"}), ("budget_choice_weights", {"view", "engaged"})):
            got = set(getattr(self, name))
            if got != keys:
                raise ValueError(f"Config.{name} must have exactly the keys {', '.join(sorted(keys))}; "
                                 f"got {', '.join(sorted(got)) or 'none'}")
        for facet, rule in self.display.items():
            if not isinstance(rule, DisplayRule):
                raise TypeError(f"Config.display[{facet!r}] must be a DisplayRule, got {type(rule).__name__}")

    # ------------------------------------------------------------------ helpers
    def signal_weight(self, signal_type: str) -> float:
        """The base weight of a positive signal type (PREFERENCES.md's table)."""
        return {"view": self.w_view, "like": self.w_like, "save": self.w_save, "cart": self.w_cart,
                "purchase": self.w_purchase}.get(signal_type, 0.0)

    def half_life(self, facet: str) -> float:
        """Half-life in days of positive evidence for a facet (or 'budget' / 'size')."""
        return {
            "style": self.half_life_style,
            "color": self.half_life_color,
            "brand": self.half_life_brand,
            "category": self.half_life_category,
            "budget": self.half_life_budget,
            "size": self.half_life_size,
        }[facet]

    def decay(self, age_ms: float, half_life_days: float) -> float:
        """weight multiplier 0.5^(age / half-life); signals from the future count fully."""
        age_days = max(0.0, age_ms) / DAY_MS
        return 0.5 ** (age_days / half_life_days)


DEFAULT_CONFIG = Config()
