"""What the signal log says, read once: result lists and what the shopper did with them.

Why result lists: PREFERENCES.md measures a value against "the items the shopper was
shown". A search logs the results it showed (``shown`` on the search signal), so each
shown product is a row with its position and outcome: looked at (a view or more), engaged
with (like, save, cart, purchase), dismissed (and why). A signal on a product no recent
list showed (bought elsewhere, saved while browsing) is an *unexposed* choice: chosen
from the catalogue itself. Searches are evidence too, for the values they name.

``read_log`` also keeps, per facet value, the spec's weighted evidence (P, N, items,
signals, days, last seen: what the profile page shows behind each value), the size
evidence and the "too pricey" dismissals.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .catalog import CatalogStats
from .config import DAY_MS, Config

# Dismissal reasons: the code the page sends -> the facet it names ("budget": the price).
DISMISS_REASONS = {"not_my_style": "style", "wrong_color": "color", "too_pricey": "budget", "not_my_brand": "brand",
                   "not_my_category": "category"}
# Return reasons: the code -> the size step it implies (+1: the next size up), None: not about size.
RETURN_REASONS = {"too_small": 1, "too_big": -1, "other": None}
ENGAGING = ("like", "save", "cart", "purchase")


def facet_values(product: Mapping[str, Any], facet: str) -> list[str]:
    """One facet's values on a product (brand and category: at most one)."""
    if facet == "style":
        return product.get("styles") or []
    if facet == "color":
        return product.get("colors") or []
    value = product.get(facet)
    return [value] if value else []


def item_facets(product: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        "style": list(product.get("styles") or []),
        "color": list(product.get("colors") or []),
        "brand": [product["brand"]] if product.get("brand") else [],
        "category": [product["category"]] if product.get("category") else [],
    }


@dataclass
class Row:
    """One product in one shown result list, and what the shopper did with it."""

    pid: Any
    product: Mapping[str, Any]
    position: int
    list_index: int
    age_ms: float  # of the list: each model decays it with its own half-life (Config.decay)
    query_facets: frozenset[str]  # facets the list's query named: its results were picked by them
    viewed: bool = False
    engaged: bool = False
    dismissed: str | None = None  # "any" (no reason) or the facet a reason named


@dataclass
class Choice:
    """A product chosen where no recent result list showed it."""

    pid: Any
    product: Mapping[str, Any]
    age_ms: float
    engaged: bool


@dataclass
class Tally:
    """The spec's evidence for one facet value: what the profile page shows behind it."""

    P: float = 0.0
    N: float = 0.0
    items: set = field(default_factory=set)
    signals: int = 0
    days: set = field(default_factory=set)
    last_seen: float | None = None
    by_type: dict[str, float] = field(default_factory=dict)
    searches: int = 0

    def touch(self, ts: float) -> None:
        self.signals += 1
        self.last_seen = ts if self.last_seen is None else max(self.last_seen, ts)


@dataclass
class Search:
    facets: dict[str, list[str]]
    age_ms: float
    list_index: int | None  # the result list it showed, if logged


@dataclass
class Evidence:
    rows: list[Row] = field(default_factory=list)
    unexposed: list[Choice] = field(default_factory=list)
    searches: list[Search] = field(default_factory=list)
    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)
    size_mass: dict[str, dict[str, float]] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    pricey: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # category -> [(log-price, weight)]

    def tally(self, facet: str, value: str) -> Tally:
        t = self.tallies.get((facet, value))
        if t is None:
            t = self.tallies[(facet, value)] = Tally()
        return t


def read_log(ordered: list[Mapping[str, Any]], products: Mapping[Any, Mapping[str, Any]], stats: CatalogStats,
             now_ms: float, config: Config, learnable: Callable[[str | None], bool]) -> Evidence:
    """One pass over the time-ordered signals (the pure input of ``model.compute_profile``)."""
    ev = Evidence()
    decay = config.decay
    window = config.list_window_hours * 3_600_000.0
    # Pair each return with the latest earlier purchase of the same product.
    open_purchases: dict[Any, list[int]] = {}
    returned: dict[int, Mapping[str, Any]] = {}
    for i, s in enumerate(ordered):
        if s.get("type") == "purchase" and s.get("productId") is not None:
            open_purchases.setdefault(s["productId"], []).append(i)
        elif s.get("type") == "return" and s.get("productId") is not None:
            stack = open_purchases.get(s["productId"])
            if stack:
                returned[stack.pop()] = s
    # Result lists: product id -> [(list time, row index)] in time order.
    shown_at: dict[Any, list[tuple[float, int]]] = {}
    lists = 0
    view_counts: dict[Any, int] = {}
    vocabulary = stats.vocabulary
    for i, s in enumerate(ordered):
        stype = s.get("type")
        ts = float(s.get("ts", 0.0))
        day = int(ts // DAY_MS)
        if stype == "search":
            named = vocabulary.parse(s.get("query") or "")
            if any(not learnable(c) for c in named.get("category", ())):
                continue  # the query itself implies a sensitive category: learn nothing from it
            list_index = None
            shown = [pid for pid in (s.get("shown") or ()) if pid in products]
            if shown:
                list_index = lists
                lists += 1
                age = now_ms - ts
                for pos, pid in enumerate(shown):
                    if learnable(products[pid].get("category")):
                        shown_at.setdefault(pid, []).append((ts, len(ev.rows)))
                        ev.rows.append(Row(pid, products[pid], pos, list_index, age, frozenset(named)))
            ev.searches.append(Search(named, now_ms - ts, list_index))
            for facet, values in named.items():
                w = config.w_search_facet * decay(now_ms - ts, config.half_life(facet))
                for v in values:
                    t = ev.tally(facet, v)
                    t.P += w
                    t.days.add(day)
                    t.by_type["search"] = t.by_type.get("search", 0.0) + w
                    t.searches += 1
                    t.touch(ts)
            continue
        pid = s.get("productId")
        product = products.get(pid) if pid is not None else None
        if product is None or not learnable(product.get("category")):
            continue
        row = None
        seen = shown_at.get(pid)
        if seen:
            k = bisect.bisect_right(seen, (ts + 1.0, math.inf)) - 1
            if k >= 0 and ts - seen[k][0] <= window:
                row = ev.rows[seen[k][1]]
        cat = product.get("category")
        if stype in ("view", *ENGAGING):
            weight = config.signal_weight(stype)
            kind = stype
            if stype == "view":
                n = view_counts.get(pid, 0) + 1
                view_counts[pid] = n
                weight *= 1.0 if n == 1 else math.log(n / (n - 1))  # totals 1 + ln n over n views
            elif stype == "purchase" and i in returned and RETURN_REASONS.get(returned[i].get("reason")) is None:
                weight, kind = config.w_cart, "cart"  # returned, not for size: wanted, not kept
            _credit(ev, product, pid, weight, kind, ts, now_ms, config)
            if row is not None:
                row.viewed = True
                row.engaged = row.engaged or stype in ENGAGING
            else:
                ev.unexposed.append(Choice(pid, product, now_ms - ts, stype in ENGAGING))
            if stype == "save":
                _add_size(ev, stats, cat, s.get("size"), config.size_save, decay(now_ms - ts, config.half_life_size))
            elif stype == "cart":
                _add_size(ev, stats, cat, s.get("size"), config.size_cart, decay(now_ms - ts, config.half_life_size))
            elif stype == "purchase" and i not in returned:
                _add_size(ev, stats, cat, s.get("size"), config.size_kept_purchase,
                          decay(now_ms - ts, config.half_life_size))
                if s.get("size"):
                    ev.kept[cat] = ev.kept.get(cat, 0) + 1
        elif stype == "return":
            # Nothing for style; a size reason moves the size estimate one step.
            step = RETURN_REASONS.get(s.get("reason"))
            size = s.get("size")
            system = stats.size_systems.get(cat) or ()
            if step is not None and size in system:
                k = system.index(size) + step
                if 0 <= k < len(system):
                    _add_size(ev, stats, cat, system[k], config.size_return_shift,
                              decay(now_ms - ts, config.half_life_size))
        elif stype == "dismiss":
            target = DISMISS_REASONS.get(s.get("reason") or "")
            wn = decay(now_ms - ts, config.half_life_negative)
            if row is not None:
                row.dismissed = target or "any"
            if target == "budget":
                price = product.get("price")
                if price and price > 0:
                    ev.pricey.setdefault(cat, []).append((math.log(price), abs(config.w_dismiss_reason) * wn))
                ev.tally("category", cat).touch(ts)
                continue
            amount = abs(config.w_dismiss_reason) if target else abs(config.w_dismiss) * config.dismiss_spread
            for facet, values in item_facets(product).items():
                if target is not None and facet != target:
                    continue
                for v in values:
                    t = ev.tally(facet, v)
                    t.N += amount * wn
                    t.touch(ts)
    return ev


def _credit(ev: Evidence, product: Mapping[str, Any], pid: Any, weight: float, kind: str, ts: float, now_ms: float,
            config: Config) -> None:
    day = int(ts // DAY_MS)
    for facet, values in item_facets(product).items():
        w = weight * config.decay(now_ms - ts, config.half_life(facet))
        for v in values:
            t = ev.tally(facet, v)
            t.P += w
            t.items.add(pid)
            t.days.add(day)
            t.by_type[kind] = t.by_type.get(kind, 0.0) + w
            t.touch(ts)


def _add_size(ev: Evidence, stats: CatalogStats, cat: str, size: str | None, mass: float, decay: float) -> None:
    if not size:
        return
    system = stats.size_systems.get(cat)
    if system is not None and len(system) <= 1:
        return
    bucket = ev.size_mass.setdefault(cat, {})
    bucket[size] = bucket.get(size, 0.0) + mass * decay
