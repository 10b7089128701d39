"""Personalised re-ranking of search results, with reasons and guardrails.

Why re-rank rather than filter: the text engine decides what matches the query; the
profile only reorders matches, so a wrong profile can demote but never hide a result,
and switching personalisation off gives exactly the engine's order.

score = normalised relevance + λ · preference score, λ = 0.35 (0 when off), where the
preference score (about −1…1) sums, per facet, the facet's weight times the best liked
value on the item (minus the worst disliked one) — except for facets the query names
itself ("red dress": the shopper already said which colour) — plus a budget term (inside
the category's band helps, far outside hurts) and a size term (the shopper's size in
stock helps). A result lacking a facet value the query names ("navy shirt": a dress, or
a grey shirt) gets no lift from the profile, only its demotions. Guardrails then keep at
most 3 items of one brand in the top 10 and reserve a couple of top-20 ranks for the best
unpersonalised result not already above them, so the profile keeps learning from what
it would not have shown.
Every result says why it is where it is, and a result's text reason names only the
query words it matched.

``SearchEngine`` is the interface of an external engine (Elasticsearch, Meilisearch,
Typesense, Algolia) that ``engines.SyncEngineAdapter`` plugs in beside the runtime's
built-in SQLite FTS5 index.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from .catalog import FACETS, QueryVocabulary
from .config import DEFAULT_CONFIG, Config
from .model import FacetValue, Profile, item_facets

# ---------------------------------------------------------------------------- engines


@runtime_checkable
class SearchEngine(Protocol):
    """Text retrieval by an external engine (wrapped by ``engines.SyncEngineAdapter``).

    ``search`` returns up to ``limit`` ``(product_id, relevance)`` pairs, best first, with
    relevance ≥ 0 on any scale (the ranker normalises it). ``filters`` is a mapping of
    exact-match fields (e.g. ``{"category": "dresses"}``); engines ignore filters they
    cannot apply.
    """

    def search(self, query: str, filters: Mapping[str, Any] | None, limit: int) -> list[tuple[Any, float]]: ...


# ---------------------------------------------------------------------------- scoring

_VOCABULARY_SAMPLE = 300  # best-matching candidates read for the facet words a query names
_vocabularies: dict[frozenset, QueryVocabulary] = {}  # by the values they cover (catalogues change rarely)

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


def _named_facets(query: str, cands: Sequence[tuple[Mapping[str, Any], float, Sequence[str]]]) -> dict[str, list[str]]:
    """The facet values the query names, in the words of what it matched.

    The vocabulary is the candidates' own values (plus the shoppers' usual words for
    them): a value the query names is carried by the products that matched it.
    """
    values: dict[str, set[str]] = {f: set() for f in FACETS}
    for c in cands[:_VOCABULARY_SAMPLE]:
        for facet, vs in item_facets(c[0]).items():
            values[facet].update(vs)
    key = frozenset((f, v) for f, vs in values.items() for v in vs)
    vocabulary = _vocabularies.get(key)
    if vocabulary is None:
        if len(_vocabularies) >= 64:
            _vocabularies.clear()
        vocabulary = _vocabularies[key] = QueryVocabulary(values)
    return vocabulary.parse(query)


def answers(product: Mapping[str, Any], named: Mapping[str, set[str]]) -> bool:
    """Whether ``product`` carries, for every facet the query names, one of the named values.

    Why: personalisation may reorder what answers the query, but lifting a result that
    lacks what the shopper asked for ("navy shirt": a shirt dress in their favourite style,
    a grey shirt from their favourite brand) over ones that have it is the commonest way
    it made a specific search worse than the plain order (bench/EXPERIMENTS.md).
    """
    facets = item_facets(product)
    return all(set(facets.get(f, ())) & values for f, values in named.items())


def match_reason(matched: Sequence[str]) -> str:
    """The text reason of a result: the query's words it matched, and only those."""
    return f"matches “{' '.join(matched)}”" if matched else "a match for your search"


def rank(
    query: str,
    candidates: Sequence[tuple[Mapping[str, Any], float, Sequence[str]]],
    profile: Profile | None,
    config: Config = DEFAULT_CONFIG,
    personalize: bool = True,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Order candidates for one query: ``[{"product", "score", "reasons"}]``, best first.

    ``candidates``: ``(product, relevance, query words it matched)`` from the text engine
    (relevance on any scale; at most ``config.fts_cap`` are considered). Relevance is
    normalised by the best match so λ means the same for every query. With
    personalisation off (or no profile) the result is the engine's order, unchanged.
    ``limit``: only the best that many are returned (all by default).
    """
    cands = list(candidates)[: config.fts_cap]
    if not cands:
        return []
    top_rel = max((c[1] for c in cands), default=0.0)
    norm = [(c[0], (c[1] / top_rel) if top_rel > 0 else 0.0) for c in cands]
    base_order = sorted(range(len(norm)), key=lambda i: -norm[i][1])  # stable: engine order on ties
    on = personalize and profile is not None and profile.personalize and config.lam > 0
    if not on:
        return [{"product": norm[i][0], "score": round(norm[i][1], 6), "reasons": [match_reason(cands[i][2])]}
                for i in base_order[:limit]]

    named = {f: set(vs) for f, vs in _named_facets(query, cands).items() if vs}
    scored = []
    for i, (product, rel) in enumerate(norm):
        pref, reasons = preference_score(product, profile, config, named)
        if pref > 0 and not answers(product, named):
            pref, reasons = 0.0, []  # a result lacking what the query names is not lifted
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

    # Guardrail 2: reserve explore ranks so the profile keeps learning: the best
    # unpersonalised result not already above the rank.
    explore: set[int] = set()

    def keeps_brand_cap(i: int, pos: int) -> bool:
        """Moving ``i`` to ``pos`` keeps guardrail 1 (the nine others left in the top 10 are counted)."""
        if pos >= 10:
            return True
        brand = norm[i][0].get("brand")
        others = [j for j in order[:10] if j != i][:9]
        return sum(norm[j][0].get("brand") == brand for j in others) < config.guard_brand_top10

    for rank_1 in sorted(config.explore_ranks):
        pos = rank_1 - 1
        if pos >= len(order):
            break
        above = set(order[:pos])
        pick = next((i for i in base_order if i not in above and keeps_brand_cap(i, pos)), None)
        if pick is None:
            continue
        if pick != order[pos]:
            order.remove(pick)
            order.insert(pos, pick)
        explore.add(pick)

    by_index = {i: (s, texts) for s, i, texts in scored}
    results = []
    for i in order[:limit]:
        s, texts = by_index[i]
        if i in explore and not texts:
            texts = [match_reason(cands[i][2]), "a top match outside your usual picks"]
        results.append({"product": norm[i][0], "score": round(s, 6), "reasons": texts or [match_reason(cands[i][2])]})
    return results
