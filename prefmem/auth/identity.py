"""The caller's identity, as ``ctx.auth.get_user_identity()`` returns it."""

from __future__ import annotations

from typing import Any


class Identity:
    """A verified user: ``token_identifier`` (``issuer|subject``), ``subject``, ``issuer``, claims.

    Standard OIDC claims are attributes (``identity.email``); every claim is also
    reachable by name with ``identity["claim"]``. Missing claims read as None.
    """

    __slots__ = ("subject", "issuer", "claims", "expires_at", "session_id", "issued_at")

    def __init__(self, subject: str, issuer: str, claims: dict[str, Any] | None = None,
                 expires_at: float | None = None, session_id: str | None = None,
                 issued_at: float | None = None) -> None:
        self.subject = subject
        self.issuer = issuer
        self.claims = dict(claims or {})
        # The token's ``exp`` (seconds): not a claim functions see, but when a socket
        # authenticated with it must stop being this user.
        self.expires_at = expires_at
        # The token's ``sid``: the sign-in session whose end (sign-out, revocation) ends it
        # on every socket at once. Not a claim functions see either.
        self.session_id = session_id
        # The token's ``iat`` (seconds), when it was issued: an app that deletes an account
        # refuses the tokens issued before the deletion (``identity.issued_at``).
        self.issued_at = issued_at

    @property
    def token_identifier(self) -> str:
        return f"{self.issuer}|{self.subject}"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self.claims.get(name)

    def __getitem__(self, name: str) -> Any:
        return self.to_dict().get(name)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.claims.items() if k not in ("sub", "iss")}
        out.update(tokenIdentifier=self.token_identifier, subject=self.subject, issuer=self.issuer)
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identity) and self.token_identifier == other.token_identifier \
            and self.claims == other.claims

    def __hash__(self) -> int:
        return hash(self.token_identifier)

    def __repr__(self) -> str:
        return f"Identity({self.token_identifier!r})"
