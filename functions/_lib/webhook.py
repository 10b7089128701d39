"""Signing and verifying purchase webhooks (HMAC-SHA256, timestamped, Stripe-style).

The sender puts one header on the request:

    Prefmem-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

The timestamp is inside the signed bytes, so it cannot be changed without the secret; a
request whose timestamp is more than ``tolerance_s`` (5 minutes) away from now is refused
(replay window), and within the window the event id makes a replay a no-op (the function
layer records processed ids). Several ``v1=`` entries are accepted (secret rotation).
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Prefmem-Signature"
TOLERANCE_S = 300


class WebhookError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for ``body`` signed with ``secret`` at ``timestamp`` (now by default)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def verify(secret: str, header: str | None, body: bytes, now_s: float | None = None,
           tolerance_s: float = TOLERANCE_S) -> int:
    """Check the header against the raw body; returns the signed timestamp or raises WebhookError."""
    if not header:
        raise WebhookError(401, f"missing {HEADER} header")
    ts: int | None = None
    sigs: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                ts = int(value)
            except ValueError:
                raise WebhookError(401, "bad timestamp in signature header") from None
        elif key == "v1" and value:
            if not value.isascii():  # hex only; compare_digest refuses other characters outright
                raise WebhookError(401, "the v1 signature must be hexadecimal")
            sigs.append(value)
    if ts is None or not sigs:
        raise WebhookError(401, "signature header needs t=<timestamp> and v1=<signature>")
    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, s) for s in sigs):
        raise WebhookError(401, "signature does not match")
    now = time.time() if now_s is None else now_s
    if abs(now - ts) > tolerance_s:
        raise WebhookError(401, f"timestamp outside the {int(tolerance_s)} s window")
    return ts
