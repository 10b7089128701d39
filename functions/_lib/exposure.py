"""Preference measured against what the shopper was shown (impressions).

Why: PREFERENCES.md defines lift as a value's share of the shopper's positive evidence
over "the value's share among items the shopper was shown (or the catalogue)". The
catalogue is the fallback; what was shown is the right baseline, for three reasons the
simulated-shopper benchmark makes visible:

- *feedback loops*: once the profile leans to black, personalised results show more
  black, the shopper clicks more black (because those items also match their style), and
  a catalogue lift reads that as a growing love of black; against the shown set it is
  neutral;
- *query effects*: every result of "navy dress" is navy, so clicking navy there says
  nothing about navy (the search itself is the evidence, counted separately);
- *explaining away*: brands carry a style and a price tier, colours ride along with
  styles; a value should get credit only for choices the shopper's other tastes do not
  already explain.

The model is a conditional choice model fitted per shopper (a multiplicative / Luce
model, the Poisson form of a conditional logit): for every shown result list k, the
expected positive mass on shown item i is

    Y_k · e_i · Φ(i) / Σ_j e_j · Φ(j),   Φ(i) = θ_style(i) · θ_color(i) · θ_brand · θ_price

with e_i a position discount (1 / log2(2 + position): lower results are seen less),
multi-valued facets averaged over their values, and θ_price a factor per band of
log-price relative to the category's middle (so a budget shopper's brands are explained
by price, not credited as brand love). θ is fitted by minorise-maximise / iterative
proportional fitting updates with a Gamma(a, a) prior on each θ (Bayesian shrinkage
toward "no preference": a value needs evidence to move away from 1), and scaled so that
a typical catalogue item of the shopper's categories has θ = 1 (so θ reads like the
spec's lift). The fit is a pure function of the signals, the impressions and the
catalogue, like the rest of the model.

Where it is used: a style is displayed only when θ ≥ 1 (chosen at least as often as
shown) and the style-set model (``_style_set_posterior``: which few styles explain what
was chosen, an item fitting when any of its styles does) finds it likely enough; the
budget's price level (``_price_level``) is the same kind of choice model over relative
log-price. The ranker uses θ as the lift too (``Config.impression_rank_lift``):
it stops the leading style's own exposure from inflating it, so secondary styles get
shown and learned (style recall up, a little less broad-query gap closed).

Choices made on items never shown in a result list (a purchase webhook for something
bought elsewhere, a gift) carry no exposure information; they still count for share,
ranking, budget and size, but not for this lift.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .config import DAY_MS, Config

EXPOSURE_FACETS = ("style", "color", "brand")
_POSITION_WEIGHT = tuple(1.0 / math.log2(pos + 2.0) for pos in range(100))


@dataclass
class ExposureFit:
    """θ per (facet, value) and the evidence behind it."""

    theta: dict[tuple[str, str], float] = field(default_factory=dict)
    observed: dict[tuple[str, str], float] = field(default_factory=dict)  # attributed positive mass O
    exposure: dict[tuple[str, str], float] = field(default_factory=dict)  # expected mass at θ = 1
    chosen_items: dict[tuple[str, str], int] = field(default_factory=dict)  # distinct exposed chosen items
    price_theta: dict[int, float] = field(default_factory=dict)  # band index -> θ
    # The shopper's price level: centre (log-price relative to each category's middle) of a
    # Gaussian acceptance curve fitted on what they chose against what they were shown.
    price_level: float | None = None
    # P(the style is one of the shopper's styles) under the style-set model (_style_set_posterior).
    style_posterior: dict[str, float] = field(default_factory=dict)
    sessions: int = 0  # result lists with at least one positive signal
    exposed_mass: float = 0.0
    unexposed_mass: float = 0.0

    def lift(self, facet: str, value: str) -> float | None:
        return self.theta.get((facet, value))


def _position_weight(pos: int) -> float:
    """How much of a result list's attention position ``pos`` (0-based) gets: 1 / log2(2 + pos)."""
    return _POSITION_WEIGHT[pos] if pos < len(_POSITION_WEIGHT) else 1.0 / math.log2(pos + 2.0)


def normalize_impressions(impressions: Iterable[Mapping[str, Any]] | None,
                          signals: Iterable[Mapping[str, Any]] = ()) -> list[tuple[float, list[Any]]]:
    """``[(ts, [product ids in shown order])]`` sorted by time.

    Accepts ``{"ts", "productIds" | "shown"}`` rows and, equally, search signals that
    carry the shown result list in a ``"shown"`` field (so forgetting the search forgets
    what it showed).
    """
    out: list[tuple[float, list[Any]]] = []
    for imp in impressions or ():
        ids = imp.get("productIds")
        if ids is None:
            ids = imp.get("shown")
        if ids:
            out.append((float(imp.get("ts", 0.0)), list(ids)))
    for s in signals:
        if s.get("type") == "search" and s.get("shown"):
            out.append((float(s.get("ts", 0.0)), list(s["shown"])))
    out.sort(key=lambda t: t[0])
    return out


def price_band(lp: float, category_mid: float, width: float, n_half: int) -> int:
    z = (lp - category_mid) / width
    return max(-n_half, min(n_half, int(math.floor(z + 0.5))))


def fit_exposure(
    choices: list[tuple[Any, float, float]],
    impressions: list[tuple[float, list[Any]]],
    products: Mapping[Any, Mapping[str, Any]],
    category_mid: Mapping[str, float],
    config: Config,
    learnable_category,
    baseline=None,
) -> ExposureFit:
    """Fit θ from ``choices`` = [(product id, decayed positive mass, ts)] and the impressions."""
    fit = ExposureFit()
    if not impressions:
        return fit
    window = config.impression_window_hours * 3_600_000.0
    # product id -> [(ts, list index, position)], in time order
    where: dict[Any, list[tuple[float, int, int]]] = {}
    for k, (ts, ids) in enumerate(impressions):
        for pos, pid in enumerate(ids):
            where.setdefault(pid, []).append((ts, k, pos))
    y: dict[int, dict[int, float]] = {}
    for pid, w, ts in choices:
        best = None
        for t_imp, k, pos in where.get(pid, ()):
            if t_imp <= ts + 1.0 and ts - t_imp <= window:
                best = (k, pos)
        if best is None:
            fit.unexposed_mass += w
            continue
        fit.exposed_mass += w
        y.setdefault(best[0], {})
        y[best[0]][best[1]] = y[best[0]].get(best[1], 0.0) + w
    if not y:
        return fit

    # Index facet values into one flat θ vector.
    index: dict[tuple[str, str], int] = {}
    keys: list[tuple[str, str]] = []

    def idx(key: tuple[str, str]) -> int:
        i = index.get(key)
        if i is None:
            i = index[key] = len(keys)
            keys.append(key)
        return i

    pw, nh = config.impression_price_band_width, config.impression_price_bands
    sessions = []  # (Y_k, rows); row = (e, y, style ids, color ids, brand id, price id)
    chosen: dict[int, set] = {}
    zsessions = []
    item_cache: dict[Any, tuple | None] = {}

    def item(pid: Any) -> tuple | None:
        if pid in item_cache:
            return item_cache[pid]
        p = products.get(pid)
        if p is None or not learnable_category(p.get("category")):
            item_cache[pid] = None
            return None
        st = tuple(idx(("style", v)) for v in (p.get("styles") or ()))
        co = tuple(idx(("color", v)) for v in (p.get("colors") or ()))
        br = idx(("brand", p["brand"])) if p.get("brand") else -1
        price = p.get("price")
        mid = category_mid.get(p.get("category"))
        z = math.log(price) - mid if price and price > 0 and mid is not None else None
        pb = idx(("_price", str(price_band(math.log(price), mid, pw, nh)))) if z is not None else -1
        item_cache[pid] = out = (st, co, br, pb, z)
        return out

    for k, obs in y.items():
        rows = []
        zrows: list[tuple[float, float, float, Any]] = []
        for pos, pid in enumerate(impressions[k][1]):
            it = item(pid)
            if it is None:
                continue
            st, co, br, pb, z = it
            e = _position_weight(pos)
            yi = obs.get(pos, 0.0)
            rows.append((e, yi, st, co, br, pb))
            if z is not None:
                zrows.append((e, yi, z, pid))
            if yi > 0:
                for i in st + co + ((br,) if br >= 0 else ()):
                    chosen.setdefault(i, set()).add(pid)
        Y = sum(r[1] for r in rows)
        if Y > 0:
            sessions.append((Y, rows))
        if sum(r[1] for r in zrows) > 0:
            zsessions.append(zrows)
    fit.sessions = len(sessions)
    n = len(keys)
    theta = [1.0] * n
    a = config.impression_prior
    for _ in range(config.impression_iterations):
        O, E = _choice_mass(theta, sessions)
        for i in range(n):
            # E[i] / θ[i] is the mass expected at θ = 1; Gamma(a, a) prior shrinks toward 1.
            x = E[i] / theta[i] if theta[i] > 0 else 0.0
            theta[i] = (O[i] + a) / (x + a)
        # θ is identified only up to a scale per facet (each list's total is fixed):
        # normalise so the exposure-weighted mean of each facet is 1.
        _normalise(theta, keys, sessions, baseline)
    # The style-set model reads every shown list, chosen from or not: a list of items of a
    # style with nothing chosen is evidence against the style. An item's exposure is
    # scaled by what its other facets (colour, price) already say about its appeal, so an
    # overpriced or wrong-colour item of a style is not held against the style.
    # (By name, not through ``item``: values shown only in lists with no choice get no θ.)
    explain = config.style_set_explain
    shown_styles: list[tuple[float, float, tuple[str, ...]]] = []
    for k, (_, ids) in enumerate(impressions):
        obs = y.get(k, {})
        for pos, pid in enumerate(ids):
            p = products.get(pid)
            if p is None or not learnable_category(p.get("category")):
                continue
            e = _position_weight(pos)
            if explain:
                e *= _appeal(p, explain, theta, index, category_mid, pw, nh)
            shown_styles.append((e, math.log1p(obs.get(pos, 0.0)), tuple(p.get("styles") or ())))
    fit.style_posterior = _style_set_posterior(shown_styles, config)
    # The price level reads the lists chosen from, each item's exposure scaled by its
    # appeal in ``budget_level_explain`` (style: a cheap item of a style the shopper never
    # picks says nothing about price).
    lx = config.budget_level_explain
    zs = [[(e * _appeal(products[pid], lx, theta, index, category_mid, pw, nh) if lx else e, math.log1p(yi), z)
           for e, yi, z, pid in rows] for rows in zsessions]
    fit.price_level = _price_level(zs, config.budget_acceptance_sd, config.budget_level_prior_sd,
                                   config.budget_acceptance_floor, config.budget_robust_rounds)
    # The reported evidence at the fitted θ: observed mass and exposure (the mass expected at θ = 1).
    o_final, predicted = _choice_mass(theta, sessions)
    x_final = [predicted[i] / theta[i] for i in range(n)]
    for i, key in enumerate(keys):
        if key[0] == "_price":
            fit.price_theta[int(key[1])] = theta[i]
            continue
        fit.theta[key] = theta[i]
        fit.observed[key] = o_final[i]
        fit.exposure[key] = x_final[i]
        fit.chosen_items[key] = len(chosen.get(i, ()))
    return fit


def _appeal(p: Mapping[str, Any], facets: tuple[str, ...], theta: list[float], index: Mapping[tuple[str, str], int],
            category_mid: Mapping[str, float], pw: float, nh: int) -> float:
    """The product's appeal from ``facets`` (style, color, brand, price) at the fitted θ.

    A multi-valued facet counts as the mean θ of its values, as in the choice model; a
    value with no θ (never shown where the shopper chose) counts as 1.
    """
    f = 1.0
    for facet, values in (("style", p.get("styles")), ("color", p.get("colors")), ("brand", (p.get("brand"),))):
        if facet in facets and values and values[0] is not None:
            f *= sum(theta[index[(facet, v)]] if (facet, v) in index else 1.0 for v in values) / len(values)
    mid = category_mid.get(p.get("category"))
    if "price" in facets and p.get("price") and mid is not None:
        i = index.get(("_price", str(price_band(math.log(p["price"]), mid, pw, nh))))
        f *= theta[i] if i is not None else 1.0
    return f


def _style_set_posterior(shown: list[tuple[float, float, tuple[str, ...]]], config: Config) -> dict[str, float]:
    """Per style, the posterior probability that it is one of the shopper's styles.

    The model: the shopper has a small set Z of styles (at most ``style_set_max``); a
    shown item *fits* when any of its styles is in Z (an item is as appealing as its best
    style, so a style that only ever rides along with a loved one explains nothing the
    loved one does not); fitting and non-fitting items are chosen at two rates, each
    fitted by maximum likelihood (Poisson, per unit of position-weighted exposure). The
    chosen mass of an item enters as log(1 + mass): a purchase (10 view-equivalents, with
    its view and cart) is stronger evidence than a view but not ten independent ones.
    Each set's log-likelihood is tempered by ``style_set_temperature`` (a session's
    choices are not independent) and each style in the set costs ``style_set_penalty``
    nats (a few dominant styles); the posterior of a style sums the weights of the sets
    holding it.
    Only the ``style_set_candidates`` styles with the most chosen mass can be in Z, so
    the enumeration stays small whatever the catalogue's number of styles.
    Why: share ranks a style riding along with a loved one as high as the loved one, and
    θ averages an item's styles, so it inflates the rider to explain why the two-style
    items were chosen; the set model asks directly which styles are needed to explain
    what was chosen over what was shown.
    """
    mass: dict[str, float] = {}
    for _e, yi, st in shown:
        for v in st:
            mass[v] = mass.get(v, 0.0) + yi
    cands = sorted((v for v in mass if mass[v] > 0), key=lambda v: (-mass[v], v))[: config.style_set_candidates]
    if not cands:
        return {}
    bit = {v: 1 << b for b, v in enumerate(cands)}
    x: dict[int, float] = {}
    y: dict[int, float] = {}
    for e, yi, st in shown:
        m = 0
        for v in st:
            m |= bit.get(v, 0)
        x[m] = x.get(m, 0.0) + e
        y[m] = y.get(m, 0.0) + yi
    masks = list(x)

    def loglik(z: int) -> float:
        y1 = x1 = y0 = x0 = 0.0
        for m in masks:
            if m & z:
                y1 += y[m]
                x1 += x[m]
            else:
                y0 += y[m]
                x0 += x[m]
        out = 0.0
        if y1 * x0 < y0 * x1:
            # Fitting items chosen less often than the rest: the constrained maximum is one
            # common rate (else a set of disliked styles would explain the choices as
            # well as its complement).
            if y1 + y0 > 0:
                out = (y1 + y0) * math.log((y1 + y0) / (x1 + x0))
            return config.style_set_temperature * out
        if y1 > 0:
            out += y1 * math.log(y1 / x1)
        if y0 > 0:
            out += y0 * math.log(y0 / x0)
        return config.style_set_temperature * out

    sets, scores = [], []
    for k in range(1, min(config.style_set_max, len(cands)) + 1):
        for combo in itertools.combinations(range(len(cands)), k):
            z = sum(1 << b for b in combo)
            sets.append(z)
            scores.append(loglik(z) - config.style_set_penalty * k)
    top = max(scores)
    weights = [math.exp(sc - top) for sc in scores]
    total = sum(weights)
    post = {v: 0.0 for v in mass}
    for b, v in enumerate(cands):
        post[v] = sum(w for z, w in zip(sets, weights) if z >> b & 1) / total
    return post


def _price_level(zsessions, sd: float, prior_sd: float, floor: float = 0.0, rounds: int = 0) -> float | None:
    """The price level, robust to choices that are not about price (random clicks, a
    shared account, gifts): acceptance is ``floor + Gaussian``; fitted by reweighting —
    each chosen item counts by the chance its choice came from the Gaussian part,
    g / (floor + g) at the current centre — and refitting (``rounds`` times).
    """
    level = _gaussian_level(zsessions, sd, prior_sd)
    if level is None or floor <= 0:
        return level
    for _ in range(rounds):
        rew = []
        for rows in zsessions:
            out = []
            for e, y, z in rows:
                if y > 0:
                    g = math.exp(-(z - level) ** 2 / (2 * sd * sd))
                    y = y * g / (floor + g)
                out.append((e, y, z))
            if sum(r[1] for r in out) > 0:
                rew.append(out)
        new = _gaussian_level(rew, sd, prior_sd)
        if new is None:
            break
        level = new
    return level


def _gaussian_level(zsessions, sd: float, prior_sd: float) -> float | None:
    """Centre c of a Gaussian acceptance curve exp(−(z − c)² / 2sd²) over relative log-price z.

    A conditional logit: within each shown list, the chance an item is chosen is
    proportional to its position weight times its acceptance, so the c-dependence is
    exp(z · c / sd²) and the log-likelihood is concave in β = c / sd²; Newton steps, with
    a Gaussian prior on c (sd ``prior_sd``) centred on the catalogue's middle (0).
    Why against what was shown: shoppers see mostly mid-priced items (most of the
    catalogue, and whatever the current profile favours), so the raw median of what they
    pick regresses toward the middle; the choice model asks which prices they pick *more
    often than shown*.
    """
    if not zsessions:
        return None
    s2 = sd * sd
    prepared = []
    for rows in zsessions:
        Y = sum(y for _, y, _ in rows)
        base = [(e * math.exp(-z * z / (2 * s2)), z) for e, _, z in rows]
        sy = sum(y * z for _, y, z in rows)
        prepared.append((Y, sy, base))
    beta = 0.0
    prior_prec = s2 / (prior_sd * prior_sd)  # prior on β = c / sd²: precision s2² / prior_sd², scaled below
    for _ in range(8):
        g = -beta * prior_prec * s2
        h = prior_prec * s2
        for Y, sy, base in prepared:
            mx = max(beta * z for _, z in base)
            ws = [b * math.exp(beta * z - mx) for b, z in base]
            Z = sum(ws)
            if Z <= 0:
                continue
            m1 = sum(w * z for w, (_, z) in zip(ws, base)) / Z
            m2 = sum(w * z * z for w, (_, z) in zip(ws, base)) / Z
            g += sy - Y * m1
            h += Y * max(m2 - m1 * m1, 1e-6)
        step = g / h
        beta += max(-2.0 / sd, min(2.0 / sd, step))
        if abs(step) < 1e-4:
            break
    return beta * s2


def _choice_mass(theta: list[float], sessions: list) -> tuple[list[float], list[float]]:
    """Observed and predicted choice mass per key at ``theta``.

    Each session's chosen mass is spread over its shown items in proportion to their
    scores; within a multi-valued facet (styles, colours) an item's mass goes to each
    value in proportion to its θ.
    """
    n = len(theta)
    observed = [0.0] * n
    predicted = [0.0] * n
    for total, rows in sessions:
        scores = []
        z = 0.0
        for e, _yi, st, co, br, pb in rows:
            fs = (sum(theta[i] for i in st) / len(st)) if st else 1.0
            fc = (sum(theta[i] for i in co) / len(co)) if co else 1.0
            s = e * fs * fc * (theta[br] if br >= 0 else 1.0) * (theta[pb] if pb >= 0 else 1.0)
            scores.append((s, fs, fc))
            z += s
        if z <= 0:
            continue
        scale = total / z
        for (_e, yi, st, co, br, pb), (s, fs, fc) in zip(rows, scores):
            p = s * scale  # predicted mass on this item
            for ids, f in ((st, fs), (co, fc)):
                if ids:
                    tot = f * len(ids)
                    for i in ids:
                        r = theta[i] / tot
                        observed[i] += yi * r
                        predicted[i] += p * r
            for i in (br, pb):
                if i >= 0:
                    observed[i] += yi
                    predicted[i] += p
    return observed, predicted


def _normalise(theta: list[float], keys: list[tuple[str, str]], sessions, baseline=None) -> None:
    """Fix each facet's free scale: θ = 1 is a typical item of the shopper's categories.

    With ``baseline(facet, value)`` (the value's catalogue share in those categories) the
    catalogue-weighted mean θ is 1, so θ reads like the spec's lift; without it the
    exposure-weighted mean over what was shown is 1.
    """
    if baseline is not None:
        by_facet: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            by_facet.setdefault(key[0], []).append(i)
        for facet, ids in by_facet.items():
            if facet == "_price":
                continue
            bs = [baseline(facet, keys[i][1]) for i in ids]
            covered = sum(bs)
            m = sum(b * theta[i] for b, i in zip(bs, ids)) + max(0.0, 1.0 - covered)
            if m > 0:
                for i in ids:
                    theta[i] /= m
        return
    num: dict[str, float] = {}
    den: dict[str, float] = {}
    for _, rows in sessions:
        for e, yi, st, co, br, pb in rows:
            for ids in (st, co):
                if ids:
                    f = keys[ids[0]][0]
                    num[f] = num.get(f, 0.0) + e * sum(theta[i] for i in ids) / len(ids)
                    den[f] = den.get(f, 0.0) + e
            for i in (br, pb):
                if i >= 0:
                    f = keys[i][0]
                    num[f] = num.get(f, 0.0) + e * theta[i]
                    den[f] = den.get(f, 0.0) + e
    for i, key in enumerate(keys):
        m = num.get(key[0], 0.0) / den[key[0]] if den.get(key[0]) else 1.0
        if m > 0:
            theta[i] /= m
