"""Every number of PREFERENCES.md, in one place.

Why one frozen dataclass: the product spec says the figures are *starting defaults* that
will be tuned; keeping them together (and immutable) means the learner, the ranker, the
retention cron and the benchmark all read the same values, a test can build a variant with
``dataclasses.replace(DEFAULT_CONFIG, ...)``, and a profile computed with a given config
is reproducible. Each constant has a one-line reason; what it was chosen from, with the
figures, is in bench/EXPERIMENTS.md.

Units: weights are in "view-equivalents" (a view is 1), half-lives and retention in days,
prices in the catalogue's currency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .catalog import FACETS

DAY_MS = 86_400_000.0

# The display rules a facet may override (``Config.facet_display_rules``), with the value
# each takes otherwise (None: the spec's threshold of the same name, show_min_*).
DISPLAY_RULES: dict[str, float | None] = {
    "min_share": None, "min_lift": None, "min_net": None,  # the spec's rule
    "min_exposure_lift": 0.0,  # chosen at least this much more often than shown (θ)
    "min_searches": 0.0,  # searches naming the value
    "min_visits": 0.0,  # visits (see visit_gap_minutes) in which an item of the value was chosen
    "min_posterior": 0.0,  # style-set posterior on the choice route
    "posterior_route": 0.0,  # a style-set posterior shown whatever its share (0: no such route)
    "posterior_route_min_share": 0.0,  # ... with at least this share
    "searched_posterior": 0.0,  # a searched style's posterior route (0: none)
    "searched_min_searches": 0.0,  # the search route: searches naming the style (0: no route)
    "searched_min_share": 0.0,  # ... its share
    "searched_min_search_share": 0.0,  # ... its share of the searches naming a style
}


@dataclass(frozen=True)
class Config:
    # ------------------------------------------------------------------ signal weights
    w_view: float = 1.0  # repeats of one item: total 1 + ln n
    w_search_facet: float = 1.5  # per facet value a search names
    w_like: float = 3.0
    w_save: float = 4.0
    w_cart: float = 5.0
    w_purchase: float = 10.0
    w_dismiss: float = -4.0  # spread over the item's facets ...
    dismiss_spread: float = 0.5  # ... at half strength
    w_dismiss_reason: float = -6.0  # on the named facet only
    w_return_style: float = 0.0  # a return for size never punishes the style

    # ------------------------------------------------------------ half-lives (days)
    half_life_style: float = 90.0
    half_life_color: float = 90.0
    half_life_brand: float = 90.0
    half_life_category: float = 90.0
    half_life_budget: float = 120.0
    half_life_size: float = 365.0
    half_life_negative: float = 30.0

    # ------------------------------------------------------------- confidence
    like_equivalent: float = 3.0  # E = P / 3 (evidence in likes)
    confidence_scale: float = 6.0  # confidence = 1 - exp(-E / 6)
    net_prior: float = 2.0  # net = (P - N) / (P + N + 2)

    # ------------------------------------------------------- credit assignment
    explain_away_facets: tuple[str, ...] = ("style", "color")  # a value rides along with a loved one on one item
    credit_iterations: int = 2  # passes re-allocating multi-valued items' credit by lift
    credit_floor: float = 0.05  # lowest lift ratio a value keeps in the allocation
    brand_conditional_baseline: bool = True  # brands go with style and price tier: measured against those

    # ------------------------------------------ lift against impressions (exposure.py)
    impression_rank_lift: bool = True  # rank by θ: the leading style's own exposure does not inflate it
    impression_window_hours: float = 24.0  # a signal counts as a choice from a list shown this recently
    impression_prior: float = 3.0  # Gamma(a, a) prior on θ, in view-equivalents of mass
    impression_iterations: int = 4  # MM / IPF passes
    style_set_max: int = 4  # "a few dominant styles"
    style_set_candidates: int = 10  # the most chosen styles compete for the set (enumeration stays cheap)
    style_set_temperature: float = 1.5  # log-likelihood scale of log(1 + chosen mass)
    style_set_penalty: float = 0.5  # nats per style in a set: fewer styles unless the evidence asks
    style_set_explain: tuple[str, ...] = ("color", "price")  # a wrong-colour or off-budget item says nothing of its style
    impression_price_band_width: float = 0.35  # log-price band width for the price factor
    impression_price_bands: int = 5  # bands each side of the category's middle

    # ------------------------------------------------------- display thresholds
    show_min_p: float = 6.0
    show_min_items: int = 3
    show_min_days: int = 2
    visit_gap_minutes: float = 30.0  # a pause this long starts a new visit (the usual web-analytics session)
    show_min_share: float = 0.15
    show_min_lift: float = 1.2
    show_min_net: float = 0.2
    show_max_values: int = 5
    # Per-facet departures from the spec's rule, ``(facet, ((rule, value), ...))`` with the
    # rules of DISPLAY_RULES: showing a wrong value costs more trust than hiding a right one
    # (hidden values still rank); each figure's measurement is in bench/EXPERIMENTS.md.
    facet_display_rules: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = (
        ("style", (("min_visits", 3.0), ("min_exposure_lift", 1.1), ("min_share", 0.12), ("min_posterior", 0.6),
                   ("posterior_route", 0.95), ("posterior_route_min_share", 0.06), ("searched_posterior", 0.5),
                   ("min_net", 0.6), ("searched_min_searches", 2.0), ("searched_min_share", 0.06),
                   ("searched_min_search_share", 0.2))),
        ("color", (("min_share", 0.10), ("min_searches", 2.0))),
        ("brand", (("min_searches", 2.0),)),
    )

    # ------------------------------------------------------------------- budget
    budget_low_quantile: float = 0.20  # the spec's percentiles, for the band's width only
    budget_high_quantile: float = 0.80
    budget_spread_scale: float = 1.3  # a 20–80% spread covers ~60% of a band: scale to the whole
    budget_min_items: int = 4  # priced items, incl. one like / save / purchase
    budget_center_k: float = 100.0  # like-equivalents shrinking the centre toward the pooled price level
    budget_width_k: float = 60.0  # ... and the width toward the middle band's
    budget_prior_low_quantile: float = 0.34  # the category's middle band: these quantiles of its log-prices
    budget_prior_high_quantile: float = 0.66
    budget_acceptance_sd: float = 0.35  # the price level's acceptance curve: about a true band's half-width
    budget_level_prior_sd: float = 1.0  # the level's prior around the catalogue's middle
    budget_acceptance_floor: float = 0.1  # random clicks and gifts do not drag the level to the middle
    budget_robust_rounds: int = 2
    budget_level_explain: tuple[str, ...] = ("style",)  # a cheap item of a style never picked says nothing of price
    budget_exposure_shift: float = 1.0  # share of that correction applied to each category's own median
    budget_signal_types: tuple[str, ...] = ("view", "like", "save", "cart", "purchase")  # "positively signalled"
    budget_pricey_margin: float = 0.9  # "too pricey": the upper bound moves to just below that price

    # --------------------------------------------------------------------- size
    size_prior: float = 0.5  # Dirichlet pseudo-count per size of the category's system
    size_kept_purchase: float = 1.0
    size_cart: float = 0.5
    size_save: float = 0.3
    size_return_shift: float = 1.0  # mass put on the next size up / down after a return
    size_show_posterior: float = 0.6
    size_show_min_kept: int = 1
    size_pool_weight: float = 0.5  # categories of one size system share a body: the others' weight

    # ------------------------------------------------------------------ ranking
    lam: float = 0.35  # λ: weight of the preference score (0 when personalisation is off)
    fts_cap: int = 2000  # text matches retrieved before re-ranking
    facet_weights: tuple[tuple[str, float], ...] = (
        ("style", 0.40),
        ("color", 0.25),
        ("brand", 0.20),
        ("category", 0.15),
    )
    lift_saturation: float = math.log(3.0)  # ln(lift) at which a value's positive score saturates
    budget_inside_bonus: float = 0.15
    budget_outside_penalty: float = 0.35  # at and beyond `budget_far` outside the band
    budget_near: float = math.log(1.15)  # this far outside (log-price) costs nothing
    budget_far: float = math.log(1.8)  # "far outside": full penalty
    size_in_stock_bonus: float = 0.12
    size_missing_penalty: float = 0.05
    never_penalty: float = 1.0  # a "never" value: strong push down
    guard_brand_top10: int = 3  # at most this many items of one brand in the top 10
    explore_ranks: tuple[int, ...] = (9, 18)  # 1-based ranks kept for the best unpersonalised result (learning)
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
        # A misspelled rule or facet would otherwise be ignored without a word.
        seen = set()
        for facet, rules in self.facet_display_rules:
            if facet not in FACETS:
                raise ValueError(f"Config.facet_display_rules: unknown facet {facet!r} (facets: {', '.join(FACETS)})")
            if facet in seen:
                raise ValueError(f"Config.facet_display_rules: facet {facet!r} appears twice")
            seen.add(facet)
            names = [name for name, _ in rules]
            for name in names:
                if name not in DISPLAY_RULES:
                    raise ValueError(f"Config.facet_display_rules[{facet!r}]: unknown rule {name!r} "
                                     f"(rules: {', '.join(DISPLAY_RULES)})")
            if len(set(names)) != len(names):
                raise ValueError(f"Config.facet_display_rules[{facet!r}]: a rule appears twice")
        if {f for f, _ in self.facet_weights} - set(FACETS):
            raise ValueError(f"Config.facet_weights: facets must be among {', '.join(FACETS)}")

    # ------------------------------------------------------------------ helpers
    def signal_weight(self, signal_type: str) -> float:
        """The base weight of a signal type (search and dismiss are spread separately)."""
        return {
            "view": self.w_view,
            "search": self.w_search_facet,
            "like": self.w_like,
            "save": self.w_save,
            "cart": self.w_cart,
            "purchase": self.w_purchase,
            "dismiss": self.w_dismiss,
            "return": self.w_return_style,
        }.get(signal_type, 0.0)

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

    def show_threshold(self, facet: str, name: str) -> float:
        """A display threshold for one facet: its ``facet_display_rules`` entry, else the default."""
        for f, rules in self.facet_display_rules:
            if f == facet:
                for n, v in rules:
                    if n == name:
                        return v
        default = DISPLAY_RULES[name]
        return default if default is not None else getattr(self, "show_" + name)

    def facet_weight(self, facet: str) -> float:
        return dict(self.facet_weights).get(facet, 0.0)

    def decay(self, age_ms: float, half_life_days: float) -> float:
        """weight multiplier 0.5^(age / half-life); signals from the future count fully."""
        age_days = max(0.0, age_ms) / DAY_MS
        return 0.5 ** (age_days / half_life_days)


DEFAULT_CONFIG = Config()
