"""The server's own secrets, kept in the data directory next to the database.

- ``admin_key``: the admin key (``Authorization: Convex <key>`` over HTTP, ``tokenType:
  "Admin"`` over sync). Generated at first start; admin callers may run internal functions.
- ``auth_signing_key.json``: the private ES256 (P-256) JWK the built-in password provider
  signs its access tokens with; its public half is served at ``/.well-known/jwks.json``.

Both files are created once with mode 0600 and reused on every later start. A database at
``:memory:`` has no data directory: its keys then live only as long as the process. On
PostgreSQL the same two keys are rows of the database's ``secrets`` table instead
(``PostgresPersistence.secret``), so every node of a deployment has the same ones.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Callable, Protocol

from joserfc import jwk

ADMIN_KEY_FILE = "admin_key"
SIGNING_KEY_FILE = "auth_signing_key.json"
ADMIN_KEY_PREFIX = "prefmem-admin|"


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only; never overwrite an existing key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


class SecretStore(Protocol):
    def secret(self, name: str, make: Callable[[], str]) -> str:
        """The stored secret ``name``, made by ``make`` and stored if there is none yet."""


def _new_admin_key() -> str:
    return ADMIN_KEY_PREFIX + secrets.token_hex(32)


def load_or_create_admin_key(data_dir: Path | SecretStore | None) -> str:
    if data_dir is None:
        return _new_admin_key()
    if not isinstance(data_dir, Path):
        return data_dir.secret(ADMIN_KEY_FILE, _new_admin_key)
    path = data_dir / ADMIN_KEY_FILE
    if not path.exists():
        try:
            _write_private(path, ADMIN_KEY_PREFIX + secrets.token_hex(32) + "\n")
        except FileExistsError:  # another process created it first: use theirs
            pass
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise RuntimeError(f"the admin key file {path} is empty; delete it to generate a new key")
    return key


def admin_key_matches(expected: str, presented: str) -> bool:
    return hmac.compare_digest(expected.encode(), presented.strip().encode())


def load_or_create_signing_key(data_dir: Path | SecretStore | None) -> jwk.ECKey:
    """The password provider's private key; ``kid`` is its RFC 7638 thumbprint."""
    if data_dir is not None and not isinstance(data_dir, Path):
        text = data_dir.secret(SIGNING_KEY_FILE, lambda: json.dumps(_new_signing_key().as_dict(private=True)))
        return jwk.ECKey.import_key(json.loads(text))
    if data_dir is not None:
        path = data_dir / SIGNING_KEY_FILE
        if not path.exists():
            key = _new_signing_key()
            try:
                _write_private(path, json.dumps(key.as_dict(private=True)))
            except FileExistsError:
                pass
        data = json.loads(path.read_text(encoding="utf-8"))
        return jwk.ECKey.import_key(data)
    return _new_signing_key()


def _new_signing_key() -> jwk.ECKey:
    key = jwk.ECKey.generate_key("P-256", private=True)
    key.ensure_kid()
    data = key.as_dict(private=True)
    data.update(alg="ES256", use="sig")
    return jwk.ECKey.import_key(data)
