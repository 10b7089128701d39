"""The password provider's accounts, sessions, refresh tokens, failed attempts and lockouts.

They are system tables of the app's own database, changed only by the runtime's own
transactions: so they live on every engine, every worker process and node sees the same
accounts, a concurrent sign-up of one email commits once (the second transaction read
the email's index range the first one wrote, so it re-executes and finds the account),
and a revoked session is a commit that reaches every process through the write log.

They are *private*: no function of the app can read them, even through ``ctx.db.system``
(they hold password and token hashes), and ``prefmem export`` and the dashboard leave
them out. Slow work (Argon2) happens outside these transactions, in the caller.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prefmem.database.reader import system_writer
from prefmem.functions import SYSTEM_PREFIX, system_function
from prefmem.schema import TableDef, define_table
from prefmem.validators import v

if TYPE_CHECKING:
    from prefmem.application import Application

USERS = "_auth_users"
SESSIONS = "_auth_sessions"
REFRESH_TOKENS = "_auth_refresh_tokens"
LOCKOUTS = "_auth_lockouts"  # lockouts written before attempts were counted here (and by the legacy import)
ATTEMPTS = "_auth_attempts"
OWNER = SYSTEM_PREFIX + "auth:"  # only functions under this path may read the tables


def table_defs() -> dict[str, TableDef]:
    return {
        USERS: define_table({"userId": v.string(), "email": v.string(), "name": v.optional(v.string()),
                             "passwordHash": v.string(), "createdAt": v.number(), "updatedAt": v.number()})
        .index("by_user", ["userId"]).index("by_email", ["email"]),
        SESSIONS: define_table({"sessionId": v.string(), "userId": v.string(), "createdAt": v.number(),
                                "revokedAt": v.optional(v.number()), "revokeReason": v.optional(v.string())})
        .index("by_session", ["sessionId"]).index("by_user", ["userId"]),
        REFRESH_TOKENS: define_table({"tokenHash": v.string(), "sessionId": v.string(), "createdAt": v.number(),
                                      "expiresAt": v.number(), "usedAt": v.optional(v.number())})
        .index("by_hash", ["tokenHash"]).index("by_session", ["sessionId"]),
        LOCKOUTS: define_table({"kind": v.string(), "key": v.string(), "until": v.number()})
        .index("by_key", ["kind", "key"]),
        # Failed attempts against a key (an email, a client address) in the window, and the
        # lockout they caused; useless after ``expires``.
        ATTEMPTS: define_table({"kind": v.string(), "key": v.string(), "times": v.array(v.number()),
                                "until": v.number(), "expires": v.number()})
        .index("by_key", ["kind", "key"]).index("by_expires", ["expires"]),
    }


PRIVATE_TABLES = {table: OWNER for table in table_defs()}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class User:
    id: str
    email: str
    name: str | None
    password_hash: str

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "name": self.name}


def _user(doc: dict | None) -> dict | None:
    if doc is None:
        return None
    return {"id": doc["userId"], "email": doc["email"], "name": doc.get("name"), "passwordHash": doc["passwordHash"]}


async def _one(db: Any, table: str, index: str, **eq: Any) -> dict | None:
    def where(q: Any) -> Any:
        for field, value in eq.items():
            q = q.eq(field, value)
        return q

    return await db.system.query(table).with_index(index, where).first()


# ---------------------------------------------------------------------------- transactions

@system_function("query", "auth:user_by_email")
async def user_by_email(ctx: Any, args: dict) -> dict | None:
    return _user(await _one(ctx.db, USERS, "by_email", email=args["email"]))


@system_function("query", "auth:user_by_id")
async def user_by_id(ctx: Any, args: dict) -> dict | None:
    return _user(await _one(ctx.db, USERS, "by_user", userId=args["userId"]))


@system_function("mutation", "auth:create_user")
async def create_user(ctx: Any, args: dict) -> dict | None:
    """The new user, or None if the email is taken."""
    if await _one(ctx.db, USERS, "by_email", email=args["email"]) is not None:
        return None
    doc = {"userId": args["userId"], "email": args["email"], "passwordHash": args["passwordHash"],
           "createdAt": ctx.now, "updatedAt": ctx.now}
    if args.get("name") is not None:
        doc["name"] = args["name"]
    await system_writer(ctx.db).insert(USERS, doc)
    return _user(doc)


@system_function("mutation", "auth:set_password_hash")
async def set_password_hash(ctx: Any, args: dict) -> None:
    user = await _one(ctx.db, USERS, "by_user", userId=args["userId"])
    if user is not None:
        await system_writer(ctx.db).patch(user["_id"], {"passwordHash": args["passwordHash"], "updatedAt": ctx.now})


@system_function("mutation", "auth:start_session")
async def start_session(ctx: Any, args: dict) -> None:
    writer = system_writer(ctx.db)
    await writer.insert(SESSIONS, {"sessionId": args["sessionId"], "userId": args["userId"], "createdAt": ctx.now})
    await writer.insert(REFRESH_TOKENS, {"tokenHash": args["tokenHash"], "sessionId": args["sessionId"],
                                         "createdAt": ctx.now, "expiresAt": ctx.now + args["ttlMs"]})


@system_function("mutation", "auth:rotate")
async def rotate(ctx: Any, args: dict) -> dict:
    """Spend a refresh token for a new one. Refusals are returned, not raised: a reused token
    revokes its session, and that revocation must commit."""
    writer = system_writer(ctx.db)
    token = await _one(ctx.db, REFRESH_TOKENS, "by_hash", tokenHash=args["tokenHash"])
    session = await _one(ctx.db, SESSIONS, "by_session", sessionId=token["sessionId"]) if token else None
    if token is None or session is None:
        return {"refused": "unknown"}
    if session.get("revokedAt") is not None:
        return {"refused": "ended"}
    if token.get("usedAt") is not None:
        # A spent token came back: someone kept a copy. End the whole session.
        await writer.patch(session["_id"], {"revokedAt": ctx.now, "revokeReason": "refresh token reused"})
        return {"refused": "reused", "sessionId": session["sessionId"]}
    if token["expiresAt"] < ctx.now:
        return {"refused": "expired"}
    await writer.patch(token["_id"], {"usedAt": ctx.now})
    await writer.insert(REFRESH_TOKENS, {"tokenHash": args["newTokenHash"], "sessionId": session["sessionId"],
                                         "createdAt": ctx.now, "expiresAt": ctx.now + args["ttlMs"]})
    return {"userId": session["userId"], "sessionId": session["sessionId"]}


@system_function("query", "auth:session_for_refresh_token")
async def session_for_refresh_token(ctx: Any, args: dict) -> str | None:
    token = await _one(ctx.db, REFRESH_TOKENS, "by_hash", tokenHash=args["tokenHash"])
    return token["sessionId"] if token is not None else None


@system_function("mutation", "auth:revoke_session")
async def revoke_session(ctx: Any, args: dict) -> bool:
    session = await _one(ctx.db, SESSIONS, "by_session", sessionId=args["sessionId"])
    if session is None or session.get("revokedAt") is not None:
        return False
    await system_writer(ctx.db).patch(session["_id"], {"revokedAt": ctx.now, "revokeReason": args["reason"]})
    return True


@system_function("mutation", "auth:delete_user")
async def delete_user(ctx: Any, args: dict) -> bool:
    """Delete an account with its sessions and refresh tokens, in one transaction."""
    writer = system_writer(ctx.db)
    user = await _one(ctx.db, USERS, "by_user", userId=args["userId"])
    sessions = await ctx.db.system.query(SESSIONS).with_index("by_user", lambda q: q.eq("userId", args["userId"])
                                                              ).collect()
    for session in sessions:
        tokens = await ctx.db.system.query(REFRESH_TOKENS).with_index(
            "by_session", lambda q, sid=session["sessionId"]: q.eq("sessionId", sid)).collect()
        for token in tokens:
            await writer.delete(token["_id"])
        await writer.delete(session["_id"])
    if user is None:
        return False
    await writer.delete(user["_id"])
    return True


@system_function("query", "auth:session_active")
async def session_active(ctx: Any, args: dict) -> bool:
    """Whether a sign-in session is still on. Subscribed by the sync sessions that act for
    it, so that its end reaches them from any process."""
    session = await _one(ctx.db, SESSIONS, "by_session", sessionId=args["sessionId"])
    return session is not None and session["userId"] == args["userId"] and session.get("revokedAt") is None


_PRUNED_PER_FAILURE = 8  # expired attempt records deleted by each failure: more than it adds


async def _locked_until(db: Any, kind: str, key: str, now: float) -> float:
    """When ``key``'s lockout ends (ms), or 0 if it is not locked at ``now``."""
    until = 0.0
    for table in (ATTEMPTS, LOCKOUTS):
        record = await _one(db, table, "by_key", kind=kind, key=key)
        if record is not None and record["until"] > now:
            until = max(until, record["until"])
    return until


@system_function("query", "auth:locked_until")
async def locked_until(ctx: Any, args: dict) -> list[float]:
    """For each ``[kind, key]``, when its lockout ends (ms), or 0."""
    return [await _locked_until(ctx.db, kind, key, args["now"]) for kind, key in args["keys"]]


@system_function("mutation", "auth:failed_attempt")
async def failed_attempt(ctx: Any, args: dict) -> dict:
    """Count a failed attempt against a key at ``now`` (ms): ``maxFailures`` of them within
    ``windowMs`` lock it for ``lockoutMs``. Every process counts in this one transaction,
    so a deployment's workers and nodes together allow the attempts one process would.
    Returns ``lockedUntil`` (0: not locked), the attempts ``left``, and whether it was
    ``counted`` (not if the key was locked already)."""
    writer = system_writer(ctx.db)
    now, kind, key = args["now"], args["kind"], args["key"]
    expired = await ctx.db.system.query(ATTEMPTS).with_index("by_expires", lambda q: q.lt("expires", now)
                                                             ).take(_PRUNED_PER_FAILURE)
    for record in expired:
        await writer.delete(record["_id"])
    until = await _locked_until(ctx.db, kind, key, now)
    if until:
        return {"lockedUntil": until, "left": 0, "counted": False}
    record = await _one(ctx.db, ATTEMPTS, "by_key", kind=kind, key=key)
    times = [t for t in (record["times"] if record is not None else []) if t > now - args["windowMs"]] + [now]
    fields = {"times": times, "until": 0.0, "expires": now + args["windowMs"]}
    if len(times) >= args["maxFailures"]:
        until = now + args["lockoutMs"]
        fields = {"times": [], "until": until, "expires": until}
    if record is None:
        await writer.insert(ATTEMPTS, {"kind": kind, "key": key, **fields})
    else:
        await writer.patch(record["_id"], fields)
    return {"lockedUntil": until, "left": max(0, args["maxFailures"] - len(times)), "counted": True}


@system_function("mutation", "auth:clear_attempts")
async def clear_attempts(ctx: Any, args: dict) -> None:
    """A key that succeeded starts its count again (a lockout is never cleared this way:
    a locked key is refused before it can succeed)."""
    record = await _one(ctx.db, ATTEMPTS, "by_key", kind=args["kind"], key=args["key"])
    if record is not None and not record["until"]:
        await system_writer(ctx.db).delete(record["_id"])


@system_function("mutation", "auth:import_legacy")
async def import_legacy(ctx: Any, args: dict) -> None:
    """Rows of the earlier layout (seconds become ms); what is already here stays."""
    writer = system_writer(ctx.db)
    for user_id, email, name, password_hash, created_at, updated_at in args["users"]:
        if await _one(ctx.db, USERS, "by_user", userId=user_id) is None:
            doc = {"userId": user_id, "email": email, "passwordHash": password_hash, "createdAt": created_at * 1000.0,
                   "updatedAt": updated_at * 1000.0}
            if name is not None:
                doc["name"] = name
            await writer.insert(USERS, doc)
    for session_id, user_id, created_at, revoked_at, reason in args["sessions"]:
        if await _one(ctx.db, SESSIONS, "by_session", sessionId=session_id) is None:
            doc = {"sessionId": session_id, "userId": user_id, "createdAt": created_at * 1000.0}
            if revoked_at is not None:
                doc.update(revokedAt=revoked_at * 1000.0, revokeReason=reason or "")
            await writer.insert(SESSIONS, doc)
    for token_hash, session_id, created_at, expires_at, used_at in args["refresh_tokens"]:
        if await _one(ctx.db, REFRESH_TOKENS, "by_hash", tokenHash=token_hash) is None:
            doc = {"tokenHash": token_hash, "sessionId": session_id, "createdAt": created_at * 1000.0,
                   "expiresAt": expires_at * 1000.0}
            if used_at is not None:
                doc["usedAt"] = used_at * 1000.0
            await writer.insert(REFRESH_TOKENS, doc)
    for kind, key, until in args["lockouts"]:
        if await _one(ctx.db, LOCKOUTS, "by_key", kind=kind, key=key) is None:
            await writer.insert(LOCKOUTS, {"kind": kind, "key": key, "until": until * 1000.0})


# ---------------------------------------------------------------------------- the store

class AuthStore:
    """The accounts' operations, each one transaction of the application's database.

    Times are wall-clock seconds, as the password provider keeps them."""

    # Rows of the earlier layout moved per transaction: well inside a transaction's limits.
    legacy_chunk = 1000

    def __init__(self, app: "Application") -> None:
        self.app = app
        self._moved_legacy = False

    async def _run(self, fn: Any, args: dict) -> Any:
        if not self._moved_legacy:
            self._moved_legacy = True
            await self._move_legacy()
        return (await self.app.run(fn, args, None)).unwrap()

    async def _move_legacy(self) -> None:
        """Accounts a server of the earlier layout kept in tables of its own become system
        documents, once (another process doing the same at once conflicts and finds them)."""
        legacy = self.app.persistence.legacy_auth()
        if legacy is None:
            return
        empty: dict[str, list] = {kind: [] for kind in legacy}
        for kind, rows in legacy.items():
            for start in range(0, len(rows), self.legacy_chunk):
                chunk = [list(row) for row in rows[start:start + self.legacy_chunk]]
                (await self.app.run(import_legacy, {**empty, kind: chunk}, None)).unwrap()
        self.app.persistence.drop_legacy_auth()

    async def user_by_email(self, email: str) -> User | None:
        return _as_user(await self._run(user_by_email, {"email": email}))

    async def user_by_id(self, user_id: str) -> User | None:
        return _as_user(await self._run(user_by_id, {"userId": user_id}))

    async def create_user(self, email: str, name: str | None, password_hash: str) -> User | None:
        return _as_user(await self._run(create_user, {"userId": "user_" + secrets.token_hex(12), "email": email,
                                                      "name": name, "passwordHash": password_hash}))

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._run(set_password_hash, {"userId": user_id, "passwordHash": password_hash})

    async def start_session(self, user_id: str, refresh_ttl_s: float) -> tuple[str, str]:
        """A new session for the user: ``(session id, refresh token)``."""
        session_id, token = secrets.token_hex(16), secrets.token_urlsafe(32)
        await self._run(start_session, {"sessionId": session_id, "userId": user_id, "tokenHash": hash_token(token),
                                        "ttlMs": refresh_ttl_s * 1000.0})
        return session_id, token

    async def rotate(self, refresh_token: str, refresh_ttl_s: float) -> tuple[dict, str]:
        """Spend a refresh token: ``(outcome, new refresh token)``; the outcome has
        ``userId`` and ``sessionId``, or ``refused`` (and, for a reuse, the ``sessionId`` it ended)."""
        new_token = secrets.token_urlsafe(32)
        outcome = await self._run(rotate, {"tokenHash": hash_token(refresh_token), "newTokenHash": hash_token(new_token),
                                           "ttlMs": refresh_ttl_s * 1000.0})
        return outcome, new_token

    async def session_for_refresh_token(self, refresh_token: str) -> str | None:
        return await self._run(session_for_refresh_token, {"tokenHash": hash_token(refresh_token)})

    async def revoke_session(self, session_id: str, reason: str) -> bool:
        return await self._run(revoke_session, {"sessionId": session_id, "reason": reason})

    async def delete_user(self, user_id: str) -> bool:
        return await self._run(delete_user, {"userId": user_id})

    async def session_active(self, session_id: str, user_id: str) -> bool:
        return await self._run(session_active, {"sessionId": session_id, "userId": user_id})

    async def locked_for(self, keys: list[tuple[str, str]], now: float) -> list[float]:
        """For each ``(kind, key)``, the seconds its lockout has left at ``now`` (0: none)."""
        until = await self._run(locked_until, {"keys": [list(k) for k in keys], "now": now * 1000.0})
        return [_seconds_left(u, now) for u in until]

    async def failed_attempt(self, kind: str, key: str, now: float, max_failures: int, window_s: float,
                             lockout_s: float) -> tuple[float, int, bool]:
        """Count a failure: ``(seconds of the lockout it is under, attempts left, counted)``."""
        outcome = await self._run(failed_attempt, {"kind": kind, "key": key, "now": now * 1000.0,
                                                   "maxFailures": max_failures, "windowMs": window_s * 1000.0,
                                                   "lockoutMs": lockout_s * 1000.0})
        return _seconds_left(outcome["lockedUntil"], now), outcome["left"], outcome["counted"]

    async def clear_attempts(self, kind: str, key: str) -> None:
        await self._run(clear_attempts, {"kind": kind, "key": key})


def _seconds_left(until_ms: float, now: float) -> float:
    """A lockout's end (ms, 0 for none) as the seconds it has left at ``now``."""
    return max(0.0, until_ms / 1000.0 - now) if until_ms else 0.0


def _as_user(data: dict | None) -> User | None:
    return None if data is None else User(data["id"], data["email"], data.get("name"), data["passwordHash"])
