"""Personalised re-ranking of search results, with reasons and guardrails.

Why re-rank rather than filter: the text engine decides what matches the query; the
profile only reorders matches, so a wrong profile can demote but never hide a result,
and switching personalisation off gives exactly the engine's order.

score = normalised relevance + λ · preference score, λ = 0.35 (0 when off), where the
preference score (about −1…1) sums, per facet, the facet's weight times the best liked
value on the item (minus the worst disliked one) — except for facets the query names
itself ("red dress": the shopper already said which colour) — plus a budget term (inside
the category's band helps, far outside hurts) and a size term (the shopper's size in
stock helps). Guardrails then keep at most 3 items of one brand in the top 10 and reserve
a couple of top-20 ranks so the profile keeps learning: each goes to the best result of a
style the profile is unsure of (and of none it displays), so the shopper's answer tells
the styles apart, or, when no style is in doubt, to the best unpersonalised result.
Every result says why it is where it is.

``SearchEngine`` is the adapter interface: the runtime's built-in engine is SQLite FTS5;
external engines (Elasticsearch, Meilisearch, Typesense, Algolia) plug in behind the same
``search(query, filters, limit)``. ``BM25Engine`` is an in-memory engine for the
benchmark and the unit tests.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from .catalog import parse_query_facets, tokenize
from .config import DEFAULT_CONFIG, FACETS, Config
from .model import FacetValue, Profile, item_facets

# ---------------------------------------------------------------------------- engines


@runtime_checkable
class SearchEngine(Protocol):
    """Text retrieval behind personalised search.

    ``search`` returns up to ``limit`` ``(product_id, relevance)`` pairs, best first, with
    relevance ≥ 0 on any scale (the ranker normalises it). ``filters`` is a mapping of
    exact-match fields (e.g. ``{"category": "dresses"}``) and optional ``min_price`` /
    ``max_price``; engines ignore filters they cannot apply.
    """

    def search(self, query: str, filters: Mapping[str, Any] | None, limit: int) -> list[tuple[Any, float]]: ...


def _stem(token: str) -> str:
    """A tiny plural stemmer, enough for "dresses" ~ "dress" and "boots" ~ "boot"."""
    if len(token) > 4 and token.endswith("sses"):
        return token[:-2]
    if len(token) > 4 and token.endswith(("shes", "ches", "xes")):
        return token[:-2]
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def _terms(text: str) -> list[str]:
    out = []
    for tok in tokenize(text):
        out.append(_stem(tok))
        if "-" in tok:
            out.extend(_stem(t) for t in tok.split("-") if t)
    return out


def _passes(product: Mapping[str, Any], filters: Mapping[str, Any] | None) -> bool:
    if not filters:
        return True
    for key, want in filters.items():
        if want is None:
            continue
        if key == "min_price":
            if product.get("price", 0.0) < want:
                return False
        elif key == "max_price":
            if product.get("price", 0.0) > want:
                return False
        else:
            have = product.get(key)
            if isinstance(have, list):
                if want not in have:
                    return False
            elif have != want:
                return False
    return True


class BM25Engine:
    """In-memory Okapi BM25 over title (×2), description, category, brand, styles, colours.

    Query terms are OR-ed and scored, so a broad query ("summer dress") still returns
    everything with either word, documents matching more terms first — the same contract
    as an FTS5 ``OR`` query ordered by ``bm25()``.
    """

    def __init__(self, products: Iterable[Mapping[str, Any]], k1: float = 1.2, b: float = 0.75, id_field: str | None = None):
        self.k1, self.b = k1, b
        self.products: dict[Any, Mapping[str, Any]] = {}
        self.postings: dict[str, dict[Any, int]] = {}
        self.lengths: dict[Any, int] = {}
        for p in products:
            pid = p[id_field] if id_field else p.get("_id", p.get("sku"))
            self.products[pid] = p
            text = " ".join([p.get("title", "")] * 2 + [p.get("description", ""), p.get("category", ""), p.get("brand", "")]
                            + list(p.get("styles") or []) + list(p.get("colors") or []))
            terms = _terms(text)
            self.lengths[pid] = len(terms)
            for t in terms:
                post = self.postings.setdefault(t, {})
                post[pid] = post.get(pid, 0) + 1
        self.n = len(self.products)
        self.avg_len = (sum(self.lengths.values()) / self.n) if self.n else 1.0

    def search(self, query: str, filters: Mapping[str, Any] | None = None, limit: int = 2000) -> list[tuple[Any, float]]:
        scores: dict[Any, float] = {}
        for term in set(_terms(query)):
            post = self.postings.get(term)
            if not post:
                continue
            idf = math.log(1.0 + (self.n - len(post) + 0.5) / (len(post) + 0.5))
            for pid, tf in post.items():
                norm = tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * self.lengths[pid] / self.avg_len))
                scores[pid] = scores.get(pid, 0.0) + idf * norm
        hits = [(pid, s) for pid, s in scores.items() if _passes(self.products[pid], filters)]
        hits.sort(key=lambda h: (-h[1], str(h[0])))
        return hits[:limit]


# ---------------------------------------------------------------------------- scoring

_VERBS = {
    "purchase": "you often buy",
    "cart": "you often add",
    "save": "you often save",
    "like": "you often like",
    "view": "you often look at",
    "search": "you often search for",
}


def _facet_reason(v: FacetValue) -> str:
    if v.state == "pinned":
        return {"style": f"you told us you like {v.value} styles", "color": f"you told us you like {v.value}",
                "brand": f"you told us you like {v.value}", "category": f"you told us you shop {v.value}"}[v.facet]
    verb = _VERBS.get(v.top_signal or "view", "you often look at")
    if v.facet == "style":
        return f"{verb} {v.value} pieces"
    if v.facet == "color":
        return f"{verb} {v.value} items" if verb != "you often search for" else f"you often search for {v.value}"
    if v.facet == "brand":
        return f"{verb} {v.value}"
    return f"{verb} {v.value}"


def preference_score(
    product: Mapping[str, Any], profile: Profile, config: Config = DEFAULT_CONFIG, skip_facets: Iterable[str] = ()
) -> tuple[float, list[tuple[float, str]]]:
    """The profile's score for one product (about −1…1) and its weighted reasons.

    ``skip_facets``: facets the query names, which get neither boost nor penalty.
    Learned values count by their affinity (already scaled by confidence, so "still
    learning" values count less); overrides count fully: pinned +1, never −1 (times
    ``never_penalty``), removed 0.
    """
    skip = set(skip_facets)
    score = 0.0
    reasons: list[tuple[float, str]] = []
    for facet, values in item_facets(product).items():
        if facet in skip:
            continue
        w = config.facet_weight(facet)
        best: FacetValue | None = None
        worst = 0.0
        for value in values:
            fv = profile.value(facet, value)
            if fv is None:
                continue
            a = fv.affinity
            if fv.state == "never":
                a = -config.never_penalty
            if a > 0 and (best is None or a > best.affinity):
                best = fv
            if a < worst:
                worst = a
        if best is not None:
            score += w * best.affinity
            if best.state in ("shown", "pinned") or best.affinity >= 0.3:
                reasons.append((w * best.affinity, _facet_reason(best)))
        score += w * worst
    cat = product.get("category")
    price = product.get("price")
    budget = profile.budget.get(cat) if cat else None
    if budget is not None and price and price > 0 and budget.max > 0:
        lp, lo, hi = math.log(price), math.log(max(budget.min, 1e-6)), math.log(budget.max)
        conf = budget.confidence
        if lo <= lp <= hi:
            bonus = config.budget_inside_bonus * conf
            score += bonus
            if budget.state in ("shown", "user"):
                reasons.append((bonus, f"in your usual budget for {cat}"))
        else:
            d = (lo - lp) if lp < lo else (lp - hi)
            if d > config.budget_near:
                frac = min(1.0, (d - config.budget_near) / (config.budget_far - config.budget_near))
                # Below the band hurts half as much: cheaper than usual is rarely a deal-breaker.
                score -= config.budget_outside_penalty * conf * frac * (0.5 if lp < lo else 1.0)
    size = profile.size.get(cat) if cat else None
    sizes = product.get("sizes") or []
    if size is not None and len(sizes) > 0 and (size.state in ("shown", "user") or size.kept_purchases > 0):
        fit = size.fit_probability(sizes)
        conf = size.confidence
        if size.size in sizes:
            bonus = config.size_in_stock_bonus * fit * conf
            score += bonus
            reasons.append((bonus, f"your size {size.size} is in stock"))
        else:
            score -= config.size_missing_penalty * conf
    return score, reasons


class _StyleTest:
    """Which results an explore rank may use to test the styles the profile is unsure of.

    Unsure: not displayed, with some evidence, and a style-set posterior within
    ``explore_style_posterior``. A test item carries an unsure style, none of the
    displayed or pinned ones (or the answer would not tell the styles apart), and no value
    the shopper said "never" to.
    """

    def __init__(self, profile: Profile, config: Config) -> None:
        lo, hi = config.explore_style_posterior
        self.unsure: set[str] = set()
        self.sure: set[str] = set()
        for v in profile.facets.get("style", {}).values():
            if v.state in ("shown", "pinned"):
                self.sure.add(v.value)
            elif hi > lo and v.state == "learning" and v.posterior is not None and v.positive > 0 and lo <= v.posterior <= hi:
                self.unsure.add(v.value)
        self.profile = profile

    def style_tested(self, product: Mapping[str, Any]) -> str | None:
        styles = product.get("styles") or ()
        if any(s in self.sure for s in styles):
            return None
        tested = next((s for s in styles if s in self.unsure), None)
        if tested is None:
            return None
        for facet, values in item_facets(product).items():
            for value in values:
                fv = self.profile.value(facet, value)
                if fv is not None and fv.state == "never":
                    return None
        return tested


def rank(
    query: str,
    candidates_with_relevance: Sequence[tuple[Mapping[str, Any], float]],
    profile: Profile | None,
    config: Config = DEFAULT_CONFIG,
    personalize: bool = True,
) -> list[dict[str, Any]]:
    """Order candidates for one query: ``[{"product", "score", "reasons"}]``, best first.

    ``candidates_with_relevance``: ``(product, relevance)`` from the text engine (any
    scale; at most ``config.fts_cap`` are considered). Relevance is normalised by the best
    match so λ means the same for every query. With personalisation off (or no profile)
    the result is the engine's order, unchanged.
    """
    cands = list(candidates_with_relevance)[: config.fts_cap]
    if not cands:
        return []
    top_rel = max((r for _, r in cands), default=0.0)
    norm = [(p, (r / top_rel) if top_rel > 0 else 0.0) for p, r in cands]
    base_order = sorted(range(len(norm)), key=lambda i: -norm[i][1])  # stable: engine order on ties
    match_reason = f"matches “{query.strip()}”" if query and query.strip() else "popular right now"
    on = personalize and profile is not None and profile.personalize and config.lam > 0
    if not on:
        return [{"product": norm[i][0], "score": round(norm[i][1], 6), "reasons": [match_reason]} for i in base_order]

    named = set(parse_query_facets(query).keys())
    scored = []
    for i, (product, rel) in enumerate(norm):
        pref, reasons = preference_score(product, profile, config, named)
        reasons.sort(key=lambda r: -r[0])
        texts = [t for w, t in reasons if w > 0][: config.max_reasons]
        scored.append((rel + config.lam * pref, i, texts))
    scored.sort(key=lambda s: (-s[0], s[1]))

    # Guardrail 1: at most `guard_brand_top10` items of one brand in the top 10.
    order: list[int] = []
    deferred: list[int] = []
    brand_count: dict[Any, int] = {}
    for _, i, _ in scored:
        if len(order) < 10:
            brand = norm[i][0].get("brand")
            if brand_count.get(brand, 0) >= config.guard_brand_top10:
                deferred.append(i)
                continue
            brand_count[brand] = brand_count.get(brand, 0) + 1
        order.append(i)
        if len(order) == 10:
            order.extend(deferred)
            deferred = []
    order.extend(deferred)
    # order may now be out of its natural sequence past rank 10; that is intended.

    # Guardrail 2: reserve explore ranks so the profile keeps learning: the best-scored
    # result that tests an unsure style (_StyleTest), else the best unpersonalised one.
    explore: dict[int, str | None] = {}  # index -> the style it tests, or None
    test = _StyleTest(profile, config)
    for rank_1 in sorted(config.explore_ranks):
        pos = rank_1 - 1
        if pos >= len(order):
            break
        pick, tested = None, None
        if test.unsure:
            pick, tested = next(((i, t) for i in order[pos:] if (t := test.style_tested(norm[i][0]))), (None, None))
        if pick is None:
            above = set(order[:pos])
            pick = next((i for i in base_order if i not in above), None)
        if pick is None:
            continue
        if pick != order[pos]:
            order.remove(pick)
            order.insert(pos, pick)
        explore[pick] = tested

    by_index = {i: (s, texts) for s, i, texts in scored}
    results = []
    for i in order:
        s, texts = by_index[i]
        if i in explore and explore[i] is not None:
            texts = [match_reason, f"to learn whether you like {explore[i]}"]
        elif i in explore and not texts:
            texts = [match_reason, "a top match outside your usual picks"]
        results.append({"product": norm[i][0], "score": round(s, 6), "reasons": texts or [match_reason]})
    return results
