"""The built-in password provider: sign-up, sign-in, refresh and sign-out with no external
identity service.

Enabling it
-----------
List it in ``functions/auth_config.py``::

    providers = [
        {"type": "password"},                       # all options below are optional
        # {"type": "password", "issuer": "https://api.example.com", "applicationID": "my-app",
        #  "accessTokenSeconds": 3600, "refreshTokenDays": 30, "minPasswordLength": 8,
        #  "maxFailedSignIns": 5, "maxFailedSignInsPerAddress": 50, "lockoutSeconds": 900,
        #  "maxSignUpsPerAddress": 20},
    ]

``issuer`` defaults to ``"prefmem-password"`` and ``applicationID`` (the ``aud`` claim) to
``"prefmem"``. Functions then see ``token_identifier == "<issuer>|<user id>"``, the user's
``email`` and ``name``.

HTTP endpoints (``POST`` only, JSON body, ``Content-Type: application/json``)
------------------------------------------------------------------------------
- ``/api/auth/signup``  ``{"email", "password", "name"?}``
- ``/api/auth/signin``  ``{"email", "password"}``
- ``/api/auth/refresh`` ``{"refreshToken"}``
- ``/api/auth/signout`` ``{"refreshToken"}`` or ``Authorization: Bearer <access token>``
- ``/api/auth/delete-account`` ``{}`` with ``Authorization: Bearer <access token>``: deletes
  the signed-in account itself (its email, password hash, sessions and refresh tokens), so
  an app's "delete my account" leaves no way to sign in; ``{"deleted": true}``. The app's
  own rows are the app's to delete (Preference Memory: ``privacy:delete_account`` first).

Success (sign-up, sign-in, refresh): ``{"token", "refreshToken", "expiresAt" (ms),
"tokenIdentifier", "user": {"id", "email", "name"}}``; pass ``token`` to the clients'
``set_auth`` / ``setAuth``. Failure: a non-2xx status with ``{"code", "message"}``:
``InvalidCredentials`` (401, wrong email or password, with the attempts left),
``AccountLocked`` (429 + ``Retry-After``), ``TooManyAttempts`` (429, from this address),
``AccountExists`` (409), ``InvalidEmail`` / ``WeakPassword`` / ``BadRequest`` (400),
``InvalidRefreshToken`` / ``InvalidToken`` (401), ``OriginNotAllowed`` (403),
``PasswordAuthDisabled`` (404).

Browsers may call these endpoints from another origin only when that origin is listed in
``PREFMEM_AUTH_CORS_ORIGINS`` (comma-separated, e.g. ``http://localhost:5173``) or in the
server option ``auth_cors_origins``; a request whose ``Origin`` is neither listed nor the
server's own is refused before anything is done.

Tokens
------
Access tokens are ES256 JWTs signed with the server's own key (``auth_signing_key.json`` in
the data directory, created once), whose public half is served at
``GET /.well-known/jwks.json``. They are verified like any custom JWT provider's: the
``{"type": "password"}`` entry stands for ``{"type": "customJwt", "issuer": <issuer>,
"jwks": <that JWKS>, "algorithm": "ES256", "applicationID": <applicationID>}`` — another
service can configure exactly that with the URL — plus one check: the token's ``sid``
session must not be signed out, so a sign-out takes effect at once.

Refresh tokens are random 256-bit strings, stored only as their SHA-256. Each refresh
rotates: the presented token is spent and a new one issued. Presenting a spent token again
means it was copied: the whole session is revoked. Sign-out revokes the session.

Passwords are hashed with Argon2id (argon2-cffi, RFC 9106 parameters) in a worker thread;
the clear password is never stored, logged, or echoed in an error. Sign-in of an unknown
email verifies against a dummy hash, so response time does not reveal which emails exist.

Sign-in attempts are limited: ``maxFailedSignIns`` failures for one email within
``lockoutSeconds`` lock that email for ``lockoutSeconds``; ``maxFailedSignInsPerAddress``
failures from one client address lock the address. Counts of failures live in memory and
count by email whether or not the account exists; a lockout, once reached, is also stored
and survives a restart. The client address is the socket peer: behind a reverse proxy, all
clients share the proxy's address.

Storage: why separate SQLite tables
-----------------------------------
Users, sessions and refresh tokens live in the tables ``prefmem_auth_users``,
``prefmem_auth_sessions`` and ``prefmem_auth_refresh_tokens`` of the same SQLite file as
the documents, through a connection of their own — not in Convex system tables. Password
hashes and token hashes must never be readable by application functions, appear in
``prefmem data`` / ``prefmem export`` snapshots, or be overwritten by ``prefmem import``,
and auth bookkeeping needs neither reactivity nor commit timestamps; the slow hashing
happens outside the serial committer. Keeping them in the same file means one file to back
up and restore. The database runs in WAL mode and its writer takes ``BEGIN IMMEDIATE``
transactions, so this connection's short ``BEGIN IMMEDIATE`` transactions simply wait
their turn (``busy_timeout``).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from joserfc import jwk, jwt

from prefmem.auth.identity import Identity
from prefmem.auth.jwks import LocalJwks
from prefmem.auth.providers import Provider
from prefmem.errors import AuthFailed

DEFAULT_ISSUER = "prefmem-password"
DEFAULT_APPLICATION_ID = "prefmem"

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS prefmem_auth_users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT,
    password_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS prefmem_auth_sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL,
    revoke_reason TEXT
);
CREATE INDEX IF NOT EXISTS prefmem_auth_sessions_by_user ON prefmem_auth_sessions (user_id);
CREATE TABLE IF NOT EXISTS prefmem_auth_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL
);
CREATE INDEX IF NOT EXISTS prefmem_auth_refresh_by_session ON prefmem_auth_refresh_tokens (session_id);
CREATE TABLE IF NOT EXISTS prefmem_auth_lockouts (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS prefmem_auth_ended (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    session_id TEXT,
    user_id TEXT,
    message TEXT NOT NULL
);
"""

# How long the record of an ended sign-in is kept for the other worker processes of the
# server, which read it within a second or so.
ENDED_KEPT_S = 3600.0


class PasswordAuthError(Exception):
    """A refused auth request: HTTP status, a stable code and a message for the user."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None,
                 ended_session: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after
        self.ended_session = ended_session  # a session this refusal revoked


@dataclass
class Options:
    issuer: str = DEFAULT_ISSUER
    application_id: str = DEFAULT_APPLICATION_ID
    access_token_s: float = 3600.0
    refresh_token_s: float = 30 * 86400.0
    min_password_length: int = 8
    max_failed_sign_ins: int = 5
    max_failed_per_address: int = 50
    lockout_s: float = 900.0
    max_sign_ups_per_address: int = 20

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> "Options":
        names = {"issuer": "issuer", "applicationID": "application_id", "accessTokenSeconds": "access_token_s",
                 "minPasswordLength": "min_password_length", "maxFailedSignIns": "max_failed_sign_ins",
                 "maxFailedSignInsPerAddress": "max_failed_per_address", "lockoutSeconds": "lockout_s",
                 "maxSignUpsPerAddress": "max_sign_ups_per_address"}
        out = cls()
        for key, value in entry.items():
            if key == "type":
                continue
            if key == "refreshTokenDays":
                out.refresh_token_s = float(value) * 86400.0
            elif key in names:
                default = getattr(out, names[key])
                if isinstance(default, str) and (not isinstance(value, str) or not value):
                    raise ValueError(f"password provider option {key!r} must be a non-empty string")
                if not isinstance(default, str) and (isinstance(value, bool) or not isinstance(value, (int, float))
                                                     or value <= 0):
                    raise ValueError(f"password provider option {key!r} must be a positive number")
                setattr(out, names[key], type(default)(value))
            else:
                raise ValueError(f"unknown password provider option {key!r} (known: {', '.join(names)}, "
                                 f"refreshTokenDays)")
        return out


# ---------------------------------------------------------------------------- rate limiting

class AttemptLimiter:
    """Failures per key in a sliding window; ``max_failures`` of them lock the key for ``lockout_s``."""

    def __init__(self, max_failures: int, window_s: float, lockout_s: float,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.max_failures, self.window_s, self.lockout_s = max_failures, window_s, lockout_s
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def locked_for(self, key: str) -> float:
        """Seconds until ``key`` may try again (0 when it may now)."""
        until = self._locked_until.get(key)
        if until is None:
            return 0.0
        left = until - self.clock()
        if left <= 0:
            del self._locked_until[key]
            self._failures.pop(key, None)
            return 0.0
        return left

    def remaining(self, key: str) -> int:
        return max(0, self.max_failures - len(self._recent(key)))

    def _recent(self, key: str) -> deque[float]:
        window = self._failures.get(key)
        if window is None:
            return deque()
        cutoff = self.clock() - self.window_s
        while window and window[0] < cutoff:
            window.popleft()
        return window

    def fail(self, key: str) -> float:
        """Record a failure; returns the lockout in seconds if this one locked the key, else 0."""
        now = self.clock()
        if len(self._failures) >= self.max_keys and key not in self._failures:
            self._prune(now)
        window = self._recent(key)
        window.append(now)
        self._failures[key] = window
        if len(window) >= self.max_failures:
            self._locked_until[key] = now + self.lockout_s
            return self.lockout_s
        return 0.0

    def succeed(self, key: str) -> None:
        self._failures.pop(key, None)
        self._locked_until.pop(key, None)

    def restore(self, key: str, seconds: float) -> None:
        """Lock ``key`` for ``seconds`` more (a lockout kept across a restart)."""
        self._locked_until[key] = self.clock() + seconds

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            window = self._failures[key]
            if not window or window[-1] < now - self.window_s:
                del self._failures[key]
        for key, until in list(self._locked_until.items()):
            if until <= now:
                del self._locked_until[key]
        while len(self._failures) >= self.max_keys:  # still full: forget the oldest
            del self._failures[next(iter(self._failures))]


# ---------------------------------------------------------------------------- storage

def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class User:
    id: str
    email: str
    name: str | None
    password_hash: str

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "name": self.name}


class AuthStore:
    """Users, sessions and refresh tokens in their own tables of the database file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=10000")
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()
        with self._lock:
            self._conn.executescript(SCHEMA_SQL)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _tx(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return result

    def _read(self, sql: str, params: tuple) -> Any:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    # -- users -----------------------------------------------------------------------------

    def user_by_email(self, email: str) -> User | None:
        row = self._read("SELECT id, email, name, password_hash FROM prefmem_auth_users WHERE email=?", (email,))
        return User(*row) if row else None

    def user_by_id(self, user_id: str) -> User | None:
        row = self._read("SELECT id, email, name, password_hash FROM prefmem_auth_users WHERE id=?", (user_id,))
        return User(*row) if row else None

    def create_user(self, email: str, name: str | None, password_hash: str) -> User | None:
        """The new user, or None if the email is taken."""
        user = User("user_" + secrets.token_hex(12), email, name, password_hash)
        now = time.time()
        try:
            self._tx(lambda c: c.execute(
                "INSERT INTO prefmem_auth_users (id, email, name, password_hash, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", (user.id, email, name, password_hash, now, now)))
        except sqlite3.IntegrityError:
            return None
        return user

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        self._tx(lambda c: c.execute("UPDATE prefmem_auth_users SET password_hash=?, updated_at=? WHERE id=?",
                                     (password_hash, time.time(), user_id)))

    # -- sessions and refresh tokens -------------------------------------------------------

    def start_session(self, user_id: str, refresh_ttl_s: float) -> tuple[str, str]:
        """A new session for the user: ``(session id, refresh token)``."""
        session_id = secrets.token_hex(16)
        token = secrets.token_urlsafe(32)
        now = time.time()

        def run(c: sqlite3.Connection) -> None:
            c.execute("INSERT INTO prefmem_auth_sessions (id, user_id, created_at) VALUES (?, ?, ?)",
                      (session_id, user_id, now))
            c.execute("INSERT INTO prefmem_auth_refresh_tokens (token_hash, session_id, created_at, expires_at) "
                      "VALUES (?, ?, ?, ?)", (_hash_token(token), session_id, now, now + refresh_ttl_s))

        self._tx(run)
        return session_id, token

    def rotate(self, refresh_token: str, refresh_ttl_s: float) -> tuple[str, str, str]:
        """Spend a refresh token: ``(user id, session id, new refresh token)``; raises PasswordAuthError."""
        now = time.time()
        new_token = secrets.token_urlsafe(32)

        def run(c: sqlite3.Connection) -> tuple[str, str, str] | PasswordAuthError:
            row = c.execute(
                "SELECT t.session_id, t.expires_at, t.used_at, s.user_id, s.revoked_at FROM prefmem_auth_refresh_tokens t "
                "JOIN prefmem_auth_sessions s ON s.id = t.session_id WHERE t.token_hash=?",
                (_hash_token(refresh_token),)).fetchone()
            if row is None:
                return PasswordAuthError(401, "InvalidRefreshToken", "this refresh token is not known; sign in again")
            session_id, expires_at, used_at, user_id, revoked_at = row
            if revoked_at is not None:
                return PasswordAuthError(401, "InvalidRefreshToken",
                                         "this session has ended (signed out or revoked); sign in again")
            if used_at is not None:
                # A spent token came back: someone kept a copy. End the whole session.
                c.execute("UPDATE prefmem_auth_sessions SET revoked_at=?, revoke_reason=? WHERE id=?",
                          (now, "refresh token reused", session_id))
                return PasswordAuthError(401, "InvalidRefreshToken",
                                         "this refresh token was already used, so the session has been revoked "
                                         "for safety; sign in again", ended_session=session_id)
            if expires_at < now:
                return PasswordAuthError(401, "InvalidRefreshToken", "this refresh token has expired; sign in again")
            c.execute("UPDATE prefmem_auth_refresh_tokens SET used_at=? WHERE token_hash=?",
                      (now, _hash_token(refresh_token)))
            c.execute("INSERT INTO prefmem_auth_refresh_tokens (token_hash, session_id, created_at, expires_at) "
                      "VALUES (?, ?, ?, ?)", (_hash_token(new_token), session_id, now, now + refresh_ttl_s))
            return user_id, session_id, new_token

        result = self._tx(run)  # a reuse must commit its revocation, so errors are returned, not raised
        if isinstance(result, PasswordAuthError):
            raise result
        return result

    def session_for_refresh_token(self, refresh_token: str) -> str | None:
        row = self._read("SELECT session_id FROM prefmem_auth_refresh_tokens WHERE token_hash=?",
                         (_hash_token(refresh_token),))
        return row[0] if row else None

    def revoke_session(self, session_id: str, reason: str) -> bool:
        def run(c: sqlite3.Connection) -> bool:
            cur = c.execute("UPDATE prefmem_auth_sessions SET revoked_at=?, revoke_reason=? "
                            "WHERE id=? AND revoked_at IS NULL", (time.time(), reason, session_id))
            return cur.rowcount > 0

        return bool(self._tx(run))

    def delete_user(self, user_id: str) -> bool:
        """Delete an account with its sessions and refresh tokens, in one transaction."""
        def run(c: sqlite3.Connection) -> bool:
            c.execute("DELETE FROM prefmem_auth_refresh_tokens WHERE session_id IN "
                      "(SELECT id FROM prefmem_auth_sessions WHERE user_id=?)", (user_id,))
            c.execute("DELETE FROM prefmem_auth_sessions WHERE user_id=?", (user_id,))
            return c.execute("DELETE FROM prefmem_auth_users WHERE id=?", (user_id,)).rowcount > 0

        return bool(self._tx(run))

    def save_lockout(self, kind: str, key: str, until: float) -> None:
        self._tx(lambda c: c.execute("INSERT OR REPLACE INTO prefmem_auth_lockouts (kind, key, until) VALUES (?, ?, ?)",
                                     (kind, key, until)))

    def active_lockouts(self, now: float) -> list[tuple[str, str, float]]:
        """Lockouts still running at ``now`` (wall clock); expired ones are deleted."""
        def run(c: sqlite3.Connection) -> list[tuple[str, str, float]]:
            c.execute("DELETE FROM prefmem_auth_lockouts WHERE until <= ?", (now,))
            return c.execute("SELECT kind, key, until FROM prefmem_auth_lockouts").fetchall()

        return self._tx(run)

    def record_ended(self, message: str, session_id: str | None, user_id: str | None) -> None:
        """Note that a sign-in ended, for the server's other processes (``ended_after``)."""
        now = time.time()

        def run(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM prefmem_auth_ended WHERE at < ?", (now - ENDED_KEPT_S,))
            c.execute("INSERT INTO prefmem_auth_ended (at, session_id, user_id, message) VALUES (?, ?, ?, ?)",
                      (now, session_id, user_id, message))

        self._tx(run)

    def last_ended(self) -> int:
        return self._read("SELECT coalesce(max(seq), 0) FROM prefmem_auth_ended", ())[0]

    def ended_after(self, seq: int) -> list[tuple[int, str | None, str | None, str]]:
        """Sign-ins ended since record ``seq``: (seq, session id, user id, message)."""
        with self._lock:
            return self._conn.execute("SELECT seq, session_id, user_id, message FROM prefmem_auth_ended WHERE seq > ? "
                                      "ORDER BY seq", (seq,)).fetchall()

    def session_active(self, session_id: str, user_id: str) -> bool:
        row = self._read("SELECT revoked_at FROM prefmem_auth_sessions WHERE id=? AND user_id=?",
                         (session_id, user_id))
        return row is not None and row[0] is None


# ---------------------------------------------------------------------------- the service

def _normalize_email(value: Any) -> str:
    if not isinstance(value, str):
        raise PasswordAuthError(400, "InvalidEmail", "`email` must be a string")
    email = value.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or len(email) > 254 or any(ch.isspace() for ch in email):
        raise PasswordAuthError(400, "InvalidEmail", f"{value.strip()[:100]!r} is not an email address")
    return email


class PasswordAuth:
    """Sign-up, sign-in, refresh and sign-out; the provider the authenticator verifies against."""

    MAX_PASSWORD_LENGTH = 1024

    def __init__(self, db_path: str | Path, signing_key: jwk.ECKey, options: Options | None = None) -> None:
        self.store = AuthStore(db_path)
        self.signing_key = signing_key
        self.hasher = PasswordHasher()  # Argon2id, RFC 9106 low-memory profile
        self._dummy_hash = self.hasher.hash(secrets.token_hex(16))
        self._hashing = asyncio.Semaphore(4)  # Argon2 takes 64 MiB each: bound the concurrency
        self.options = options or Options()
        self._make_limiters()
        # Told when sign-ins end (sign-out, revocation, account deletion): the identities
        # ``ended`` matches must stop acting on open sockets at once (the authenticator sets it).
        self.on_ended: Callable[[Callable[[Identity], bool], str], None] | None = None
        self._ended_seen = self.store.last_ended()  # what ended before this process started is not news

    def _make_limiters(self) -> None:
        o = self.options
        self.account_limiter = AttemptLimiter(o.max_failed_sign_ins, o.lockout_s, o.lockout_s)
        self.address_limiter = AttemptLimiter(o.max_failed_per_address, o.lockout_s, o.lockout_s)
        self.signup_limiter = AttemptLimiter(o.max_sign_ups_per_address, 3600.0, 3600.0)
        # Lockouts outlive a restart (a restart must not hand an attacker fresh attempts);
        # counts of failures that have not locked anything yet start again.
        now = time.time()
        for kind, key, until in self.store.active_lockouts(now):
            self._limiter(kind).restore(key, until - now)

    def _limiter(self, kind: str) -> AttemptLimiter:
        return {"account": self.account_limiter, "address": self.address_limiter,
                "signup": self.signup_limiter}[kind]

    def _fail(self, kind: str, key: str) -> float:
        """A failed attempt against ``key``; a lockout it causes is also stored."""
        locked = self._limiter(kind).fail(key)
        if locked:
            self.store.save_lockout(kind, key, time.time() + locked)
        return locked

    def configure(self, options: Options) -> None:
        if options != self.options:
            self.options = options
            self._make_limiters()

    def close(self) -> None:
        self.store.close()

    # -- keys and verification -------------------------------------------------------------

    def public_keys(self) -> list[Any]:
        return [jwk.ECKey.import_key(self.signing_key.as_dict(private=False))]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.signing_key.as_dict(private=False)]}

    def provider(self) -> Provider:
        """This provider, as the custom JWT provider it is, plus the session-still-active check."""
        return Provider("password", self.options.issuer, self.options.application_id, ("ES256",),
                        LocalJwks(self.public_keys), check=self._check_session)

    def _check_session(self, claims: dict[str, Any]) -> None:
        sid = claims.get("sid")
        if not isinstance(sid, str) or not self.store.session_active(sid, claims["sub"]):
            raise AuthFailed("this sign-in session has ended (signed out or revoked); sign in again")

    def issue(self, user: User, session_id: str) -> dict[str, Any]:
        now = int(time.time())
        exp = now + int(self.options.access_token_s)
        claims: dict[str, Any] = {"iss": self.options.issuer, "sub": user.id, "aud": self.options.application_id,
                                  "iat": now, "nbf": now, "exp": exp, "sid": session_id,
                                  "email": user.email, "email_verified": False}
        if user.name:
            claims["name"] = user.name
        token = jwt.encode({"alg": "ES256", "kid": self.signing_key.kid, "typ": "JWT"}, claims, self.signing_key,
                           algorithms=["ES256"])
        return {"token": token, "expiresAt": exp * 1000, "tokenIdentifier": f"{self.options.issuer}|{user.id}",
                "user": user.public()}

    # -- operations --------------------------------------------------------------------------

    def _password(self, value: Any) -> str:
        if not isinstance(value, str):
            raise PasswordAuthError(400, "BadRequest", "`password` must be a string")
        if len(value) > self.MAX_PASSWORD_LENGTH:
            raise PasswordAuthError(400, "WeakPassword", f"a password may have at most {self.MAX_PASSWORD_LENGTH} "
                                                         f"characters")
        return value

    async def _hash(self, password: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(self.hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self.hasher.verify(password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        async with self._hashing:
            return await asyncio.to_thread(check)

    async def sign_up(self, body: dict[str, Any], address: str) -> dict[str, Any]:
        email = _normalize_email(body.get("email"))
        password = self._password(body.get("password"))
        if len(password) < self.options.min_password_length:
            raise PasswordAuthError(400, "WeakPassword", f"a password needs at least "
                                                         f"{self.options.min_password_length} characters")
        if password.strip().lower() == email:
            raise PasswordAuthError(400, "WeakPassword", "the password must not be the email address")
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            raise PasswordAuthError(400, "BadRequest", "`name` must be a string of at most 200 characters")
        wait = self.signup_limiter.locked_for(address)
        if wait:
            raise PasswordAuthError(429, "TooManyAttempts", f"too many sign-ups from your address; try again in "
                                                            f"{int(wait) + 1} seconds", wait)
        self._fail("signup", address)  # every sign-up counts against the address
        user = self.store.create_user(email, name, await self._hash(password))
        if user is None:
            raise PasswordAuthError(409, "AccountExists", "an account with this email already exists; sign in instead")
        return self._start(user)

    def _start(self, user: User) -> dict[str, Any]:
        session_id, refresh = self.store.start_session(user.id, self.options.refresh_token_s)
        return {**self.issue(user, session_id), "refreshToken": refresh}

    async def sign_in(self, body: dict[str, Any], address: str) -> dict[str, Any]:
        email = _normalize_email(body.get("email"))
        password = self._password(body.get("password"))
        wait = self.address_limiter.locked_for(address)
        if wait:
            raise PasswordAuthError(429, "TooManyAttempts", f"too many failed sign-in attempts from your address; "
                                                            f"try again in {int(wait) + 1} seconds", wait)
        wait = self.account_limiter.locked_for(email)
        if wait:
            raise PasswordAuthError(429, "AccountLocked", f"this account is locked after too many failed sign-in "
                                                          f"attempts; try again in {int(wait) + 1} seconds", wait)
        user = self.store.user_by_email(email)
        ok = await self._verify(user.password_hash if user else self._dummy_hash, password)
        if user is None or not ok:
            self._fail("address", address)
            locked = self._fail("account", email)
            if locked:
                raise PasswordAuthError(429, "AccountLocked", f"wrong email or password; after "
                                        f"{self.options.max_failed_sign_ins} failed attempts this account is locked "
                                        f"for {int(locked)} seconds", locked)
            left = self.account_limiter.remaining(email)
            raise PasswordAuthError(401, "InvalidCredentials", f"wrong email or password ({left} attempt"
                                    f"{'' if left == 1 else 's'} left before the account is locked)")
        self.account_limiter.succeed(email)
        if self.hasher.check_needs_rehash(user.password_hash):
            self.store.set_password_hash(user.id, await self._hash(password))
        return self._start(user)

    def _ended(self, message: str, *, session_id: str | None = None, user_id: str | None = None) -> None:
        self.store.record_ended(message, session_id, user_id)
        self._tell(message, session_id, user_id)

    def follow_ended(self) -> None:
        """Tell of the sign-ins other processes of the server ended (worker processes share
        the database; each ends them on its own sockets)."""
        for seq, session_id, user_id, message in self.store.ended_after(self._ended_seen):
            self._ended_seen = seq
            self._tell(message, session_id, user_id)

    def _tell(self, message: str, session_id: str | None, user_id: str | None) -> None:
        if self.on_ended is None:
            return
        issuer = self.options.issuer

        def ended(identity: Identity) -> bool:
            return identity.issuer == issuer and (identity.session_id == session_id if session_id is not None
                                                  else identity.subject == user_id)

        self.on_ended(ended, message)

    async def refresh(self, body: dict[str, Any]) -> dict[str, Any]:
        token = body.get("refreshToken")
        if not isinstance(token, str) or not token:
            raise PasswordAuthError(400, "BadRequest", "`refreshToken` is required")
        try:
            user_id, session_id, new_refresh = self.store.rotate(token, self.options.refresh_token_s)
        except PasswordAuthError as err:
            if err.ended_session is not None:
                self._ended("this sign-in session was revoked (a refresh token was used twice); sign in again",
                            session_id=err.ended_session)
            raise
        user = self.store.user_by_id(user_id)
        if user is None:
            raise PasswordAuthError(401, "InvalidRefreshToken", "this account no longer exists")
        return {**self.issue(user, session_id), "refreshToken": new_refresh}

    async def sign_out(self, body: dict[str, Any], bearer: str | None, verify: Callable[[str], Any]) -> dict[str, Any]:
        session_id = None
        token = body.get("refreshToken")
        if isinstance(token, str) and token:
            session_id = self.store.session_for_refresh_token(token)
        elif bearer:
            try:
                await verify(bearer)
            except AuthFailed as err:
                raise PasswordAuthError(401, "InvalidToken", f"cannot sign out with this token: {err}") from None
            from prefmem.auth.providers import unverified_parts

            session_id = unverified_parts(bearer)[1].get("sid")
        else:
            raise PasswordAuthError(400, "BadRequest", "send `refreshToken` in the body or the access token as "
                                                       "`Authorization: Bearer <token>`")
        revoked = bool(session_id) and self.store.revoke_session(session_id, "signed out")
        if session_id:
            self._ended("signed out: this sign-in session has ended; sign in again", session_id=session_id)
        return {"signedOut": revoked}

    async def delete_account(self, bearer: str | None, verify: Callable[[str], Any]) -> dict[str, Any]:
        """Delete the account a live access token of this provider names.

        Only the access token proves who asks (a refresh token alone is not enough, and a
        token of another provider names no account here). Every session goes with the
        account, so its tokens are refused from now on, and sockets that authenticated with
        one stop being that user at once.
        """
        if not bearer:
            raise PasswordAuthError(401, "InvalidToken", "send the access token as `Authorization: Bearer <token>`")
        try:
            identity = await verify(bearer)
        except AuthFailed as err:
            raise PasswordAuthError(401, "InvalidToken", f"cannot delete the account with this token: {err}") from None
        if identity.issuer != self.options.issuer:
            raise PasswordAuthError(401, "InvalidToken", "this token was not issued by the password provider")
        if not self.store.delete_user(identity.subject):
            raise PasswordAuthError(401, "InvalidToken", "this account no longer exists")
        self._ended("this account was deleted", user_id=identity.subject)
        return {"deleted": True}
