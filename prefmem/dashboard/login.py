"""One-time login codes: the link ``prefmem dashboard`` prints.

Whoever can read the admin key file (the operator, on the server's machine) asks the
server for a code; the link carries it in its fragment, so it never reaches a server log
or a Referer header. The dashboard trades the code for the admin key once, and keeps the
key in the browser. Codes live in memory: a restart voids them, which is harmless.
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict
from typing import Any

CODE_TTL_MS = 10 * 60 * 1000.0
MOST_CODES = 16  # outstanding at once; issuing more drops the oldest


class LoginCodes:
    def __init__(self, clock: Any, ttl_ms: float = CODE_TTL_MS, most: int = MOST_CODES) -> None:
        self._clock = clock
        self._ttl_ms = ttl_ms
        self._most = most
        self._codes: OrderedDict[str, float] = OrderedDict()  # code -> expiry (ms)

    def __len__(self) -> int:
        return len(self._codes)

    def issue(self) -> tuple[str, float]:
        """A new code and when it expires (ms)."""
        self._expire()
        code = secrets.token_urlsafe(24)
        expires = self._clock.now_ms() + self._ttl_ms
        self._codes[code] = expires
        while len(self._codes) > self._most:
            self._codes.popitem(last=False)
        return code, expires

    def redeem(self, code: Any) -> bool:
        """True once for a code issued and not yet expired; it is spent either way."""
        self._expire()
        if not isinstance(code, str):
            return False
        for known in list(self._codes):
            if hmac.compare_digest(known.encode(), code.encode()):
                del self._codes[known]
                return True
        return False

    def _expire(self) -> None:
        now = self._clock.now_ms()
        for code in [c for c, expires in self._codes.items() if expires <= now]:
            del self._codes[code]
