"""The learning model: the shopper's profile as a pure function of their signal log.

Why a pure function: the signal log is the source of truth (PREFERENCES.md, "Learning").
``compute_profile(signals, products_by_id, overrides, now_ms, config)`` reads nothing
else — no clock, no database, no randomness — so

- the profile can be recomputed at any time (after a config change, by the decay cron);
- "forget" is exact: dropping signals and recomputing gives precisely the profile that
  would have been learned without them (a property test checks this);
- overrides (pin / remove / never / set budget / set size) are an *input*, never an
  output the learner could overwrite: whatever the signals, they win (tested too).

The model, exactly as the spec states it (numbers in ``config.Config``):

- each signal has a weight (view 1 with repeats adding 1 + ln n in total, search 1.5 per
  named facet value, like 3, save 4, cart 5, purchase 10, dismiss −4 spread over the
  item's facets at half strength, dismiss with a reason −6 on the named facet only,
  return for size 0 for style), decayed by 0.5^(age / half-life) with the facet's
  half-life (negatives 30 days);
- per facet value: positive mass P, negative mass N, share = P / ΣP of the facet, lift =
  share / the value's share of the catalogue (weighted by the categories this shopper
  shops, so "black shoes" are judged against shoes), net = (P − N) / (P + N + 2),
  confidence = 1 − exp(−E / 6) with E = P / 3;
- a value is *shown* with P ≥ 6, ≥ 3 distinct items, ≥ 2 distinct days, share ≥ 0.15,
  lift ≥ 1.2, net > 0.2, at most 5 per facet; otherwise it is *learning* and still counts
  for ranking, scaled by its confidence;
- budget per category: weighted 20th / 80th percentiles of log-prices of positively
  signalled items, shrunk toward the category's middle band when evidence is thin;
- size per category: Dirichlet-multinomial (prior 0.5 per size), kept purchase 1, cart
  0.5, save with a size 0.3, a "too small" / "too big" return moves mass one size up /
  down;
- categories implying health, pregnancy or body size are never learned from unless the
  shopper adds them (pins the category or sets a budget or size for it).

Beyond the spec's arithmetic (each departure is a number in ``config.Config`` with its
reason, measured on the simulated-shopper benchmark):

- *impressions*: ``compute_profile(..., impressions=[{"ts", "productIds"}])`` (or search
  signals carrying a ``"shown"`` list) gives the result lists the shopper saw; a
  per-shopper choice model (exposure.py) then measures each style / colour / brand
  against what was shown — the spec's "lift against items the shopper was shown" — and
  the shopper's price level against the prices shown;
- per-facet display rules (``facet_display_rules``): a style must also be chosen at least
  as often as shown and be likely one of the shopper's styles under the style-set model
  (exposure.py), unless the shopper keeps searching for it or that model is sure of it,
  and chosen in at least three visits (a visit ends after a 30-minute pause: a style
  seen in one or two was as often another person's on the account, a gift or a random
  pick); colours and brands need corroborating searches;
- budgets: centre pooled across categories through the shopper's price level, width
  shrunk toward the category's middle band;
- sizes: evidence pooled across categories sharing a size system.
"""


from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .catalog import FACETS, CatalogStats, compute_catalog_stats, parse_query_facets, weighted_quantile
from .config import DAY_MS, DEFAULT_CONFIG, Config
from .exposure import ExposureFit, fit_exposure, normalize_impressions
from .reasons import DISMISS_REASONS, RETURN_REASONS, dismiss_code, return_code

SIGNAL_TYPES = ("view", "like", "save", "purchase", "dismiss", "search", "return", "cart")
OVERRIDE_ACTIONS = ("pin", "remove", "never")
STATE_ORDER = {"pinned": 0, "shown": 1, "learning": 2, "removed": 3, "never": 4}

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
    """One value of one facet with its learned statistics (and override, if any)."""

    facet: str
    value: str
    source: str = "learned"  # learned | user
    state: str = "learning"  # shown | learning | pinned | removed | never
    confidence: float = 0.0
    affinity: float = 0.0  # the ranker's score for the value, in [-1, 1]; dislikes < 0
    share: float = 0.0
    lift: float = 0.0
    net: float = 0.0
    positive: float = 0.0  # P
    negative: float = 0.0  # N
    items: int = 0
    signals: int = 0
    days: int = 0
    visits: int = 0  # distinct visits with an item of the value chosen
    last_seen: float | None = None
    top_signal: str | None = None  # signal type carrying most of P (for reasons)
    catalog_lift: float = 0.0  # share over the catalogue baseline (the lift when no impressions were logged)
    search_mass: float = 0.0  # part of P from searches naming the value
    searches: int = 0  # searches naming the value
    exposure_lift: float | None = None  # θ of the impression model (exposure.py), if fitted
    posterior: float | None = None  # P(one of the shopper's styles), exposure._style_set_posterior

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
            "evidence": {"items": self.items, "signals": self.signals, "lastSeen": self.last_seen},
            "share": round(self.share, 4),
            "lift": round(self.lift, 4),
            "topSignal": self.top_signal,
        }

    @classmethod
    def from_json(cls, facet: str, d: Mapping[str, Any]) -> "FacetValue":
        ev = d.get("evidence") or {}
        return cls(
            facet=facet, value=d["value"], source=d.get("source", "learned"), state=d.get("state", "learning"),
            confidence=float(d.get("confidence", 0.0)), affinity=float(d.get("affinity", 0.0)),
            share=float(d.get("share", 0.0)), lift=float(d.get("lift", 0.0)),
            items=int(ev.get("items", 0)), signals=int(ev.get("signals", 0)), last_seen=ev.get("lastSeen"),
            top_signal=d.get("topSignal"),
        )


@dataclass
class BudgetEstimate:
    category: str
    min: float
    max: float
    source: str = "learned"
    state: str = "learning"  # shown | learning | user
    confidence: float = 0.0
    items: int = 0

    @property
    def locked(self) -> bool:
        return self.source == "user"

    def to_json(self) -> dict[str, Any]:
        return {"min": round(self.min, 2), "max": round(self.max, 2), "source": self.source,
                "confidence": round(self.confidence, 4), "locked": self.locked, "state": self.state,
                "items": self.items}

    @classmethod
    def from_json(cls, category: str, d: Mapping[str, Any]) -> "BudgetEstimate":
        return cls(category, float(d["min"]), float(d["max"]), d.get("source", "learned"),
                   d.get("state", "user" if d.get("locked") else "learning"), float(d.get("confidence", 0.0)),
                   int(d.get("items", 0)))


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
    # The impression fit behind the lifts (diagnostics only; not part of the JSON).
    exposure: Any = field(default=None, repr=False, compare=False)

    def value(self, facet: str, value: str) -> FacetValue | None:
        return self.facets.get(facet, {}).get(value)

    def displayed(self, facet: str) -> list[FacetValue]:
        """What the shopper sees as their profile: ``pinned`` then ``shown`` values."""
        vals = [v for v in self.facets.get(facet, {}).values() if v.state in ("pinned", "shown")]
        return sorted(vals, key=lambda v: (STATE_ORDER[v.state], -v.share, v.value))

    def to_json(self) -> dict[str, Any]:
        """Exactly the ``preferences:get`` shape of PREFERENCES.md (plus a few extra fields)."""
        facets_json: dict[str, list[dict[str, Any]]] = {}
        for facet in FACETS:
            vals = sorted(
                self.facets.get(facet, {}).values(),
                key=lambda v: (STATE_ORDER[v.state], -v.affinity if v.state == "learning" else -v.share, v.value),
            )
            facets_json[facet] = [v.to_json() for v in vals]
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


class _Acc:
    """Running evidence for one facet value."""

    __slots__ = ("P", "N", "items", "signals", "days", "visits", "last_seen", "by_type", "searches")

    def __init__(self) -> None:
        self.P = 0.0
        self.N = 0.0
        self.items: set[Any] = set()
        self.signals = 0
        self.days: set[int] = set()
        self.visits: set[int] = set()  # visits in which an item of the value was chosen
        self.last_seen: float | None = None
        self.by_type: dict[str, float] = {}
        self.searches = 0  # searches naming the value

    def touch(self, ts: float) -> None:
        self.signals += 1
        self.last_seen = ts if self.last_seen is None else max(self.last_seen, ts)


def item_facets(product: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        "style": list(product.get("styles") or []),
        "color": list(product.get("colors") or []),
        "brand": [product["brand"]] if product.get("brand") else [],
        "category": [product["category"]] if product.get("category") else [],
    }


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


class _Pass:
    """One pass over the ordered signal log, accumulating evidence.

    One refinement over "every facet value of an item gets the item's weight", so that a
    value is credited only for choices it explains (explaining away cut falsely displayed
    styles by about a third in the simulated-shopper benchmark): on an item with several
    values of one facet (styles ["minimalist", "classic"]), each value gets the weight ×
    its lift over the best lift on the item (``credit``), lifts taken from the previous
    pass. A style that only ever rides along with a loved one stops looking loved; two
    genuinely loved styles keep full credit each.
    """

    def __init__(self, config: Config, stats: CatalogStats, products_by_id, now_ms: float, learnable_category,
                 credit: dict[str, dict[str, float]] | None):
        self.config, self.stats, self.products, self.now = config, stats, products_by_id, now_ms
        self.learnable_category = learnable_category
        self.credit = credit
        self.acc: dict[tuple[str, str], _Acc] = {}
        self.budget_obs: dict[str, list[tuple[float, float, str, Any]]] = {}
        self.pricey: dict[str, list[tuple[float, float]]] = {}
        self.size_mass: dict[str, dict[str, float]] = {}
        self.kept: dict[str, int] = {}
        self.choices: list[tuple[Any, float, float]] = []  # (product id, decayed mass, ts) for the exposure fit
        self.visit = 0  # the visit being read: signals ``visit_gap_minutes`` apart start a new one

    def get(self, facet: str, value: str) -> _Acc:
        a = self.acc.get((facet, value))
        if a is None:
            a = self.acc[(facet, value)] = _Acc()
        return a

    def decay(self, ts: float, half_life: float) -> float:
        return self.config.decay(self.now - ts, half_life)

    def add_positive(self, product: Mapping[str, Any], pid: Any, weight: float, stype: str, ts: float) -> None:
        config = self.config
        day = int(ts // DAY_MS)
        for facet, values in item_facets(product).items():
            w = weight * self.decay(ts, config.half_life(facet))
            ratios = self.credit.get(facet) if self.credit is not None and len(values) > 1 else None
            best = max((ratios.get(v, 1.0) for v in values), default=1.0) if ratios else 1.0
            for v in values:
                wv = w
                if ratios and best > 0:
                    wv *= ratios.get(v, 1.0) / best
                a = self.get(facet, v)
                a.P += wv
                a.items.add(pid)
                a.days.add(day)
                a.visits.add(self.visit)
                a.by_type[stype] = a.by_type.get(stype, 0.0) + wv
                a.touch(ts)
        self.choices.append((pid, weight * self.decay(ts, config.half_life_style), ts))
        price = product.get("price")
        if stype in config.budget_signal_types and price and price > 0:
            wb = weight * self.decay(ts, config.half_life("budget"))
            self.budget_obs.setdefault(product["category"], []).append((math.log(price), wb, stype, pid))

    def add_negative(self, product: Mapping[str, Any], amount: float, ts: float, only: str | None) -> None:
        w = amount * self.decay(ts, self.config.half_life_negative)
        for facet, values in item_facets(product).items():
            if only is not None and facet != only:
                continue
            for v in values:
                a = self.get(facet, v)
                a.N += w
                a.touch(ts)

    def add_size(self, cat: str, size: str | None, mass: float, ts: float) -> None:
        if not size:
            return
        system = self.stats.size_systems.get(cat)
        if system is not None and len(system) <= 1:
            return
        m = mass * self.decay(ts, self.config.half_life("size"))
        bucket = self.size_mass.setdefault(cat, {})
        bucket[size] = bucket.get(size, 0.0) + m

    def consume(self, ordered: list[Mapping[str, Any]], returned: dict[int, Mapping[str, Any]]) -> None:
        config = self.config
        view_counts: dict[Any, int] = {}
        return_of = {id(r): j for j, r in returned.items()}
        gap = config.visit_gap_minutes * 60_000.0
        last_ts: float | None = None
        for i, s in enumerate(ordered):
            stype = s.get("type")
            ts = float(s.get("ts", 0.0))
            if last_ts is not None and ts - last_ts > gap:
                self.visit += 1
            last_ts = ts
            if stype == "search":
                facets = parse_query_facets(s.get("query") or "", self.stats.vocabulary)
                if any(not self.learnable_category(c) for c in facets.get("category", [])):
                    continue  # the query itself implies a sensitive category: learn nothing from it
                day = int(ts // DAY_MS)
                for facet, values in facets.items():
                    w = config.w_search_facet * self.decay(ts, config.half_life(facet))
                    for v in values:
                        a = self.get(facet, v)
                        a.P += w
                        a.days.add(day)
                        a.by_type["search"] = a.by_type.get("search", 0.0) + w
                        a.searches += 1
                        a.touch(ts)
                continue
            pid = s.get("productId")
            product = self.products.get(pid) if pid is not None else None
            if product is None or not self.learnable_category(product.get("category")):
                continue
            cat = product.get("category")
            if stype == "view":
                n = view_counts.get(pid, 0) + 1
                view_counts[pid] = n
                inc = 1.0 if n == 1 else math.log(n / (n - 1))  # totals 1 + ln n over n views
                self.add_positive(product, pid, config.w_view * inc, "view", ts)
            elif stype in ("like", "save", "cart"):
                self.add_positive(product, pid, config.signal_weight(stype), stype, ts)
                if stype == "save":
                    self.add_size(cat, s.get("size"), config.size_save, ts)
                elif stype == "cart":
                    self.add_size(cat, s.get("size"), config.size_cart, ts)
            elif stype == "purchase":
                ret = returned.get(i)
                direction = RETURN_REASONS.get(return_code(ret.get("reason"))) if ret is not None else None
                if ret is not None and direction is None:
                    # Returned for another reason: it was wanted (cart-level intent), not kept.
                    self.add_positive(product, pid, config.w_cart, "cart", ts)
                else:
                    self.add_positive(product, pid, config.w_purchase, "purchase", ts)
                if ret is None:
                    self.add_size(cat, s.get("size"), config.size_kept_purchase, ts)
                    if s.get("size"):
                        self.kept[cat] = self.kept.get(cat, 0) + 1
            elif stype == "return":
                # 0 for style; a size reason moves the size estimate one step.
                direction = RETURN_REASONS.get(return_code(s.get("reason")))
                size = s.get("size")
                if size is None and id(s) in return_of:
                    size = ordered[return_of[id(s)]].get("size")
                system = self.stats.size_systems.get(cat) or ()
                if direction in (1, -1) and size in system:
                    k = system.index(size) + direction
                    if 0 <= k < len(system):
                        self.add_size(cat, system[k], config.size_return_shift, ts)
            elif stype == "dismiss":
                target = DISMISS_REASONS.get(dismiss_code(s.get("reason")) or "")
                if target == "budget":
                    price = product.get("price")
                    if price and price > 0:
                        w = abs(config.w_dismiss_reason) * self.decay(ts, config.half_life_negative)
                        self.pricey.setdefault(cat, []).append((math.log(price), w))
                    self.get("category", cat).touch(ts)
                elif target is not None:
                    self.add_negative(product, abs(config.w_dismiss_reason), ts, target)
                else:
                    self.add_negative(product, abs(config.w_dismiss) * config.dismiss_spread, ts, None)


def _lift_ratios(acc, stats: CatalogStats, config: Config, learnable_category) -> dict[str, dict[str, float]]:
    """Per value lift (share / baseline) of the explain-away facets, from one pass's evidence."""
    out: dict[str, dict[str, float]] = {}
    cat_mix = _category_mix(acc, stats)
    for facet in config.explain_away_facets:
        vals = {v: a.P for (f, v), a in acc.items() if f == facet}
        total = sum(vals.values())
        if total <= 0:
            continue
        out[facet] = {v: max(config.credit_floor, (p / total) / max(_base_share(stats, facet, v, cat_mix), 1e-3))
                      for v, p in vals.items()}
    return out


def _category_mix(acc, stats: CatalogStats) -> dict[str, float]:
    """The categories this shopper shops (by P), to weight the per-category baselines."""
    cat_p = {v: a.P for (f, v), a in acc.items() if f == "category" and a.P > 0 and v in stats.category_share}
    total = sum(cat_p.values())
    return {c: p / total for c, p in cat_p.items()} if total > 0 else dict(stats.category_share)


def _base_share(stats: CatalogStats, facet: str, value: str, cat_mix: Mapping[str, float]) -> float:
    if facet == "category":
        return stats.category_share.get(value, 0.0)
    per_cat = stats.base_share.get(facet, {})
    return sum(w * per_cat.get(c, {}).get(value, 0.0) for c, w in cat_mix.items())


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
    impressions: Iterable[Mapping[str, Any]] | None = None,
) -> Profile:
    """The effective profile of one shopper — a pure function of its arguments.

    ``signals``: dicts ``{"type", "productId"?, "query"?, "reason"?, "size"?, "ts", "_id"?}``
    (the function layer passes only signals not forgotten and within retention).
    ``products_by_id``: the catalogue keyed by the ids signals use. ``catalog_stats``: the
    whole catalogue's statistics (lift baselines, price bands, size systems); pass it when
    ``products_by_id`` holds only the products the signals reference, since lift must be
    measured against the whole catalogue. ``personalize`` / ``learning_paused`` are echoed:
    pausing is enforced by not logging signals, not by ignoring ones already logged.
    """
    ov = normalize_overrides(overrides)
    stats = catalog_stats or catalog_stats_for(products_by_id, config)
    sensitive = config.sensitive_categories

    def learnable_category(cat: str | None) -> bool:
        return cat is None or cat not in sensitive or ov.adds_category(cat)

    ordered = [s for _, s in sorted(enumerate(signals), key=_signal_sort_key)]

    # Pair each return with the latest earlier purchase of the same product, so a
    # purchase knows whether it was kept (size evidence) and why it came back.
    open_purchases: dict[Any, list[int]] = {}
    returned: dict[int, Mapping[str, Any]] = {}
    for i, s in enumerate(ordered):
        if s.get("type") == "purchase" and s.get("productId") is not None:
            open_purchases.setdefault(s["productId"], []).append(i)
        elif s.get("type") == "return" and s.get("productId") is not None:
            stack = open_purchases.get(s["productId"])
            if stack:
                returned[stack.pop()] = s

    # Credit allocation (see _Pass): the first pass gives every value of an item full
    # credit; later passes let the values that best explain the shopper's choices take it.
    credit: dict[str, dict[str, float]] | None = None
    for iteration in range(config.credit_iterations + 1):
        run = _Pass(config, stats, products_by_id, now_ms, learnable_category, credit)
        run.consume(ordered, returned)
        if iteration < config.credit_iterations:
            credit = _lift_ratios(run.acc, stats, config, learnable_category)
    acc, budget_obs, pricey, size_mass, kept = run.acc, run.budget_obs, run.pricey, run.size_mass, run.kept

    # Lift against what the shopper was shown (exposure.py), when result lists were logged.
    imps = normalize_impressions(impressions, ordered)
    fit = None
    if imps:
        mids = {c: (lo + hi) / 2 for c, (lo, hi) in stats.log_price_band.items()}
        mix = _category_mix(acc, stats)
        fit = fit_exposure(run.choices, imps, products_by_id, mids, config, learnable_category,
                           baseline=lambda f, v: _base_share(stats, f, v, mix))
        if fit.sessions == 0:
            fit = None

    budget = _budgets(budget_obs, pricey, stats, ov, config, learnable_category, fit)
    facets = _facet_values(acc, stats, ov, config, learnable_category, budget, fit)
    size = _sizes(size_mass, kept, stats, ov, config)
    return Profile(facets, budget, size, personalize=personalize, learning_paused=learning_paused, updated_at=float(now_ms),
                   exposure=fit)


def _facet_values(acc, stats: CatalogStats, ov: Overrides, config: Config, learnable_category,
                  budgets: Mapping[str, "BudgetEstimate"], fit: ExposureFit | None = None) -> dict[str, dict[str, FacetValue]]:
    """Shares, lifts, confidence, affinity and display state per facet value."""
    out: dict[str, dict[str, FacetValue]] = {f: {} for f in FACETS}
    total_p = {f: 0.0 for f in FACETS}
    for (facet, _), a in acc.items():
        total_p[facet] += a.P
    cat_mix = _category_mix(acc, stats)
    brand_base = _brand_baseline(acc, total_p, stats, cat_mix, budgets, config) if config.brand_conditional_baseline else None

    def base(facet: str, value: str) -> float:
        if facet == "brand" and brand_base is not None:
            return brand_base.get(value, 0.0)
        return _base_share(stats, facet, value, cat_mix)

    for (facet, value), a in acc.items():
        if facet == "category" and not learnable_category(value):
            continue
        share = a.P / total_p[facet] if total_p[facet] > 0 else 0.0
        b = max(base(facet, value), 1e-3)
        lift = (a.P / total_p[facet]) / b if total_p[facet] > 0 else 1.0
        theta = fit.theta.get((facet, value)) if fit is not None else None
        # The ranker's lift: θ when impressions were logged (see impression_rank_lift).
        rank_lift = theta if theta is not None and config.impression_rank_lift else lift
        net = (a.P - a.N) / (a.P + a.N + config.net_prior)
        confidence = 1.0 - math.exp(-(a.P / config.like_equivalent) / config.confidence_scale)
        pos = 0.0
        if rank_lift > 1.0 and share > 0:
            pos = confidence * min(1.0, math.log(rank_lift) / config.lift_saturation)
        neg = 0.0
        if net < 0:
            neg = -net * (1.0 - math.exp(-a.N / config.confidence_scale))
        top = max(a.by_type.items(), key=lambda kv: kv[1])[0] if a.by_type else None
        out[facet][value] = FacetValue(
            facet=facet, value=value, confidence=confidence, affinity=max(-1.0, min(1.0, pos - neg)),
            share=share, lift=lift, net=net, positive=a.P, negative=a.N, items=len(a.items),
            signals=a.signals, days=len(a.days), visits=len(a.visits), last_seen=a.last_seen, top_signal=top,
            catalog_lift=lift, search_mass=a.by_type.get("search", 0.0), searches=a.searches, exposure_lift=theta,
            posterior=fit.style_posterior.get(value) if fit is not None and facet == "style" else None,
        )
    for facet in FACETS:
        min_share = config.show_threshold(facet, "min_share")
        min_lift = config.show_threshold(facet, "min_lift")
        min_theta = config.show_threshold(facet, "min_exposure_lift")
        min_searches = config.show_threshold(facet, "min_searches")
        min_net = config.show_threshold(facet, "min_net")
        min_visits = config.show_threshold(facet, "min_visits")
        min_post = config.show_threshold(facet, "min_posterior")
        alt_post = config.show_threshold(facet, "posterior_route")
        searched_post = config.show_threshold(facet, "searched_posterior")
        alt_post_share = config.show_threshold(facet, "posterior_route_min_share")
        # The search route (see Config.facet_display_rules): a value the shopper keeps
        # searching for is shown on a lower share, whatever its lift.
        alt_searches = config.show_threshold(facet, "searched_min_searches")
        alt_share = config.show_threshold(facet, "searched_min_share")
        alt_search_share = config.show_threshold(facet, "searched_min_search_share")
        facet_searches = sum(v.searches for v in out[facet].values())

        def by_choices(v: FacetValue) -> bool:
            return (v.share >= min_share and v.lift >= min_lift
                    and (v.exposure_lift is None or v.exposure_lift >= min_theta) and v.searches >= min_searches
                    and (v.posterior is None or v.posterior >= min_post))

        def by_posterior(v: FacetValue) -> bool:
            if v.posterior is None:
                return False
            # Sure from the choices alone, or likely and searched for at least once.
            return ((alt_post > 0 and v.posterior >= alt_post and v.share >= alt_post_share)
                    or (searched_post > 0 and v.posterior >= searched_post and v.searches >= 1 and v.share >= alt_share))

        def by_searches(v: FacetValue) -> bool:
            return (alt_searches > 0 and v.searches >= alt_searches and v.share >= alt_share
                    and v.searches >= alt_search_share * facet_searches)

        eligible = [
            v for v in out[facet].values()
            if v.positive >= config.show_min_p and v.items >= config.show_min_items and v.days >= config.show_min_days
            and v.visits >= min_visits and v.net > min_net and (by_choices(v) or by_searches(v) or by_posterior(v))
            and ov.action(facet, v.value) is None
        ]
        eligible.sort(key=lambda v: (-v.share, v.value))
        for v in eligible[: config.show_max_values]:
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


def _brand_baseline(acc, total_p, stats: CatalogStats, cat_mix, budgets, config: Config) -> dict[str, float]:
    """Each brand's expected share if the shopper chose only by style, category and budget.

    Why: brands carry a style and a price tier, so a minimalist mid-price shopper buys a
    lot of the minimalist mid-price brands without caring about the brand. A brand is a
    preference only when chosen beyond what style and budget explain, so its lift is
    measured against the catalogue reweighted by the shopper's style lifts (how the spec's
    "share among items the shopper was shown" behaves under personalised results) and
    closeness to their budget band, within the categories they shop.
    """
    style_total = total_p.get("style", 0.0)
    style_lift: dict[str, float] = {}
    if style_total > 0:
        for (f, v), a in acc.items():
            if f == "style":
                b = _base_share(stats, "style", v, cat_mix)
                style_lift[v] = min(4.0, max(config.credit_floor, (a.P / style_total) / max(b, 1e-3)))
    weights: dict[str, float] = {}
    for cat, cw in cat_mix.items():
        items = stats.items_by_category.get(cat, ())
        if not items:
            continue
        band = budgets.get(cat)
        lo = math.log(max(band.min, 1e-6)) if band else None
        hi = math.log(band.max) if band else None
        per_item = cw / len(items)
        for brand, styles, lp in items:
            w = per_item
            if style_lift:
                w *= max((style_lift.get(st, config.credit_floor) for st in styles), default=config.credit_floor)
            if band is not None and lp is not None:
                d = (lo - lp) if lp < lo else (lp - hi) if lp > hi else 0.0
                if d > 0:
                    w *= math.exp(-((d / 0.35) ** 2))
            weights[brand] = weights.get(brand, 0.0) + w
    total = sum(weights.values())
    return {b: w / total for b, w in weights.items()} if total > 0 else {}


def _budgets(budget_obs, pricey, stats: CatalogStats, ov: Overrides, config: Config, learnable_category,
             fit: ExposureFit | None = None) -> dict[str, BudgetEstimate]:
    """Per-category budget bands in log-price, with hierarchical shrinkage.

    The spec's estimator (weighted 20th / 80th percentiles of what the shopper signalled,
    shrunk toward the category's middle band) measured poorly in the simulated-shopper
    benchmark (IoU ≈ 0.45): a third of what shoppers buy lies outside the band they
    accept (cheaper items are rarely refused; a great item a bit over budget is bought),
    and what they are shown is mostly mid-priced, so per-category quantiles of a handful
    of items are noisy and pulled toward the middle. So:

    - *centre*: a shopper's price position is consistent across categories (a premium
      shopper is premium in shoes and in tops), so one *price level* — log-price relative
      to each category's middle, pooled over every category — is estimated from all
      positive signals (against what was shown when impressions are logged, see
      ``exposure._price_level``; else the weighted median); each category's centre is its
      own weighted median (moved by the same exposure correction) shrunk toward
      (category middle + level) with ``budget_center_k`` like-equivalents of prior weight;
    - *width*: the observed 20–80% spread (scaled to a band) shrunk toward the half-width
      of the category's middle band with ``budget_width_k`` — a handful of choices says
      little about how wide a band is;
    - "too pricey" dismissals pull the upper bound down toward just below that price.
    """
    out: dict[str, BudgetEstimate] = {}
    strong = {"like", "save", "purchase"}
    mids = {c: (lo + hi) / 2 for c, (lo, hi) in stats.log_price_band.items()}
    rel, rw = [], []
    for cat, obs in budget_obs.items():
        if learnable_category(cat) and cat in mids:
            for lp, w, _, _ in obs:
                if w > 0:
                    rel.append(lp - mids[cat])
                    rw.append(w)
    raw_level = weighted_quantile(rel, rw, 0.5) if rel else 0.0
    level = fit.price_level if fit is not None and fit.price_level is not None else raw_level
    # What the exposure model says the raw medians are off by (shown mostly mid-priced
    # items, shoppers pick nearer the middle than their band): applied to every category.
    shift = config.budget_exposure_shift * (level - raw_level)
    for cat, obs in budget_obs.items():
        if not learnable_category(cat):
            continue
        lps = [o[0] for o in obs]
        ws = [o[1] for o in obs]
        W = sum(ws)
        if W <= 0:
            continue
        E = W / config.like_equivalent
        q_lo = weighted_quantile(lps, ws, config.budget_low_quantile)
        q_hi = weighted_quantile(lps, ws, config.budget_high_quantile)
        c_obs = weighted_quantile(lps, ws, 0.5) + shift
        h_obs = config.budget_spread_scale * (q_hi - q_lo) / 2
        plo, phi = stats.log_price_band.get(cat, (c_obs - h_obs, c_obs + h_obs))
        c_prior = (plo + phi) / 2 + level
        h_prior = (phi - plo) / 2
        kc, kw = config.budget_center_k, config.budget_width_k
        centre = (E * c_obs + kc * c_prior) / (E + kc)
        half = (E * h_obs + kw * h_prior) / (E + kw)
        lo, hi = centre - half, centre + half
        for lp, wt in pricey.get(cat, []):
            ceiling = lp + math.log(config.budget_pricey_margin)
            if ceiling < hi:
                hi -= (hi - max(ceiling, lo)) * wt / (wt + W)
        hi = max(hi, lo)
        items = {o[3] for o in obs}
        has_strong = any(o[2] in strong for o in obs)
        state = "shown" if len(items) >= config.budget_min_items and has_strong else "learning"
        confidence = 1.0 - math.exp(-E / config.confidence_scale)
        out[cat] = BudgetEstimate(cat, math.exp(lo), math.exp(hi), "learned", state, confidence, len(items))
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
