"""One-time login codes: the link ``prefmem dashboard`` prints.

Whoever can read the admin key file (the operator, on the server's machine) asks the
server for a code; the link carries it in its fragment, so it never reaches a server log
or a Referer header. The dashboard trades the code for the admin key once, and keeps the
key in the browser.

Codes are kept, as their SHA-256, in a private system table: the worker process (or node)
that issues a code is rarely the one the browser reaches, and spending a code is a
transaction, so a code signs in once across all of them.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING, Any

from prefmem.database.reader import system_writer
from prefmem.functions import SYSTEM_PREFIX, system_function
from prefmem.schema import TableDef, define_table
from prefmem.validators import v

if TYPE_CHECKING:
    from prefmem.application import Application

CODES = "_dashboard_login_codes"
OWNER = SYSTEM_PREFIX + "dashboard/login:"  # only these functions may read the table
CODE_TTL_MS = 10 * 60 * 1000.0
MOST_CODES = 16  # outstanding at once; issuing more drops the oldest


def table_defs() -> dict[str, TableDef]:
    return {CODES: define_table({"hash": v.string(), "expires": v.number()})
            .index("by_hash", ["hash"]).index("by_expires", ["expires"])}


PRIVATE_TABLES = {table: OWNER for table in table_defs()}


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@system_function("mutation", "dashboard/login:issue")
async def issue(ctx: Any, args: dict) -> None:
    """Keep a new code; the expired ones go, and the oldest beyond ``most`` outstanding."""
    writer = system_writer(ctx.db)
    codes = await ctx.db.system.query(CODES).with_index("by_expires").collect()  # oldest first, at most ``most``
    live = [code for code in codes if code["expires"] > args["now"]]
    for code in [c for c in codes if c["expires"] <= args["now"]] + live[:max(0, len(live) - args["most"] + 1)]:
        await writer.delete(code["_id"])
    await writer.insert(CODES, {"hash": args["hash"], "expires": args["expires"]})


@system_function("mutation", "dashboard/login:redeem")
async def redeem(ctx: Any, args: dict) -> bool:
    """Whether the code was issued and has not expired; it is spent either way."""
    code = await ctx.db.system.query(CODES).with_index("by_hash", lambda q: q.eq("hash", args["hash"])).first()
    if code is None:
        return False
    await system_writer(ctx.db).delete(code["_id"])
    return code["expires"] > args["now"]


class LoginCodes:
    def __init__(self, app: "Application", ttl_ms: float = CODE_TTL_MS, most: int = MOST_CODES) -> None:
        self._app = app
        self._ttl_ms = ttl_ms
        self._most = most

    async def issue(self) -> tuple[str, float]:
        """A new code and when it expires (ms)."""
        code = secrets.token_urlsafe(24)
        now = self._app.clock.now_ms()
        expires = now + self._ttl_ms
        (await self._app.run(issue, {"hash": _hash(code), "expires": expires, "now": now, "most": self._most},
                             None)).unwrap()
        return code, expires

    async def redeem(self, code: Any) -> bool:
        """True once for a code issued and not yet expired."""
        if not isinstance(code, str) or not code:
            return False
        outcome = await self._app.run(redeem, {"hash": _hash(code), "now": self._app.clock.now_ms()}, None)
        return bool(outcome.unwrap())
