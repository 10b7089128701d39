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
failures from one client address lock the address. Failures count by email whether or not
the account exists. They are counted in the database, in one transaction per failure, so
the worker processes and nodes of a deployment together allow exactly the attempts one
process would, and a restart hands nobody fresh attempts. The client address is the socket
peer: behind a reverse proxy, all clients share the proxy's address.

Storage
-------
Users, sessions, refresh tokens, failed attempts and lockouts are private system tables of the app's own
database (``prefmem/auth/accounts.py``): every engine and every worker process shares
them, each change is a transaction like any other (a sign-out reaches every process's open
sockets through the write log), and no app function can read them. The slow hashing
happens outside those transactions.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from joserfc import jwk, jwt

from prefmem.auth.accounts import AuthStore, User
from prefmem.auth.jwks import LocalJwks
from prefmem.auth.providers import Provider
from prefmem.errors import AuthFailed

if TYPE_CHECKING:
    from prefmem.application import Application

DEFAULT_ISSUER = "prefmem-password"
DEFAULT_APPLICATION_ID = "prefmem"

class PasswordAuthError(Exception):
    """A refused auth request: HTTP status, a stable code and a message for the user."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


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


# ---------------------------------------------------------------------------- the service

_ROTATE_REFUSALS = {
    "unknown": "this refresh token is not known; sign in again",
    "ended": "this session has ended (signed out or revoked); sign in again",
    "reused": "this refresh token was already used, so the session has been revoked for safety; sign in again",
    "expired": "this refresh token has expired; sign in again",
}

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

    def __init__(self, app: "Application", signing_key: jwk.ECKey, options: Options | None = None) -> None:
        self.store = AuthStore(app)
        self.signing_key = signing_key
        self.hasher = PasswordHasher()  # Argon2id, RFC 9106 low-memory profile
        self._dummy_hash = self.hasher.hash(secrets.token_hex(16))
        self._hashing = asyncio.Semaphore(4)  # Argon2 takes 64 MiB each: bound the concurrency
        self.options = options or Options()

    def _rule(self, kind: str) -> tuple[int, float, float]:
        """``(failures allowed, window s, lockout s)`` for attempts against one kind of key."""
        o = self.options
        return {"account": (o.max_failed_sign_ins, o.lockout_s, o.lockout_s),
                "address": (o.max_failed_per_address, o.lockout_s, o.lockout_s),
                "signup": (o.max_sign_ups_per_address, 3600.0, 3600.0)}[kind]

    async def _fail(self, kind: str, key: str) -> tuple[float, int, bool]:
        """A failed attempt against ``key``: ``(seconds locked, attempts left, counted)``; not
        counted if ``key`` was locked already. Counted in the database, so that every worker
        process and node counts the same attempts (in wall-clock time, which they share)."""
        return await self.store.failed_attempt(kind, key, time.time(), *self._rule(kind))

    # -- keys and verification -------------------------------------------------------------

    def public_keys(self) -> list[Any]:
        return [jwk.ECKey.import_key(self.signing_key.as_dict(private=False))]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.signing_key.as_dict(private=False)]}

    def provider(self) -> Provider:
        """This provider, as the custom JWT provider it is, plus the session-still-active check."""
        return Provider("password", self.options.issuer, self.options.application_id, ("ES256",),
                        LocalJwks(self.public_keys), check=self._check_session)

    async def _check_session(self, claims: dict[str, Any]) -> None:
        sid = claims.get("sid")
        if not isinstance(sid, str) or not await self.store.session_active(sid, claims["sub"]):
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
        wait, _left, counted = await self._fail("signup", address)  # every sign-up counts against the address
        if not counted:  # the address was locked already
            raise PasswordAuthError(429, "TooManyAttempts", f"too many sign-ups from your address; try again in "
                                                            f"{int(wait) + 1} seconds", wait)
        user = await self.store.create_user(email, name, await self._hash(password))
        if user is None:
            raise PasswordAuthError(409, "AccountExists", "an account with this email already exists; sign in instead")
        return await self._start(user)

    async def _start(self, user: User) -> dict[str, Any]:
        session_id, refresh = await self.store.start_session(user.id, self.options.refresh_token_s)
        return {**self.issue(user, session_id), "refreshToken": refresh}

    async def sign_in(self, body: dict[str, Any], address: str) -> dict[str, Any]:
        email = _normalize_email(body.get("email"))
        password = self._password(body.get("password"))
        address_wait, account_wait = await self.store.locked_for([("address", address), ("account", email)],
                                                                 time.time())
        if address_wait:
            raise PasswordAuthError(429, "TooManyAttempts", f"too many failed sign-in attempts from your address; "
                                                            f"try again in {int(address_wait) + 1} seconds",
                                    address_wait)
        if account_wait:
            raise PasswordAuthError(429, "AccountLocked", f"this account is locked after too many failed sign-in "
                                                          f"attempts; try again in {int(account_wait) + 1} seconds",
                                    account_wait)
        user = await self.store.user_by_email(email)
        ok = await self._verify(user.password_hash if user else self._dummy_hash, password)
        if user is None or not ok:
            await self._fail("address", address)
            locked, left, _counted = await self._fail("account", email)
            if locked:
                raise PasswordAuthError(429, "AccountLocked", f"wrong email or password; after "
                                        f"{self.options.max_failed_sign_ins} failed attempts this account is locked "
                                        f"for {int(locked)} seconds", locked)
            raise PasswordAuthError(401, "InvalidCredentials", f"wrong email or password ({left} attempt"
                                    f"{'' if left == 1 else 's'} left before the account is locked)")
        await self.store.clear_attempts("account", email)
        if self.hasher.check_needs_rehash(user.password_hash):
            await self.store.set_password_hash(user.id, await self._hash(password))
        return await self._start(user)

    async def refresh(self, body: dict[str, Any]) -> dict[str, Any]:
        token = body.get("refreshToken")
        if not isinstance(token, str) or not token:
            raise PasswordAuthError(400, "BadRequest", "`refreshToken` is required")
        outcome, new_refresh = await self.store.rotate(token, self.options.refresh_token_s)
        refused = outcome.get("refused")
        if refused is not None:
            raise PasswordAuthError(401, "InvalidRefreshToken", _ROTATE_REFUSALS[refused])
        user = await self.store.user_by_id(outcome["userId"])
        if user is None:
            raise PasswordAuthError(401, "InvalidRefreshToken", "this account no longer exists")
        return {**self.issue(user, outcome["sessionId"]), "refreshToken": new_refresh}

    async def sign_out(self, body: dict[str, Any], bearer: str | None, verify: Callable[[str], Any]) -> dict[str, Any]:
        session_id = None
        token = body.get("refreshToken")
        if isinstance(token, str) and token:
            session_id = await self.store.session_for_refresh_token(token)
        elif bearer:
            try:
                identity = await verify(bearer)
            except AuthFailed as err:
                raise PasswordAuthError(401, "InvalidToken", f"cannot sign out with this token: {err}") from None
            # Another provider's token names no session here, whatever its ``sid`` claim says
            # (OIDC providers put their own session ids there).
            if identity.issuer != self.options.issuer:
                raise PasswordAuthError(401, "InvalidToken", "this token was not issued by the password provider")
            session_id = identity.session_id
        else:
            raise PasswordAuthError(400, "BadRequest", "send `refreshToken` in the body or the access token as "
                                                       "`Authorization: Bearer <token>`")
        revoked = await self.store.revoke_session(session_id, "signed out") if session_id else False
        return {"signedOut": revoked}

    async def delete_account(self, bearer: str | None, verify: Callable[[str], Any]) -> dict[str, Any]:
        """Delete the account a live access token of this provider names.

        Only the access token proves who asks (a refresh token alone is not enough, and a
        token of another provider names no account here). Every session goes with the
        account, so its tokens are refused from now on, and sockets that authenticated with
        one stop being that user at once (they follow ``accounts.session_active``).
        """
        if not bearer:
            raise PasswordAuthError(401, "InvalidToken", "send the access token as `Authorization: Bearer <token>`")
        try:
            identity = await verify(bearer)
        except AuthFailed as err:
            raise PasswordAuthError(401, "InvalidToken", f"cannot delete the account with this token: {err}") from None
        if identity.issuer != self.options.issuer:
            raise PasswordAuthError(401, "InvalidToken", "this token was not issued by the password provider")
        if not await self.store.delete_user(identity.subject):
            raise PasswordAuthError(401, "InvalidToken", "this account no longer exists")
        return {"deleted": True}
