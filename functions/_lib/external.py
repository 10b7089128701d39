"""An optional external learner, called over HTTP by ``learning:run``.

Configured by ``PREFMEM_EXTERNAL_LEARNER_URL`` (timeout ``PREFMEM_EXTERNAL_LEARNER_TIMEOUT``
seconds, default 2). The learner receives what the built-in model receives —

    POST <url>  {"userId", "now", "signals": [...], "products": {id: product},
                 "overrides": [...], "personalize", "learningPaused"}

— and answers ``{"profile": <the preferences:get shape>}`` (or that object itself). Any
failure (unset URL, connection error, timeout, non-2xx, malformed profile) makes the caller
fall back to the built-in model; overrides are re-applied on read either way, so an
external learner can no more overwrite them than the built-in one.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from .model import Profile

URL_ENV = "PREFMEM_EXTERNAL_LEARNER_URL"
TIMEOUT_ENV = "PREFMEM_EXTERNAL_LEARNER_TIMEOUT"


def configured_url() -> str | None:
    url = os.environ.get(URL_ENV, "").strip()
    return url or None


def timeout_s() -> float:
    try:
        return max(0.05, float(os.environ.get(TIMEOUT_ENV, "2")))
    except ValueError:
        return 2.0


class ExternalLearnerError(Exception):
    pass


async def learn(url: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
    """The external learner's profile, normalised through ``Profile``; raises ExternalLearnerError."""
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(url, json=payload)
    except httpx.HTTPError as err:
        raise ExternalLearnerError(f"{type(err).__name__}: {err}") from None
    if response.status_code // 100 != 2:
        raise ExternalLearnerError(f"HTTP {response.status_code}")
    try:
        body = response.json()
        raw = body.get("profile", body) if isinstance(body, dict) else None
        if not isinstance(raw, dict) or not isinstance(raw.get("facets"), dict):
            raise ValueError("no profile object with facets")
        profile = Profile.from_json(raw).to_json()
    except Exception as err:  # noqa: BLE001 — anything malformed means fallback
        raise ExternalLearnerError(f"malformed profile: {err}") from None
    return profile
