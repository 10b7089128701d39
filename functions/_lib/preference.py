"""One posterior per facet: the probability that a value is one of the shopper's.

The model (the same for style, colour and brand): the shopper has a small set Z of values
of the facet. A shown product *fits* when any of its values is in Z (an item is as
appealing as its best style, so a style that only rides along with a loved one explains
nothing the loved one does not). The evidence:

- **result lists** (``evidence.Row``): fitting products are looked at, engaged with once
  looked at, and dismissed at their own rates, and non-fitting ones at theirs. Each is a
  Poisson count against exposure: a product's attention falls with its position
  (1 / log2(2 + position)), and its appeal through the *other* facets (price, and the
  facets fitted before this one) scales it, so a wrong-colour or overpriced product of a
  style is not held against the style. Fitting products are chosen at least as often,
  and dismissed at most as often, as the rest. A list shown for a query that named this
  facet ("navy dress") is left out (it showed what the query picked; the search itself is
  the evidence), and each list's exposure is scaled to what was chosen from it, so a keen
  session does not read as a taste for what it happened to show;
- **choices outside any list** (``evidence.Choice``): chosen from the catalogue itself,
  so the catalogue's own mix of the category is the exposure;
- **searches**: a search names one of the shopper's values with probability 1 − ε, else
  any value of the facet; ε is unknown (a uniform prior over ``search_noise_grid``).

Each rate has a Gamma prior worth about one choice at the pooled rate, so the likelihood
of a set is a closed-form marginal (no fitted rates to overfit); the prior over sets
takes each value independently with probability ``prior(value)``: about
``expected_values`` values in all, each in proportion to the square root of its
catalogue share. One session's choices are not independent evidence (a mood, another
person on the account), so each facet's likelihood is raised to a power below one
(``likelihood_power``, chosen for calibration: of the values it puts at 0.9 or more,
about nine in ten are the shopper's). The posterior of a value sums the sets holding it,
enumerated over the ``set_candidates`` most chosen values in sets of at most ``set_max``.

Categories have no exposure to compare against (the query picks them), so their model
reads sessions: each session is about one category (the one its query names, or the
ones engaged with), which is one of the shopper's with probability 1 − ε and any
category in proportion to the catalogue's share otherwise.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .catalog import CatalogStats
from .config import Config
from .evidence import Evidence, facet_values

_POSITION = tuple(1.0 / math.log2(p + 2.0) for p in range(64))
PROCESSES = 4  # looked at, engaged once looked at, dismissed, chosen outside a list


def position_weight(pos: int) -> float:
    """The attention a result at 0-based ``pos`` gets."""
    return _POSITION[pos] if pos < len(_POSITION) else 1.0 / math.log2(pos + 2.0)


@dataclass
class FacetPosterior:
    """P(value is the shopper's) per value with evidence; ``ratio``: how much more a fitting item is looked at."""

    posterior: dict[str, float] = field(default_factory=dict)
    prior: dict[str, float] = field(default_factory=dict)
    ratio: float = 1.0

    def fit(self, values: list[str]) -> float:
        """P(a product with these values fits), the values taken as independent."""
        miss = 1.0
        for v in values:
            miss *= 1.0 - self.posterior.get(v, 0.0)
        return 1.0 - miss

    def appeal(self, values: list[str]) -> float:
        """The expected relative rate of choosing a product with these values."""
        return 1.0 + (self.ratio - 1.0) * self.fit(values)


def priors(facet: str, stats: CatalogStats, config: Config, cat_mix: Mapping[str, float]) -> dict[str, float]:
    """P(value is the shopper's) before any evidence: ``expected_values`` spread by √(catalogue share)."""
    if facet == "category":
        shares = dict(stats.category_share)
    else:
        shares = {}
        for cat, w in cat_mix.items():
            for v, b in stats.base_share.get(facet, {}).get(cat, {}).items():
                shares[v] = shares.get(v, 0.0) + w * b
    roots = {v: math.sqrt(b) for v, b in shares.items() if b > 0}
    total = sum(roots.values())
    m = config.expected_values[facet]
    return {v: min(0.9, max(0.01, m * r / total)) for v, r in roots.items()} if total > 0 else {}


def _marginal(y: float, x: float, shape: float, rate: float) -> float:
    """log ∫ r^y e^(−r x) Gamma(r | shape, rate) dr: the counts y over exposure x at one unknown rate.

    (The rest of the Poisson likelihood, the product of each row's exposure to the power
    of its count over its factorial, is the same for every set and drops out.)
    """
    return math.lgamma(shape + y) - math.lgamma(shape) + shape * math.log(rate) - (shape + y) * math.log(rate + x)


def fit_facet(facet: str, ev: Evidence, stats: CatalogStats, config: Config, prior: Mapping[str, float],
              appeal: Callable[[Mapping[str, Any]], float]) -> FacetPosterior:
    """The facet's posterior from result lists, choices outside lists and searches (see the module docstring)."""
    out = FacetPosterior(prior=dict(prior))
    hl, hl_neg = config.half_life(facet), config.half_life_negative
    # Candidates: the values with the most evidence of being chosen.
    score: dict[str, float] = {}
    for r in ev.rows:
        if r.viewed:
            for v in facet_values(r.product, facet):
                score[v] = score.get(v, 0.0) + config.decay(r.age_ms, hl) * (1.0 if r.engaged else 0.3)
    for c in ev.unexposed:
        for v in facet_values(c.product, facet):
            score[v] = score.get(v, 0.0) + config.decay(c.age_ms, hl)
    named: dict[str, float] = {}
    for s in ev.searches:
        for v in s.facets.get(facet, ()):
            w = config.decay(s.age_ms, hl)
            named[v] = named.get(v, 0.0) + w
            score[v] = score.get(v, 0.0) + w
    cands = sorted((v for v in score if score[v] > 0), key=lambda v: (-score[v], v))[: config.set_candidates]
    if not cands:
        return out
    bit = {v: 1 << b for b, v in enumerate(cands)}
    full = (1 << len(cands)) - 1

    def mask(values) -> int:
        m = 0
        for v in values:
            m |= bit.get(v, 0)
        return m

    # Per mask of candidate values: exposure and count of each process (2 per process).
    # A list whose query named this facet ("navy dress") showed what the query picked, so
    # it says nothing about the facet (the search itself is the evidence); and each list's
    # exposure is scaled to what was chosen in it (with half a choice of slack), so a
    # keen session does not read as a taste for what it happened to show.
    width = 2 * PROCESSES
    table = [[0.0] * (full + 1) for _ in range(width)]
    per_list: dict[int, list[tuple[int, float, float, float, float, float, float]]] = {}
    for r in ev.rows:
        if facet in r.query_facets:
            continue
        p = r.product
        a = appeal(p)
        e = position_weight(r.position)
        w, wn = config.decay(r.age_ms, hl), config.decay(r.age_ms, hl_neg)
        per_list.setdefault(r.list_index, []).append((
            mask(facet_values(p, facet)), w * e * a, w if r.viewed else 0.0, w * a if r.viewed else 0.0,
            w if r.engaged else 0.0, wn * e, wn if r.dismissed == "any" or r.dismissed == facet else 0.0))
    sums = [0.0] * 6
    for rows in per_list.values():
        for row in rows:
            for j in range(6):
                sums[j] += row[j + 1]
    global_rate = [sums[2 * j + 1] / sums[2 * j] if sums[2 * j] > 0 else 0.0 for j in range(3)]
    slack = 0.5
    for rows in per_list.values():
        scale = []
        for j in range(3):
            x = sum(row[2 * j + 1] for row in rows)
            y = sum(row[2 * j + 2] for row in rows)
            scale.append((y + slack) / (global_rate[j] * x + slack) if global_rate[j] > 0 else 1.0)
        for m, *vals in rows:
            for j in range(3):
                table[2 * j][m] += vals[2 * j] * scale[j]
                table[2 * j + 1][m] += vals[2 * j + 1]
    if ev.unexposed:
        mix: dict[str, dict[int, float]] = {}
        for c in ev.unexposed:
            cat = c.product.get("category")
            if cat not in mix:
                items = stats.items_by_category.get(cat, ())
                counts: dict[int, float] = {}
                pick = {"style": 0, "color": 1, "brand": 2}[facet]
                for item in items:
                    values = item[pick]
                    mm = mask((values,) if pick == 2 else values)
                    counts[mm] = counts.get(mm, 0.0) + 1.0 / len(items)
                mix[cat] = counts
            w = config.decay(c.age_ms, hl)
            for mm, share in mix[cat].items():
                table[6][mm] += w * share
            table[7][mask(facet_values(c.product, facet))] += w
    totals = [sum(col) for col in table]
    # Subset sums: inside[j][S] = Σ over masks m ⊆ S; a set Z's non-fitting rows are the masks inside its complement.
    inside = []
    for col in table:
        f = col[:]
        for b in range(len(cands)):
            step = 1 << b
            for S in range(full + 1):
                if S & step:
                    f[S] += f[S ^ step]
        inside.append(f)
    shape = config.rate_prior_shape
    rates = [shape * totals[2 * j] / totals[2 * j + 1] if totals[2 * j + 1] > 0 else 1.0 for j in range(PROCESSES)]
    pooled = [_marginal(totals[2 * j + 1], totals[2 * j], shape, rates[j]) for j in range(PROCESSES)]
    # Dismissals: fitting products are dismissed at most as often as the rest (the others: at least as often).
    more_if_fit = (True, True, False, True)
    n_values = max(1, len(stats.values.get(facet, ())) or len(score))
    grid = config.search_noise_grid
    power = config.likelihood_power[facet]
    log_odds = {v: math.log(prior.get(v, 0.05) / (1.0 - prior.get(v, 0.05))) for v in cands}

    def search_loglik(z: int, k: int) -> float:
        if not named:
            return 0.0
        if k == 0:
            return sum(named.values()) * math.log(1.0 / n_values)
        lls = []
        for eps in grid:
            ll = 0.0
            for v, n in named.items():
                inside_z = v in bit and z & bit[v]
                ll += n * math.log((1.0 - eps) / k * inside_z + eps / n_values)
            lls.append(ll)
        top = max(lls)
        return top + math.log(sum(math.exp(x - top) for x in lls) / len(lls))

    sets: list[int] = []
    scores: list[float] = []
    for k in range(0, min(config.set_max, len(cands)) + 1):
        for combo in itertools.combinations(range(len(cands)), k):
            z = 0
            lp = 0.0
            for b in combo:
                z |= 1 << b
                lp += log_odds[cands[b]]
            ll = search_loglik(z, k)
            rest = full ^ z
            for j in range(PROCESSES):
                x0, y0 = inside[2 * j][rest], inside[2 * j + 1][rest]
                x1, y1 = totals[2 * j] - x0, totals[2 * j + 1] - y0
                if z and x1 > 0 and x0 > 0 and (y1 * x0 > y0 * x1) == more_if_fit[j]:
                    ll += _marginal(y1, x1, shape, rates[j]) + _marginal(y0, x0, shape, rates[j])
                else:
                    ll += pooled[j]
            sets.append(z)
            scores.append(lp + power * ll)
    top = max(scores)
    weights = [math.exp(sc - top) for sc in scores]
    total = sum(weights)
    for b, v in enumerate(cands):
        out.posterior[v] = sum(w for z, w in zip(sets, weights) if z >> b & 1) / total
    # How much more a fitting product is looked at, under the most likely set.
    best = sets[max(range(len(sets)), key=scores.__getitem__)]
    if best:
        x0, y0 = inside[0][full ^ best], inside[1][full ^ best]
        x1, y1 = totals[0] - x0, totals[1] - y0
        if x1 > 0 and x0 > 0:
            r1 = (y1 + shape) / (x1 + shape / rates[0])
            r0 = (y0 + shape) / (x0 + shape / rates[0])
            out.ratio = min(20.0, max(1.0, r1 / r0))
    return out


def fit_categories(ev: Evidence, stats: CatalogStats, config: Config, prior: Mapping[str, float],
                   learnable: Callable[[str | None], bool]) -> FacetPosterior:
    """P(category is one the shopper shops) from what each session was about (see the module docstring)."""
    out = FacetPosterior(prior=dict(prior))
    hl = config.half_life("category")
    obs: dict[str, float] = {}
    engaged_in: dict[int, set[str]] = {}
    for r in ev.rows:
        if r.viewed:
            engaged_in.setdefault(r.list_index, set()).add(r.product["category"])
    for s in ev.searches:
        cats = [c for c in s.facets.get("category", ()) if learnable(c)]
        if not cats and s.list_index is not None:
            cats = sorted(engaged_in.get(s.list_index, ()))
        for c in cats:
            obs[c] = obs.get(c, 0.0) + config.decay(s.age_ms, hl) / len(cats)
    for c in ev.unexposed:
        if c.engaged:
            cat = c.product["category"]
            obs[cat] = obs.get(cat, 0.0) + config.decay(c.age_ms, hl)
    n = sum(obs.values())
    if n <= 0:
        return out
    shares = {c: b for c, b in stats.category_share.items() if learnable(c)}
    norm = sum(shares.values()) or 1.0
    k = config.expected_values["category"]
    for c, n_c in obs.items():
        b = shares.get(c, 0.0) / norm
        pi = prior.get(c, 0.05)
        lrs = []
        for eps in config.search_noise_grid:
            p_in = (1.0 - eps) / k + eps * b
            p_out = eps * b
            if p_out <= 0:
                lrs.append(math.inf)
                continue
            lrs.append(n_c * math.log(p_in / p_out) + (n - n_c) * math.log((1.0 - p_in) / (1.0 - p_out)))
        top = max(lrs)
        if math.isinf(top):
            out.posterior[c] = 1.0
            continue
        lr = top + math.log(sum(math.exp(x - top) for x in lrs) / len(lrs))
        odds = math.log(pi / (1.0 - pi)) + config.likelihood_power["category"] * lr
        out.posterior[c] = 1.0 / (1.0 + math.exp(-odds)) if odds > -700 else 0.0
    return out
