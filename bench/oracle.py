"""A ceiling for learning styles: the exact posterior of the simulator's own model.

How well can *any* learner know a shopper's styles from 5, 10 or 20 sessions of these
signals? This oracle knows everything about a simulated shopper except their styles:
the population's parameters, the shopper's colours, brands and budget, the query each
session ran, which sessions were another person's and which
purchases were gifts (it leaves those out, which no real learner can). It computes the
posterior over every set of that many styles, exactly as the simulator behaves
(``bench/shoppers.py``): a result at position k is examined with probability
1 / (1 + bias · k) up to the examine depth; a share ``noise`` of examined results is
judged on a random product's appeal; the judged appeal plus Gaussian noise decides the
view (a logistic curve), and likes, saves and carts above their thresholds at their
rates; a result not clicked and disliked enough is dismissed, with the simulator's reason
rule ("not my style" only for a product of none of the shopper's styles); a specific
query names one of the shopper's styles with the population's probability. The prior is
the family's: 1–4 styles equally likely, any set of that size equally likely; a style
weight of 0.9 stands in for the true weights (1 for the first style, 0.75–1 for others).

Displaying the styles whose oracle posterior reaches a threshold gives the recall@3 and
the share of false styles that the best learner could reach with these signals; no
learner that sees less can do better on average.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Mapping, Sequence

STYLE_WEIGHT = 0.9
MAX_STYLES = 4  # the family's range: 1–4 styles
THRESHOLDS = (0.5, 0.8, 0.9, 0.95)
_NODES = 25  # quadrature of the Gaussian utility noise over ±4 sd
_Z = tuple(-4.0 + 8.0 * i / (_NODES - 1) for i in range(_NODES))
_W = tuple(math.exp(-0.5 * z * z) for z in _Z)
_WSUM = sum(_W)
_SAMPLE = 300  # random products standing for "judged on a random product's appeal"


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -500 else 0.0


def _step(cond: bool, flag: bool, rate: float) -> float:
    if cond:
        return rate if flag else 1.0 - rate
    return 0.0 if flag else 1.0


class _Outcome:
    """What the shopper did with one examined result: nothing, a view (with like / save / cart), or a dismissal."""

    __slots__ = ("kind", "like", "save", "cart", "capped")

    def __init__(self, kind: str, like: bool = False, save: bool = False, cart: bool = False, capped: bool = False):
        self.kind, self.like, self.save, self.cart, self.capped = kind, like, save, cart, capped

    def key(self) -> tuple:
        return (self.kind, self.like, self.save, self.cart, self.capped)


def _given_utility(u: float, o: _Outcome, pop) -> float:
    """P(the outcome | examined, judged utility u), the simulator's rules."""
    click = _sigmoid(3.0 * (u - pop.click_centre))
    dismiss = (1.0 - click) * (pop.dismiss_rate if u < -0.4 else 0.0)
    if o.kind == "view":
        return (click * _step(u > 1.0, o.like, pop.like_rate) * _step(u > 1.1, o.save, pop.save_rate)
                * _step(u > 1.2, o.cart, pop.cart_rate))
    if o.kind == "dismiss":
        return dismiss
    return 1.0 - dismiss - (0.0 if o.capped else click)  # a click past the view cap logs nothing


def _integrated(base: float, o: _Outcome, pop) -> float:
    sd = pop.utility_sd
    return sum(w * _given_utility(base + sd * z, o, pop) for z, w in zip(_Z, _W)) / _WSUM


def style_posterior(me, pop, products: Sequence[Mapping[str, Any]], signals: Sequence[Mapping[str, Any]],
                    sessions: Sequence[Mapping[str, Any]], styles: Sequence[str], by_id: Mapping[str, Any],
                    rng) -> dict[str, float]:
    """P(style is one of the shopper's) for each catalogue style, from the shopper's own sessions.

    ``sessions``: per session ``{"search": index of its search signal, "query": the Query its
    results were for, "asked": the Query the shopper first typed, "me": bool, "end": index one
    past its last signal before any gift}`` (``shoppers.simulate_shopper``'s trace).
    """
    bit = {s: 1 << i for i, s in enumerate(styles)}

    def mask(p: Mapping[str, Any]) -> int:
        m = 0
        for s in p["styles"]:
            m |= bit.get(s, 0)
        return m

    def rest(p: Mapping[str, Any]) -> float:
        return me.utility(p) - 1.2 * max((me.styles.get(s, 0.0) for s in p["styles"]), default=0.0)

    sample = [rng.choice(products) for _ in range(_SAMPLE)]
    sample_rest = [(mask(p), rest(p)) for p in sample]
    sets, loglik = [], []
    for n in range(1, min(MAX_STYLES, len(styles)) + 1):
        for combo in itertools.combinations(styles, n):
            sets.append(sum(bit[s] for s in combo))
            loglik.append(-math.log(math.comb(len(styles), n)))  # each size equally likely
    sizes = [bin(z).count("1") for z in sets]
    noise_cache: dict[tuple, list[float]] = {}

    def noise_terms(o: _Outcome, miss: float) -> list[float]:
        """Per set: P(the outcome) when the result was judged on a random product's appeal."""
        key = (o.key(), miss)
        hit = noise_cache.get(key)
        if hit is None:
            fit_of: dict[int, list[float]] = {}
            for m, r in sample_rest:
                cell = fit_of.setdefault(m, [0.0, 0.0])
                cell[0] += _integrated(1.2 * STYLE_WEIGHT + r - miss, o, pop)
                cell[1] += _integrated(r - miss, o, pop)
            hit = [sum(c[0] if m & z else c[1] for m, c in fit_of.items()) / _SAMPLE for z in sets]
            noise_cache[key] = hit
        return hit

    catalogue_styles = len(styles)
    for sess in sessions:
        if not sess["me"]:
            continue
        q, asked = sess["query"], sess["asked"]
        if asked.style is not None and asked.style in bit:
            # A style query names one of the shopper's styles with the population's probability.
            share = pop.liked_query_share
            for j, z in enumerate(sets):
                loglik[j] += math.log(share * (1.0 if z & bit[asked.style] else 0.0) / sizes[j]
                                      + (1.0 - share) / catalogue_styles)
        search = signals[sess["search"]]
        acts: dict[str, list[Mapping[str, Any]]] = {}
        for s in signals[sess["search"] + 1:sess["end"]]:
            if s.get("productId") is not None and s["type"] != "return":
                acts.setdefault(s["productId"], []).append(s)
        views = 0
        for pos, pid in enumerate(search.get("shown") or ()):
            if pos >= pop.examine_depth:
                break
            p = by_id[pid]
            done = {s["type"]: s for s in acts.get(pid, ())}
            capped = views >= pop.max_views
            if "view" in done:
                o = _Outcome("view", "like" in done, "save" in done, "cart" in done)
                views += 1
            elif "dismiss" in done:
                o = _Outcome("dismiss")
            else:
                o = _Outcome("none", capped=capped)
            examined = 1.0 / (1.0 + pop.position_bias * pos)
            miss = 0.0 if q.matches(p) else 0.8
            r = rest(p)
            own = (_integrated(1.2 * STYLE_WEIGHT + r - miss, o, pop), _integrated(r - miss, o, pop))
            noisy = noise_terms(o, miss)
            m = mask(p)
            reason = done["dismiss"].get("reason") if o.kind == "dismiss" else None
            lo, hi = me.budget.get(p["category"], (0.0, math.inf))
            ruled = ("wrong_color" if pop.color_strength > 0.3 and any(c in me.avoided_colors for c in p["colors"])
                     else "too_pricey" if p["price"] > hi * 1.15 else None)
            for j, z in enumerate(sets):
                fit = bool(m & z)
                pr = examined * ((1.0 - pop.noise) * own[0 if fit else 1] + pop.noise * noisy[j])
                if o.kind == "none":
                    pr += 1.0 - examined
                elif o.kind == "dismiss":
                    rule = ruled or (None if fit else "not_my_style")
                    pr *= pop.reason_share * (rule == reason) + (1.0 - pop.reason_share) * (reason is None)
                loglik[j] += math.log(pr) if pr > 1e-300 else -700.0
    top = max(loglik)
    weights = [math.exp(x - top) for x in loglik]
    total = sum(weights)
    return {s: sum(w for z, w in zip(sets, weights) if z & bit[s]) / total for s in styles}


def displayed(posterior: Mapping[str, float], threshold: float) -> list[str]:
    """The styles an oracle display rule shows: posterior ≥ threshold, surest first."""
    return sorted((s for s, p in posterior.items() if p >= threshold), key=lambda s: (-posterior[s], s))
