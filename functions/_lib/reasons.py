"""Why a shopper dismissed or returned a product: the codes, and the words they replaced.

Codes, not sentences: the page words them and the learner reads them, so a reason is one
of a closed set that ``interactions:log`` checks (``v.union`` of ``v.literal``s) and the
learner looks up exactly, never by the words it happens to contain.

Databases written before the codes hold the shopper's words ("not my style", "too
small": whatever a client sent, the page's choices or anything else). ``dismiss_code`` /
``return_code`` read such text as main's learner did, so a signal means the same before
and after ``functions/migrations.py`` rewrites it (which keeps the words beside the code).
"""

from __future__ import annotations

# Dismissal reasons: the code the page sends -> the facet it names ("budget": the price).
DISMISS_REASONS = {"not_my_style": "style", "wrong_color": "color", "too_pricey": "budget", "not_my_brand": "brand",
                   "not_my_category": "category"}
# Return reasons: the code -> the size step it implies (+1: the next size up), None: not about size.
RETURN_REASONS = {"too_small": 1, "too_big": -1, "other": None}


def dismiss_code(reason: str | None) -> str | None:
    """The code of a dismissal reason: a code as it is, older free text by the words in it, else None.

    The words are main's rules before the codes: "style" → not_my_style, "colo(u)r" →
    wrong_color, "brand" → not_my_brand, price words (not "cheap") → too_pricey,
    "categor" → not_my_category ("not a category I buy", the page's old wording).
    """
    if not reason:
        return None
    if reason in DISMISS_REASONS:
        return reason
    r = reason.lower()
    if "style" in r:
        return "not_my_style"
    if "colo" in r:
        return "wrong_color"
    if "brand" in r:
        return "not_my_brand"
    if "cheap" not in r and any(w in r for w in ("pric", "expensive", "budget", "cost")):
        return "too_pricey"
    if "categor" in r:
        return "not_my_category"
    return None


def return_code(reason: str | None) -> str | None:
    """The code of a return reason: a code as it is, older free text by the words in it ("other" if none)."""
    if not reason:
        return None
    if reason in RETURN_REASONS:
        return reason
    r = reason.lower()
    if any(w in r for w in ("small", "tight", "short")):
        return "too_small"
    if any(w in r for w in ("big", "large", "loose", "long")):
        return "too_big"
    return "other"
