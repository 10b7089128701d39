"""A budget per category: the price band the shopper chooses in, against the prices shown.

The model: a shopper accepts prices in a band [centre − h, centre + h] of log-price.
Beyond the top, acceptance falls off steeply (``budget_slope_above`` per unit of
log-price: "too pricey"); below the bottom, gently (``budget_slope_below``: cheaper than
usual is rarely a deal-breaker); and a share ``noise`` of choices has nothing to do with
price at all (a random click, a gift, someone else on the account). What the shopper
chooses from a result list is what it showed, weighted by that acceptance: a Poisson
count per shown product against its exposure (its position's attention, its appeal
through its style, the list's activity; see ``preference.py``).

Why against what was shown: shoppers see mostly mid-priced products (most of the
catalogue, and whatever the ranking favours), so the plain median of what they pick
regresses toward the middle; the model asks which prices they pick *more often than
shown*.

Prices are relative to each category's middle (a premium shopper is premium in shoes and
in tops), so every category's choices inform one *price level*: the posterior over
(centre, half-width, noise) on a grid, the centre with a Gaussian prior at the
catalogue's middle. Each category's centre then moves from that level by its own
choices, with a Gaussian prior (``budget_category_sd``) around the level. A band's
confidence is the posterior probability that its centre is within 0.35 half-widths of the
truth (where its overlap with the true band is 0.7); it is shown from
``budget_show_confidence`` on, once the shopper engaged with something in the category. "Too pricey" dismissals pull the top
down toward just below that price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .catalog import CatalogStats
from .config import Config
from .evidence import Evidence
from .preference import looked_at

_BIN = 0.1  # log-price bins of the relative prices
_SPAN = 3.0  # relative log-prices beyond ±_SPAN share the last bin
_CENTRES = tuple(range(-20, 21))  # the price level's grid, in bins (±2.0)
_DELTAS = tuple(range(-5, 6))  # a category's departure from the level, in bins (±0.5)


@dataclass
class Band:
    category: str
    centre: float  # log-price
    half_width: float
    sd: float  # posterior sd of the centre
    weight: float  # of the choices behind it
    items: int
    engaged: bool
    prior_middle: float  # the centre before any evidence: the category's middle (log-price) ...
    prior_sd: float  # ... give or take this

    def confidence(self) -> float:
        """P(the centre is within 0.35 half-widths of the truth): where the band's overlap with the truth reaches 0.7."""
        return math.erf(0.35 * self.half_width / (math.sqrt(2.0) * self.sd)) if self.sd > 0 else 1.0


_HALF_BINS = int(_SPAN / _BIN)


def _bin(z: float) -> int:
    return max(-_HALF_BINS, min(_HALF_BINS, int(math.floor(z / _BIN + 0.5)))) + _HALF_BINS


def _acceptance(half: float, noise: float, config: Config) -> list[float]:
    """Log-acceptance at each bin offset from the centre (offset k at index k + 2 · _HALF_BINS)."""
    out = []
    for k in range(-2 * _HALF_BINS, 2 * _HALF_BINS + 1):
        z = k * _BIN
        if z > half:
            a = math.exp(-config.budget_slope_above * (z - half))
        elif z < -half:
            a = math.exp(-config.budget_slope_below * (-half - z))
        else:
            a = 1.0
        out.append(math.log(noise + (1.0 - noise) * a))
    return out


def _loglik(cells: list[tuple[int, float, float]], log_acc: list[float], centre_bin: int) -> float:
    """Poisson log-likelihood of the cells' counts over their exposure × acceptance, the rate profiled out.

    ``cells``: (bin, exposure, count); the band's centre sits at bin ``centre_bin``.
    """
    ys = xs = ll = 0.0
    offset = 2 * _HALF_BINS - centre_bin
    for i, xi, yi in cells:
        la = log_acc[i + offset]
        if yi > 0:
            ll += yi * la
            ys += yi
        xs += xi * math.exp(la)
    return ll - ys * math.log(xs) if xs > 0 and ys > 0 else 0.0


def estimate_bands(ev: Evidence, stats: CatalogStats, config: Config, learnable: Callable[[str | None], bool],
                   style_appeal: Callable[[Mapping[str, Any]], float]) -> dict[str, Band]:
    """Per category the shopper chose in: the band's centre, half-width and the centre's sd (log-price)."""
    mids = {c: (lo + hi) / 2 for c, (lo, hi) in stats.log_price_band.items()}
    n_bins = 2 * _HALF_BINS + 1
    w_view, w_engaged = config.budget_choice_weights["view"], config.budget_choice_weights["engaged"]
    lists: dict[int, list[tuple[str, int, float, float]]] = {}  # list -> [(category, bin, exposure, choice)]
    items: dict[str, set] = {}
    engaged: dict[str, bool] = {}
    weight: dict[str, float] = {}

    def where(p: Mapping[str, Any]) -> tuple[str, int] | None:
        cat, price = p.get("category"), p.get("price")
        if not learnable(cat) or cat not in mids or not price or price <= 0:
            return None
        return cat, _bin(math.log(price) - mids[cat])

    hl = config.half_life("budget")
    for r in ev.rows:
        at = where(r.product)
        if at is None:
            continue
        cat, b = at
        w = config.decay(r.age_ms, hl)
        y = w * (w_engaged if r.engaged else w_view) if r.viewed else 0.0
        lists.setdefault(r.list_index, []).append((cat, b, w * looked_at(r.position, config) * style_appeal(r.product), y))
        if r.viewed:
            items.setdefault(cat, set()).add(r.pid)
            engaged[cat] = engaged.get(cat, False) or r.engaged
            weight[cat] = weight.get(cat, 0.0) + y
    x: dict[str, list[float]] = {}
    y: dict[str, list[float]] = {}

    def cols(cat: str) -> tuple[list[float], list[float]]:
        if cat not in x:
            x[cat], y[cat] = [0.0] * n_bins, [0.0] * n_bins
        return x[cat], y[cat]

    # Each list's exposure scaled to what was chosen from it (half a choice of slack).
    total_x = sum(row[2] for rows in lists.values() for row in rows)
    total_y = sum(row[3] for rows in lists.values() for row in rows)
    rate = total_y / total_x if total_x > 0 else 0.0
    for rows in lists.values():
        lx, ly = sum(r[2] for r in rows), sum(r[3] for r in rows)
        scale = (ly + 0.5) / (rate * lx + 0.5) if rate > 0 else 1.0
        for cat, b, xi, yi in rows:
            cx, cy = cols(cat)
            cx[b] += xi * scale
            cy[b] += yi
    # Choices outside any list were made from the catalogue: its prices are what was shown.
    for c in ev.unexposed:
        at = where(c.product)
        if at is None:
            continue
        cat, b = at
        w = config.decay(c.age_ms, hl) * (w_engaged if c.engaged else w_view)
        cx, cy = cols(cat)
        spread = stats.log_price_bins(cat, mids[cat], _BIN, _SPAN)
        for i, share in enumerate(spread):
            cx[i] += share * w / (rate or 1.0)
        cy[b] += w
        items.setdefault(cat, set()).add(c.pid)
        engaged[cat] = engaged.get(cat, False) or c.engaged
        weight[cat] = weight.get(cat, 0.0) + w
    cats = [c for c in x if sum(y[c]) > 0]
    if not cats:
        return {}

    # The price level: posterior over (centre, half-width, noise) from every category's choices.
    cells = {c: [(i, x[c][i], y[c][i]) for i in range(n_bins) if x[c][i] > 0 or y[c][i] > 0] for c in cats}
    pooled: dict[int, list[float]] = {}
    for c in cats:
        for i, xi, yi in cells[c]:
            cell = pooled.setdefault(i, [0.0, 0.0])
            cell[0] += xi
            cell[1] += yi
    all_cells = [(i, xi, yi) for i, (xi, yi) in sorted(pooled.items())]
    power = config.likelihood_power["budget"]
    prior_sd = config.budget_level_prior_sd
    shapes = {(h, n): _acceptance(h, n, config) for h in config.budget_half_widths for n in config.budget_noise_levels}
    grid: list[tuple[float, float, float, float]] = []  # (log posterior, centre, half, noise)
    for (half, noise), log_acc in shapes.items():
        for k in _CENTRES:
            centre = k * _BIN
            ll = _loglik(all_cells, log_acc, k + _HALF_BINS)
            grid.append((power * ll - 0.5 * (centre / prior_sd) ** 2, centre, half, noise))
    top = max(g[0] for g in grid)
    ws = [math.exp(g[0] - top) for g in grid]
    total = sum(ws)
    level = sum(w * g[1] for w, g in zip(ws, grid)) / total
    level_var = sum(w * (g[1] - level) ** 2 for w, g in zip(ws, grid)) / total
    best = max(range(len(grid)), key=lambda j: grid[j][0])
    half, noise = grid[best][2], grid[best][3]
    log_acc = shapes[(half, noise)]
    level_bin = int(round(level / _BIN))

    # Each category's centre: the level moved by its own choices.
    tau2 = config.budget_category_sd ** 2 + level_var
    out = {}
    for cat in cats:
        post = []
        for d in _DELTAS:
            shift = (level_bin + d) * _BIN - level
            post.append(power * _loglik(cells[cat], log_acc, level_bin + d + _HALF_BINS) - 0.5 * shift * shift / tau2)
        top = max(post)
        ws = [math.exp(p - top) for p in post]
        total = sum(ws)
        centre = sum(w * (level_bin + d) * _BIN for w, d in zip(ws, _DELTAS)) / total
        var = sum(w * ((level_bin + d) * _BIN - centre) ** 2 for w, d in zip(ws, _DELTAS)) / total
        out[cat] = Band(cat, mids[cat] + centre, half, math.sqrt(var + level_var), weight.get(cat, 0.0),
                        len(items.get(cat, ())), engaged.get(cat, False), mids[cat],
                        math.sqrt(prior_sd ** 2 + config.budget_category_sd ** 2))
    return out


def apply_pricey(band: Band, pricey: list[tuple[float, float]], config: Config) -> tuple[float, float]:
    """The band's (low, high) log-prices, its top pulled down toward "too pricey" dismissals below it."""
    lo, hi = band.centre - band.half_width, band.centre + band.half_width
    for lp, w in pricey:
        ceiling = lp + math.log(config.budget_pricey_margin)
        if ceiling < hi:
            hi -= (hi - max(ceiling, lo)) * w / (w + band.weight)
    return lo, max(hi, lo)
