"""The effective profile that ``preferences:get`` returns: the stored learned profile with
the shopper's *current* overrides laid on top.

Why at read time: the learner stores ``Profile.to_json()`` computed with the overrides it
saw, but an override changed since then must show at once (the page updates live), and
the learner must never be the one that makes an override take effect. So every read
re-applies the overrides table: a pinned / removed / banned value gets ``source: user``,
``locked: true`` and confidence 1; a value the stored profile marks as set by the shopper
but whose override has since been cleared falls back to ``learning`` until the re-learn
that clearing scheduled replaces it. Budget and size set by hand replace learned ones.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable, Mapping

from .catalog import FACETS

_STATE_ORDER = {"pinned": 0, "shown": 1, "learning": 2, "removed": 3, "never": 4}
_ACTION_STATE = {"pin": "pinned", "remove": "removed", "never": "never"}
_ACTION_AFFINITY = {"pin": 1.0, "remove": 0.0, "never": -1.0}


def empty_profile_json(now_ms: float = 0.0) -> dict[str, Any]:
    return {"facets": {f: [] for f in FACETS}, "budget": {}, "size": {}, "personalize": True,
            "learningPaused": False, "updatedAt": float(now_ms)}


def overrides_as_model_input(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Override rows of the ``overrides`` table in the row form ``model.normalize_overrides`` takes."""
    out = []
    for r in rows:
        if r["kind"] == "facet":
            out.append({"kind": "facet", "facet": r["facet"], "value": r["value"], "action": r["action"]})
        elif r["kind"] == "budget":
            out.append({"kind": "budget", "category": r["category"], "min": r["min"], "max": r["max"]})
        elif r["kind"] == "size":
            out.append({"kind": "size", "category": r["category"], "size": r["size"]})
    return out


def _blank_value(value: str) -> dict[str, Any]:
    return {"value": value, "source": "learned", "state": "learning", "confidence": 0.0, "affinity": 0.0,
            "locked": False, "evidence": {"items": 0, "signals": 0, "lastSeen": None}}


def effective_profile(stored: Mapping[str, Any] | None, override_rows: Iterable[Mapping[str, Any]],
                      user: Mapping[str, Any] | None, now_ms: float = 0.0) -> dict[str, Any]:
    """``preferences:get``'s object: ``stored`` (or an empty profile) with ``override_rows`` applied."""
    prof = copy.deepcopy(dict(stored)) if stored else empty_profile_json(now_ms)
    facets = {f: list((prof.get("facets") or {}).get(f) or []) for f in FACETS}
    budget = dict(prof.get("budget") or {})
    size = dict(prof.get("size") or {})
    rows = list(override_rows)
    facet_ov = {(r["facet"], r["value"]): r["action"] for r in rows if r["kind"] == "facet"}
    budget_ov = {r["category"]: r for r in rows if r["kind"] == "budget"}
    size_ov = {r["category"]: r for r in rows if r["kind"] == "size"}

    for facet in FACETS:
        by_value: dict[str, dict[str, Any]] = {}
        for v in facets[facet]:
            v = dict(v)
            if v.get("source") == "user" and (facet, v["value"]) not in facet_ov:
                # The override was cleared after the last learning run: not learned yet.
                v.update(source="learned", state="learning", confidence=0.0, affinity=0.0, locked=False)
            by_value[v["value"]] = v
        for (f, value), action in facet_ov.items():
            if f != facet:
                continue
            v = by_value.get(value) or _blank_value(value)
            v.update(source="user", state=_ACTION_STATE[action], confidence=1.0, affinity=_ACTION_AFFINITY[action],
                     locked=True)
            by_value[value] = v
        for v in by_value.values():
            v.setdefault("locked", v.get("source") == "user")
        facets[facet] = sorted(by_value.values(), key=lambda v: (_STATE_ORDER.get(v.get("state"), 9),
                                                                 -float(v.get("affinity") or 0.0), v["value"]))

    budget = {c: b for c, b in budget.items() if b.get("source") != "user" or c in budget_ov}
    for cat, r in budget_ov.items():
        prev = budget.get(cat) or {}
        budget[cat] = {**prev, "min": float(r["min"]), "max": float(r["max"]), "source": "user", "confidence": 1.0,
                       "locked": True, "state": "user"}
    size = {c: s for c, s in size.items() if s.get("source") != "user" or c in size_ov}
    for cat, r in size_ov.items():
        prev = size.get(cat) or {}
        size[cat] = {**prev, "size": r["size"], "source": "user", "confidence": 1.0, "locked": True, "state": "user",
                     "posterior": {}}

    prof["facets"] = facets
    prof["budget"] = dict(sorted(budget.items()))
    prof["size"] = dict(sorted(size.items()))
    if user is not None:
        prof["personalize"] = bool(user.get("personalize", True))
        prof["learningPaused"] = bool(user.get("learningPaused", False))
    prof["updatedAt"] = float(prof.get("updatedAt") or now_ms)
    return prof
