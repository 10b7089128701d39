"""The learning model: the shopper's profile as a pure function of their signal log.

Why a pure function: the signal log is the source of truth (PREFERENCES.md, "Learning").
``compute_profile(signals, products_by_id, overrides, now_ms, config)`` reads nothing
else — no clock, no database, no randomness — so

- the profile can be recomputed at any time (after a config change, by the decay cron);
- "forget" is exact: dropping signals and recomputing gives precisely the profile that
  would have been learned without them (a property test checks this);
- overrides (pin / remove / never / set budget / set size) are an *input*, never an
  output the learner could overwrite: whatever the signals, they win (tested too).

One model per facet, each explaining itself:

- style, colour, brand, category: a posterior probability that the value is one of the
  shopper's (``preference.py``: which small set of values explains what they chose from
  the result lists they were shown, what they chose outside them, and what they searched
  for; priors from the catalogue's base rates). A value is *shown* when its posterior
  reaches its facet's ``DisplayRule``; otherwise it is *learning* and still ranks, by how
  far the evidence moved it above its prior times the confidence of that evidence
  (1 − exp(−E / 6), E = P / 3). Each value carries the evidence behind it:
  PREFERENCES.md's weighted P and N (view 1, repeats 1 + ln n, search 1.5, like 3, save
  4, cart 5, purchase 10, dismiss −4 spread at half strength, −6 on a named facet,
  decayed by half-lives), items, signals, days, searches;
- budget per category: the price band chosen against the prices shown, pooled into the
  shopper's price level (``budget.py``), shown when its centre is known well enough;
- size per category: a Dirichlet-multinomial over sizes (prior 0.5 each), kept purchase
  1, cart 0.5, save with a size 0.3, a "too_small" / "too_big" return moves mass one size
  up / down, evidence pooled across categories of one size system;
- learned dislikes (negative affinity) from dismissals: net = (P − N) / (P + N + 2);
- categories implying health, pregnancy or body size are never learned from unless the
  shopper adds them (pins the category or sets a budget or size for it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .budget import Band, apply_pricey, estimate_bands
from .catalog import FACETS, CatalogStats, compute_catalog_stats
from .config import DEFAULT_CONFIG, Config
from .evidence import Evidence, read_log
from .preference import FacetPosterior, fit_categories, fit_facet, priors
from .profile_view import value_order

OVERRIDE_ACTIONS = ("pin", "remove", "never")


# ---------------------------------------------------------------------------- overrides


@dataclass(frozen=True)
class Overrides:
    """What the shopper set by hand; lives apart from learned values and always wins.

    ``facets[facet][value]`` is "pin" (always / set by hand), "remove" ("not me") or
    "never" (ban); ``budget[category] = (min, max)``; ``size[category] = size``.
    """

    facets: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    budget: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    size: Mapping[str, str] = field(default_factory=dict)

    def action(self, facet: str, value: str) -> str | None:
        return self.facets.get(facet, {}).get(value)

    def adds_category(self, category: str) -> bool:
        """Did the shopper add this category themselves (pin, budget or size)?"""
        return self.action("category", category) == "pin" or category in self.budget or category in self.size


def normalize_overrides(raw: Any) -> Overrides:
    """Accept the forms the function layer may hold and return ``Overrides``.

    - None / ``Overrides``;
    - ``{"facets": {facet: {value: action}}, "budget": {cat: {"min", "max"} | [min, max]},
      "size": {cat: size}}``;
    - a list of override rows as stored in a table: ``{"kind": "facet", "facet", "value",
      "action"}``, ``{"kind": "budget", "category", "min", "max"}``,
      ``{"kind": "size", "category", "size"}``.
    """
    if raw is None:
        return Overrides()
    if isinstance(raw, Overrides):
        return raw
    facets: dict[str, dict[str, str]] = {}
    budget: dict[str, tuple[float, float]] = {}
    size: dict[str, str] = {}

    def add_facet(facet: str, value: str, action: str) -> None:
        if facet not in FACETS:
            raise ValueError(f"unknown facet {facet!r}")
        if action not in OVERRIDE_ACTIONS:
            raise ValueError(f"unknown override action {action!r}")
        facets.setdefault(facet, {})[value] = action

    def add_budget(cat: str, lo: Any, hi: Any) -> None:
        lo_f, hi_f = float(lo), float(hi)
        if not (0 <= lo_f <= hi_f):
            raise ValueError(f"budget for {cat!r} needs 0 ≤ min ≤ max")
        budget[cat] = (lo_f, hi_f)

    if isinstance(raw, Mapping):
        for facet, values in (raw.get("facets") or {}).items():
            for value, action in values.items():
                add_facet(facet, value, action)
        for cat, b in (raw.get("budget") or {}).items():
            if isinstance(b, Mapping):
                add_budget(cat, b["min"], b["max"])
            else:
                add_budget(cat, b[0], b[1])
        for cat, s in (raw.get("size") or {}).items():
            size[cat] = str(s["size"] if isinstance(s, Mapping) else s)
    else:
        for row in raw:
            kind = row.get("kind", "facet")
            if kind == "facet":
                add_facet(row["facet"], row["value"], row["action"])
            elif kind == "budget":
                add_budget(row["category"], row["min"], row["max"])
            elif kind == "size":
                size[row["category"]] = str(row["size"])
            else:
                raise ValueError(f"unknown override kind {kind!r}")
    return Overrides(facets, budget, size)


# ---------------------------------------------------------------------------- profile


@dataclass
class FacetValue:
    """One value of one facet: its posterior, the evidence behind it, and its override if any."""

    facet: str
    value: str
    source: str = "learned"  # learned | user
    state: str = "learning"  # shown | learning | pinned | removed | never
    confidence: float = 0.0  # the posterior (1.0 when set by the shopper)
    affinity: float = 0.0  # the ranker's score for the value, in [-1, 1]; dislikes < 0
    posterior: float | None = None  # P(the value is one of the shopper's)
    prior: float | None = None  # ... before any evidence
    share: float = 0.0  # of the facet's positive evidence P
    positive: float = 0.0  # P
    negative: float = 0.0  # N
    items: int = 0
    signals: int = 0
    days: int = 0
    searches: int = 0
    last_seen: float | None = None
    top_signal: str | None = None  # signal type carrying most of P (for reasons)

    @property
    def locked(self) -> bool:
        return self.source == "user"

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "source": self.source,
            "state": self.state,
            "confidence": round(self.confidence, 4),
            "affinity": round(self.affinity, 4),
            "locked": self.locked,
            "posterior": None if self.posterior is None else round(self.posterior, 4),
            "prior": None if self.prior is None else round(self.prior, 4),
            "evidence": {"items": self.items, "signals": self.signals, "days": self.days, "searches": self.searches,
                         "lastSeen": self.last_seen},
            "share": round(self.share, 4),
            "topSignal": self.top_signal,
        }

    @classmethod
    def from_json(cls, facet: str, d: Mapping[str, Any]) -> "FacetValue":
        ev = d.get("evidence") or {}
        return cls(
            facet=facet, value=d["value"], source=d.get("source", "learned"), state=d.get("state", "learning"),
            confidence=float(d.get("confidence", 0.0)), affinity=float(d.get("affinity", 0.0)),
            posterior=d.get("posterior"), prior=d.get("prior"), share=float(d.get("share", 0.0)),
            items=int(ev.get("items", 0)), signals=int(ev.get("signals", 0)), days=int(ev.get("days", 0)),
            searches=int(ev.get("searches", 0)), last_seen=ev.get("lastSeen"), top_signal=d.get("topSignal"),
        )


@dataclass
class BudgetEstimate:
    category: str
    min: float
    max: float
    source: str = "learned"
    state: str = "learning"  # shown | learning | user
    confidence: float = 0.0  # P(the band overlaps the truth by 0.7 or more); 1.0 when set by hand
    items: int = 0
    sd: float = 0.0  # posterior sd of the band's position, in log-price (0 when set by hand)
    # Where the band was before any evidence: the category's middle (a price) and the sd of
    # the band's position around it (log-price); the ranker acts only on what moved it.
    prior_middle: float | None = None
    prior_sd: float | None = None

    @property
    def locked(self) -> bool:
        return self.source == "user"

    def to_json(self) -> dict[str, Any]:
        return {"min": round(self.min, 2), "max": round(self.max, 2), "source": self.source,
                "confidence": round(self.confidence, 4), "locked": self.locked, "state": self.state,
                "items": self.items, "sd": round(self.sd, 4),
                "prior": None if self.prior_middle is None else {"middle": round(self.prior_middle, 2),
                                                                 "sd": round(self.prior_sd or 0.0, 4)}}

    @classmethod
    def from_json(cls, category: str, d: Mapping[str, Any]) -> "BudgetEstimate":
        return cls(category, float(d["min"]), float(d["max"]), d.get("source", "learned"),
                   d.get("state", "user" if d.get("locked") else "learning"), float(d.get("confidence", 0.0)),
                   int(d.get("items", 0)), float(d.get("sd", 0.0)),
                   (d.get("prior") or {}).get("middle"), (d.get("prior") or {}).get("sd"))


@dataclass
class SizeEstimate:
    category: str
    size: str
    source: str = "learned"
    state: str = "learning"  # shown | learning | user
    confidence: float = 0.0  # posterior of the top size (1.0 when set by hand)
    posterior: dict[str, float] = field(default_factory=dict)
    kept_purchases: int = 0

    @property
    def locked(self) -> bool:
        return self.source == "user"

    def fit_probability(self, sizes_in_stock: Iterable[str]) -> float:
        """Probability that the shopper's size is among ``sizes_in_stock``."""
        stock = set(sizes_in_stock)
        if self.source == "user" or not self.posterior:
            return 1.0 if self.size in stock else 0.0
        return sum(p for s, p in self.posterior.items() if s in stock)

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "source": self.source, "confidence": round(self.confidence, 4),
                "locked": self.locked, "state": self.state, "keptPurchases": self.kept_purchases,
                "posterior": {s: round(p, 4) for s, p in self.posterior.items()}}

    @classmethod
    def from_json(cls, category: str, d: Mapping[str, Any]) -> "SizeEstimate":
        return cls(category, str(d["size"]), d.get("source", "learned"),
                   d.get("state", "user" if d.get("locked") else "learning"), float(d.get("confidence", 0.0)),
                   dict(d.get("posterior") or {}), int(d.get("keptPurchases", 0)))


@dataclass
class Profile:
    """The effective profile: learned values merged with the shopper's overrides."""

    facets: dict[str, dict[str, FacetValue]]
    budget: dict[str, BudgetEstimate]
    size: dict[str, SizeEstimate]
    personalize: bool = True
    learning_paused: bool = False
    updated_at: float = 0.0

    def value(self, facet: str, value: str) -> FacetValue | None:
        return self.facets.get(facet, {}).get(value)

    def displayed(self, facet: str) -> list[FacetValue]:
        """What the shopper sees as their profile: ``pinned`` then ``shown`` values."""
        vals = [v for v in self.facets.get(facet, {}).values() if v.state in ("pinned", "shown")]
        return sorted(vals, key=lambda v: value_order(v.to_json()))

    def to_json(self) -> dict[str, Any]:
        """Exactly the ``preferences:get`` shape of PREFERENCES.md (plus a few extra fields)."""
        facets_json: dict[str, list[dict[str, Any]]] = {}
        for facet in FACETS:
            facets_json[facet] = sorted((v.to_json() for v in self.facets.get(facet, {}).values()), key=value_order)
        return {
            "facets": facets_json,
            "budget": {c: b.to_json() for c, b in sorted(self.budget.items())},
            "size": {c: s.to_json() for c, s in sorted(self.size.items())},
            "personalize": self.personalize,
            "learningPaused": self.learning_paused,
            "updatedAt": float(self.updated_at),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Profile":
        """Rebuild what the ranker needs from a stored ``preferences:get`` object."""
        facets = {f: {v["value"]: FacetValue.from_json(f, v) for v in (d.get("facets") or {}).get(f, [])} for f in FACETS}
        return cls(
            facets=facets,
            budget={c: BudgetEstimate.from_json(c, b) for c, b in (d.get("budget") or {}).items()},
            size={c: SizeEstimate.from_json(c, s) for c, s in (d.get("size") or {}).items()},
            personalize=bool(d.get("personalize", True)),
            learning_paused=bool(d.get("learningPaused", False)),
            updated_at=float(d.get("updatedAt") or 0.0),
        )


def empty_profile(now_ms: float = 0.0) -> Profile:
    return Profile({f: {} for f in FACETS}, {}, {}, updated_at=now_ms)


# ---------------------------------------------------------------------------- learning


def _signal_sort_key(indexed: tuple[int, Mapping[str, Any]]) -> tuple[float, str, int]:
    i, s = indexed
    return (float(s.get("ts", 0.0)), str(s.get("_id", "")), i)


_stats_cache: dict[int, tuple[Any, CatalogStats]] = {}


def catalog_stats_for(products_by_id: Mapping[Any, Mapping[str, Any]], config: Config = DEFAULT_CONFIG) -> CatalogStats:
    """Catalogue statistics, memoised on the identity of the mapping (it is treated as immutable)."""
    key = id(products_by_id)
    hit = _stats_cache.get(key)
    if hit is not None and hit[0] is products_by_id:
        return hit[1]
    stats = compute_catalog_stats(products_by_id.values(), config.budget_prior_low_quantile, config.budget_prior_high_quantile)
    if len(_stats_cache) > 8:
        _stats_cache.clear()
    _stats_cache[key] = (products_by_id, stats)
    return stats


def _category_mix(ev: Evidence, stats: CatalogStats) -> dict[str, float]:
    """The categories this shopper shops (by P), to weight the per-category base rates."""
    cat_p = {v: t.P for (f, v), t in ev.tallies.items() if f == "category" and t.P > 0 and v in stats.category_share}
    total = sum(cat_p.values())
    return {c: p / total for c, p in cat_p.items()} if total > 0 else dict(stats.category_share)


def compute_profile(
    signals: Iterable[Mapping[str, Any]],
    products_by_id: Mapping[Any, Mapping[str, Any]],
    overrides: Any = None,
    now_ms: float = 0.0,
    config: Config = DEFAULT_CONFIG,
    *,
    catalog_stats: CatalogStats | None = None,
    personalize: bool = True,
    learning_paused: bool = False,
) -> Profile:
    """The effective profile of one shopper — a pure function of its arguments.

    ``signals``: dicts ``{"type", "productId"?, "query"?, "shown"?, "reason"?, "size"?,
    "ts", "_id"?}`` (the function layer passes only signals not forgotten and within
    retention; a search's ``shown`` is the result list it showed). ``products_by_id``: the
    products the signals reference, keyed by the ids they use. ``catalog_stats``: the whole
    catalogue's statistics (base rates, price bands, size systems, vocabulary); pass it
    when ``products_by_id`` holds only the referenced products. ``personalize`` /
    ``learning_paused`` are echoed: pausing is enforced by not logging signals, not by
    ignoring ones already logged.
    """
    ov = normalize_overrides(overrides)
    stats = catalog_stats or catalog_stats_for(products_by_id, config)
    sensitive = config.sensitive_categories

    def learnable(cat: str | None) -> bool:
        return cat is None or cat not in sensitive or ov.adds_category(cat)

    ordered = [s for _, s in sorted(enumerate(signals), key=_signal_sort_key)]
    ev = read_log(ordered, products_by_id, stats, now_ms, config, learnable)
    mix = _category_mix(ev, stats)
    fits: dict[str, FacetPosterior] = {}
    # Each facet is fitted with what the ones before it say of a product as an offset on
    # its log-odds of being viewed (the price after the styles: a product passed over for
    # its price says nothing about its colour).
    fits["style"] = fit_facet("style", ev, stats, config, priors("style", stats, config, mix), lambda p: 0.0)
    bands = estimate_bands(ev, stats, config, learnable,
                           lambda p: fits["style"].appeal(p.get("styles") or []))

    def price_log_appeal(p: Mapping[str, Any]) -> float:
        band, price = bands.get(p.get("category")), p.get("price")
        if band is None or not price or price <= 0:
            return 0.0
        d = max(0.0, abs(math.log(price) - band.centre) - band.half_width)
        return -0.5 * (d / band.half_width) ** 2

    fits["color"] = fit_facet("color", ev, stats, config, priors("color", stats, config, mix),
                              lambda p: fits["style"].log_odds(p.get("styles") or []) + price_log_appeal(p))
    fits["brand"] = fit_facet("brand", ev, stats, config, priors("brand", stats, config, mix),
                              lambda p: (fits["style"].log_odds(p.get("styles") or [])
                                         + fits["color"].log_odds(p.get("colors") or []) + price_log_appeal(p)))
    fits["category"] = fit_categories(ev, stats, config, priors("category", stats, config, mix),
                                      learnable)
    facets = _facet_values(ev, fits, ov, config, learnable)
    budget = _budgets(bands, ev, ov, config)
    size = _sizes(ev.size_mass, ev.kept, stats, ov, config)
    return Profile(facets, budget, size, personalize=personalize, learning_paused=learning_paused,
                   updated_at=float(now_ms))


def _facet_values(ev: Evidence, fits: Mapping[str, FacetPosterior], ov: Overrides, config: Config,
                  learnable) -> dict[str, dict[str, FacetValue]]:
    """Each value's posterior, affinity, evidence and display state; overrides laid on top."""
    out: dict[str, dict[str, FacetValue]] = {f: {} for f in FACETS}
    total_p = {f: 0.0 for f in FACETS}
    for (facet, _), t in ev.tallies.items():
        total_p[facet] += t.P
    for (facet, value), t in ev.tallies.items():
        if facet == "category" and not learnable(value):
            continue
        fit = fits[facet]
        prior = fit.prior.get(value)
        post = fit.posterior.get(value, prior)
        # The ranker acts on how far the evidence moved the value above its prior, scaled
        # (PREFERENCES.md) by the confidence of the evidence behind it: 1 − exp(−E / 6), E = P / 3.
        liked = (post - prior) / (1.0 - prior) if post is not None and prior is not None and post > prior else 0.0
        liked *= 1.0 - math.exp(-t.P / (config.like_equivalent * config.confidence_scale))
        net = (t.P - t.N) / (t.P + t.N + config.net_prior)
        disliked = -net * (1.0 - math.exp(-t.N / config.confidence_scale)) if net < 0 else 0.0
        top = max(t.by_type.items(), key=lambda kv: kv[1])[0] if t.by_type else None
        out[facet][value] = FacetValue(
            facet=facet, value=value, confidence=post or 0.0, affinity=max(-1.0, min(1.0, liked - disliked)),
            posterior=post, prior=prior, share=t.P / total_p[facet] if total_p[facet] > 0 else 0.0,
            positive=t.P, negative=t.N, items=len(t.items), signals=t.signals, days=len(t.days),
            searches=t.searches, last_seen=t.last_seen, top_signal=top,
        )
    for facet in FACETS:
        rule = config.display[facet]
        eligible = [v for v in out[facet].values()
                    if v.posterior is not None and v.posterior >= rule.min_posterior and v.positive > v.negative
                    and ov.action(facet, v.value) is None]
        eligible.sort(key=lambda v: (-v.posterior, v.value))
        for v in eligible[: rule.max_values]:
            v.state = "shown"
        # Overrides win, whatever was learned.
        for value, action in ov.facets.get(facet, {}).items():
            fv = out[facet].get(value) or FacetValue(facet=facet, value=value)
            fv.source = "user"
            fv.state = {"pin": "pinned", "remove": "removed", "never": "never"}[action]
            fv.confidence = 1.0
            fv.affinity = {"pin": 1.0, "remove": 0.0, "never": -1.0}[action]
            out[facet][value] = fv
    return out


def _budgets(bands: Mapping[str, Band], ev: Evidence, ov: Overrides, config: Config) -> dict[str, BudgetEstimate]:
    """The learned bands as the profile shows them; a budget the shopper set replaces the learned one."""
    out: dict[str, BudgetEstimate] = {}
    for cat, band in bands.items():
        lo, hi = apply_pricey(band, ev.pricey.get(cat, []), config)
        confidence = band.confidence()
        state = "shown" if band.engaged and confidence >= config.budget_show_confidence else "learning"
        out[cat] = BudgetEstimate(cat, math.exp(lo), math.exp(hi), "learned", state, confidence, band.items, band.sd,
                                  math.exp(band.prior_middle), band.prior_sd)
    for cat, (lo_p, hi_p) in ov.budget.items():
        out[cat] = BudgetEstimate(cat, lo_p, hi_p, "user", "user", 1.0, out[cat].items if cat in out else 0)
    return out


def _sizes(size_mass, kept, stats: CatalogStats, ov: Overrides, config: Config) -> dict[str, SizeEstimate]:
    """Per-category Dirichlet-multinomial posterior over the category's sizes.

    Categories that share a size system (tops, shirts, knitwear and outerwear all use
    XS–XXL) share the shopper's body: each one's Dirichlet prior gets ``size_pool_weight``
    × the size evidence of the *other* categories of that system, so two kept purchases
    in tops steady the estimate for shirts, and a gift or a shared account's purchase in
    one category is outvoted by the shopper's own sizes elsewhere.
    """
    out: dict[str, SizeEstimate] = {}
    systems = {cat: tuple(stats.size_systems.get(cat) or ()) for cat in size_mass}
    pooled: dict[tuple[str, ...], dict[str, float]] = {}
    for cat, masses in size_mass.items():
        if len(systems[cat]) > 1:
            bucket = pooled.setdefault(systems[cat], {})
            for sz, m in masses.items():
                bucket[sz] = bucket.get(sz, 0.0) + m
    for cat, masses in size_mass.items():
        system = list(systems[cat])
        for s in masses:
            if s not in system:
                system.append(s)
        if len(system) <= 1:
            continue
        shared = pooled.get(systems[cat], {})
        prior = {s: config.size_prior + config.size_pool_weight * max(0.0, shared.get(s, 0.0) - masses.get(s, 0.0))
                 for s in system}
        total = sum(prior.values()) + sum(masses.values())
        posterior = {s: (prior[s] + masses.get(s, 0.0)) / total for s in system}
        top = max(system, key=lambda s: (posterior[s], -system.index(s)))
        n_kept = kept.get(cat, 0)
        shown = posterior[top] >= config.size_show_posterior and n_kept >= config.size_show_min_kept
        out[cat] = SizeEstimate(cat, top, "learned", "shown" if shown else "learning", posterior[top], posterior, n_kept)
    for cat, size in ov.size.items():
        prev = out.get(cat)
        out[cat] = SizeEstimate(cat, size, "user", "user", 1.0, {}, prev.kept_purchases if prev else 0)
    return out
