"""One posterior per facet: the probability that a value is one of the shopper's.

The model (the same for style, colour and brand): the shopper has a small set Z of values
of the facet. A shown product *fits* when any of its values is in Z (an item is as
appealing as its best style, so a style that only rides along with a loved one explains
nothing the loved one does not). What the shopper did with each product of the result
lists they were shown (``evidence.Row``) is a choice with a saturating link:

- *looked at*: a result at 0-based position k is looked at with probability
  1 / (1 + ``position_bias`` · k); positions below the deepest the shopper ever viewed,
  and the rest of a list after its last view once it held as many views as the shopper
  ever made in one list (they stopped there), were not looked at and say nothing;
- *viewed* once looked at: λ + (1 − λ) · σ(a + b · fit + o), where λ is the share of
  random clicks, a the shopper's base rate, b how much a fitting product gains (log-odds),
  and o what the facets fitted before say of the product (a price outside the band, a
  liked colour);
- *engaged* (like, save, cart, purchase) once viewed: λₑ + (1 − λₑ) · σ(aₑ + bₑ · fit + o);
- *dismissed* when not viewed: fitting products ``dismiss_fit_ratio`` as often, and for a
  reason naming this facet ``reason_fit_ratio`` as often.

Why a saturating link and not a ratio of rates: a view of a product that is appealing
anyway (a liked colour at a good price) says little about its style, a view of one that
is not says a lot, and a random click on a product nothing else explains must not decide a
style; on the fitting populations this doubled the styles shown at the same share of
wrong ones (bench/EXPERIMENTS.md).

A list whose query named the facet ("navy dress") is left out: it showed what the query
picked, and the search itself is the evidence. Choices outside any list
(``evidence.Choice``) were made from the catalogue itself: the category's own mix is what
was shown (a multinomial, fitting products ρ times as likely, ρ averaged over
``unexposed_ratios``). Searches name one of the shopper's values with probability 1 − ε,
else any value of the facet (ε averaged over ``search_noise_grid``).

Inference: the posterior over sets is exact, enumerated over the ``set_candidates`` most
chosen values in sets of at most ``set_max`` (the prior takes each value independently
with probability ``prior(value)``: about ``expected_values`` values in all, each in
proportion to the square root of its catalogue share). a, b, aₑ, bₑ are unknown: a few
rounds of EM alternate the posterior over sets (b averaged over ``fit_effect_spread``
around its estimate and λ over ``click_floors``) with the MAP of the two logistic
regressions given each product's probability of fitting (b and bₑ with priors
``fit_effect_prior`` / ``engage_effect_prior``). One session's choices are not
independent evidence (a mood, another person on the account), so the likelihood is
raised to a power below one (``likelihood_power``, chosen so that the posteriors are
calibrated on the fitting populations: of the values at 0.9 or more, nine in ten or more
are the shopper's). The posterior of a value sums the sets holding it.

Categories have no exposure to compare against (the query picks them), so their model
reads sessions: each session is about one category (the one its query names, or the
ones engaged with), which is one of the shopper's with probability 1 − ε and any
category in proportion to the catalogue's share otherwise.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from .catalog import CatalogStats
from .config import Config
from .evidence import Evidence, facet_values

Offset = Callable[[Mapping[str, object]], float]


def looked_at(pos: int, config: Config) -> float:
    """The probability that a result at 0-based ``pos`` is looked at."""
    return 1.0 / (1.0 + config.position_bias * pos)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -700.0 else 0.0


def _log_mean_exp(xs: Sequence[float]) -> float:
    top = max(xs)
    return top + math.log(sum(math.exp(x - top) for x in xs) / len(xs))


def _subset_sums(values: list[float], bits: int) -> list[float]:
    """out[S] = Σ values[m] over masks m ⊆ S."""
    out = values[:]
    for b in range(bits):
        step = 1 << b
        for S in range(len(out)):
            if S & step:
                out[S] += out[S ^ step]
    return out


@dataclass
class FacetPosterior:
    """P(value is the shopper's) per value; ``effect`` / ``base``: a fitting product's log-odds of a view over ``base``."""

    posterior: dict[str, float] = field(default_factory=dict)
    prior: dict[str, float] = field(default_factory=dict)
    base: float = 0.0
    effect: float = 0.0

    def fit(self, values: Sequence[str]) -> float:
        """P(a product with these values fits), the values taken as independent."""
        miss = 1.0
        for v in values:
            miss *= 1.0 - self.posterior.get(v, 0.0)
        return 1.0 - miss

    def log_odds(self, values: Sequence[str]) -> float:
        """What these values add to the log-odds of a view (the offset of the facets fitted after)."""
        return self.effect * self.fit(values)

    def appeal(self, values: Sequence[str]) -> float:
        """The expected relative rate of viewing a product with these values."""
        if not self.effect:
            return 1.0
        ratio = _sigmoid(self.base + self.effect) / max(_sigmoid(self.base), 1e-9)
        return 1.0 + (ratio - 1.0) * self.fit(values)


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


def _logistic_map(rows: Sequence[tuple[float, float, float, float]], prior_mean: float, prior_sd: float,
                  start: tuple[float, float]) -> tuple[float, float]:
    """MAP of logit P(y) = a + b · x + o over rows (x, y, weight, o); b ~ N(prior_mean, prior_sd), a ~ N(0, 3)."""
    a, b = start
    for _ in range(6):
        ga, gb = -a / 9.0, -(b - prior_mean) / prior_sd ** 2
        haa, hbb, hab = -1.0 / 9.0, -1.0 / prior_sd ** 2, 0.0
        for x, y, w, o in rows:
            p = _sigmoid(a + b * x + o)
            r, v = w * (y - p), w * p * (1.0 - p)
            ga += r
            gb += r * x
            haa -= v
            hbb -= v * x * x
            hab -= v * x
        det = haa * hbb - hab * hab
        if abs(det) < 1e-12:
            break
        a = min(4.0, max(-8.0, a - (hbb * ga - hab * gb) / det))
        b = min(6.0, max(0.0, b - (haa * gb - hab * ga) / det))
    return a, b


_VIEWED, _ENGAGED, _DISMISSED, _DISMISSED_FOR_FACET, _PASSED = range(5)


def fit_facet(facet: str, ev: Evidence, stats: CatalogStats, config: Config, prior: Mapping[str, float],
              offset: Offset) -> FacetPosterior:
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
    bits = len(cands)
    bit = {v: 1 << b for b, v in enumerate(cands)}
    full = (1 << bits) - 1

    def mask(values) -> int:
        m = 0
        for v in values:
            m |= bit.get(v, 0)
        return m

    # The rows that were looked at (see the module docstring), with their outcome.
    deepest = max((r.position for r in ev.rows if r.viewed), default=-1)
    views: dict[int, int] = {}
    last_view: dict[int, int] = {}
    for r in ev.rows:
        if r.viewed:
            views[r.list_index] = views.get(r.list_index, 0) + 1
            last_view[r.list_index] = max(last_view.get(r.list_index, -1), r.position)
    most = max(views.values(), default=0)
    rows: list[tuple[int, float, float, float, float, int]] = []  # mask, looked at, offset, weight, weight of a negative, outcome
    for r in ev.rows:
        if facet in r.query_facets or r.position > deepest:
            continue
        if views.get(r.list_index, 0) >= most and r.position > last_view.get(r.list_index, -1):
            continue
        if r.viewed:
            outcome = _ENGAGED if r.engaged else _VIEWED
        elif r.dismissed:
            outcome = _DISMISSED_FOR_FACET if r.dismissed == facet else _DISMISSED
        else:
            outcome = _PASSED
        rows.append((mask(facet_values(r.product, facet)), looked_at(r.position, config), offset(r.product),
                     config.decay(r.age_ms, hl), config.decay(r.age_ms, hl_neg), outcome))
    not_viewed = sum(look for _, look, _, _, _, o in rows if o not in (_VIEWED, _ENGAGED))
    dismissed = sum(1 for *_, o in rows if o in (_DISMISSED, _DISMISSED_FOR_FACET))
    dismiss_rate = min(0.5, (dismissed + 0.5) / (not_viewed + 5.0))

    # What does not depend on a, b: the prior, searches and choices outside any list, per set.
    n_values = max(1, len(stats.values.get(facet, ())) or len(score))
    pick = {"style": 0, "color": 1, "brand": 2}[facet]
    mixes: dict[str, list[float]] = {}
    unexposed = []
    for c in ev.unexposed:
        cat = c.product.get("category")
        if cat not in mixes:
            items = stats.items_by_category.get(cat, ())
            mix = [0.0] * (full + 1)
            for item in items:
                mix[mask((item[pick],) if pick == 2 else item[pick])] += 1.0 / len(items)
            mixes[cat] = _subset_sums(mix, bits)
        unexposed.append((config.decay(c.age_ms, hl), mixes[cat], mask(facet_values(c.product, facet))))
    sets: list[int] = []
    fixed: list[float] = []
    log_prior: list[float] = []
    for k in range(0, min(config.set_max, bits) + 1):
        for combo in itertools.combinations(range(bits), k):
            z = sum(1 << b for b in combo)
            sets.append(z)
            log_prior.append(sum(math.log(prior.get(cands[b], 0.05) / (1.0 - prior.get(cands[b], 0.05)))
                                 for b in combo))
            ll = 0.0
            if named:
                if k == 0:
                    ll += sum(named.values()) * math.log(1.0 / n_values)
                else:
                    ll += _log_mean_exp([sum(n * math.log((1.0 - eps) / k * bool(v in bit and z & bit[v])
                                                          + eps / n_values) for v, n in named.items())
                                         for eps in config.search_noise_grid])
            if unexposed:
                rest = full ^ z
                ll += _log_mean_exp([sum(w * ((math.log(rho) if m & z else 0.0) - math.log(mix[rest] + rho * (1.0 - mix[rest])))
                                         for w, mix, m in unexposed) for rho in config.unexposed_ratios])
            fixed.append(ll)

    power = config.likelihood_power[facet]
    floor_e = config.click_floors[0]
    p_fit = []
    for m, *_ in rows:
        miss = 1.0
        for v in cands:
            if m & bit[v]:
                miss *= 1.0 - prior.get(v, 0.05)
        p_fit.append(1.0 - miss)
    a, b = 0.0, config.fit_effect_prior[0]
    ae, be = 0.0, config.engage_effect_prior[0]
    post: list[float] = []
    for _ in range(config.em_rounds):
        a, b = _logistic_map([(pf, 1.0 if o in (_VIEWED, _ENGAGED) else 0.0, w * look, off)
                              for (m, look, off, w, _, o), pf in zip(rows, p_fit)], *config.fit_effect_prior, (a, b))
        ae, be = _logistic_map([(pf, 1.0 if o == _ENGAGED else 0.0, w, off)
                                for (m, look, off, w, _, o), pf in zip(rows, p_fit) if o in (_VIEWED, _ENGAGED)],
                               *config.engage_effect_prior, (ae, be))
        tables = []
        for spread in config.fit_effect_spread:
            bb = max(0.0, b + spread)
            for floor in config.click_floors:
                table = [0.0] * (full + 1)
                for m, look, off, w, wn, o in rows:
                    if not m:
                        continue
                    v1 = floor + (1.0 - floor) * _sigmoid(a + bb + off)
                    v0 = floor + (1.0 - floor) * _sigmoid(a + off)
                    if o in (_VIEWED, _ENGAGED):
                        e1 = floor_e + (1.0 - floor_e) * _sigmoid(ae + be + off)
                        e0 = floor_e + (1.0 - floor_e) * _sigmoid(ae + off)
                        lr = math.log(v1 / v0) + (math.log(e1 / e0) if o == _ENGAGED else math.log((1.0 - e1) / (1.0 - e0)))
                        table[m] += w * lr
                    elif o == _PASSED:
                        d1, d0 = dismiss_rate * config.dismiss_fit_ratio, dismiss_rate
                        table[m] += w * math.log((1.0 - look * (v1 + (1.0 - v1) * d1)) / (1.0 - look * (v0 + (1.0 - v0) * d0)))
                    else:
                        lr = math.log((1.0 - v1) * config.dismiss_fit_ratio / (1.0 - v0))
                        if o == _DISMISSED_FOR_FACET:
                            lr += math.log(config.reason_fit_ratio)
                        table[m] += wn * lr
                tables.append((sum(table), _subset_sums(table, bits)))
        scores = [lp + power * (fx + _log_mean_exp([total - inside[full ^ z] for total, inside in tables]))
                  for z, lp, fx in zip(sets, log_prior, fixed)]
        top = max(scores)
        weights = [math.exp(sc - top) for sc in scores]
        total_w = sum(weights)
        post = [w / total_w for w in weights]
        # Each row's P(fit): 1 − P(the set misses all of its values).
        inside_set = [0.0] * (full + 1)
        for z, p in zip(sets, post):
            inside_set[z] += p
        inside_set = _subset_sums(inside_set, bits)
        p_fit = [1.0 - inside_set[full ^ m] if m else 0.0 for m, *_ in rows]
    for b_i, v in enumerate(cands):
        out.posterior[v] = sum(p for z, p in zip(sets, post) if z >> b_i & 1)
    out.base, out.effect = a, b
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
