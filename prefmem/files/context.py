"""``ctx.storage`` for each function kind, as API.md's table gives it.

Queries get ``get_url`` and ``get_metadata``; mutations add ``generate_upload_url`` and
``delete``, both inside the mutation's transaction; actions get everything, each call its
own transaction, plus ``get`` and ``store`` which move bytes.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from prefmem import ids
from prefmem.errors import InvalidQuery, PrefmemError
from prefmem.files import store
from prefmem.values import display


def _url(site_url: str, storage_id: str) -> str:
    return f"{site_url.rstrip('/')}/api/storage/{storage_id}"


class QueryStorage:
    def __init__(self, db: Any, app: Any) -> None:
        self._db = db
        self._app = app

    async def get_url(self, storage_id: str) -> str | None:
        """A URL serving the file, or None if there is no such file. Reactive in queries."""
        if await store.metadata_in(self._db, storage_id) is None:
            return None
        return _url(self._app.site_url, storage_id)

    async def get_metadata(self, storage_id: str) -> dict | None:
        """``{"storageId", "sha256" (hex), "size", "contentType"}``, or None if there is no such file."""
        return await store.file_metadata_of(self._db, storage_id)

    async def uploaded_by(self, storage_id: str) -> str | None:
        """The token identifier of the user whose function asked for the upload URL the file
        came through; None for a file stored by an action, uploaded through a URL asked for
        without a user identity, or no such file. Check it before attaching an upload to a
        user's data: storage ids are not secrets."""
        return await store.uploader_in(self._db, storage_id)


class MutationStorage(QueryStorage):
    def __init__(self, db: Any, app: Any, now_ms: float, identity: Any) -> None:
        super().__init__(db, app)
        self._now = now_ms
        self._owner = identity.token_identifier if identity is not None else None

    async def generate_upload_url(self) -> str:
        """A short-lived, single-use URL to POST a file's bytes to; valid once this mutation commits.

        The upload is the calling user's (``uploaded_by``); asking for more than the server's
        ``pending_uploads`` unused URLs retires the oldest."""
        token = await store.new_upload_token(self._db, self._now, self._owner, self._app.bounds.pending_uploads)
        return f"{self._app.site_url.rstrip('/')}/api/storage/upload?token={token}"

    async def delete(self, storage_id: str) -> None:
        await store.delete_in(self._db, storage_id)


class ActionStorage:
    def __init__(self, app: Any, identity: Any) -> None:
        self._app = app
        self._owner = identity.token_identifier if identity is not None else None

    async def _system(self, fn: Any, args: dict) -> Any:
        return (await self._app.run(fn, args, None)).unwrap()

    async def get_url(self, storage_id: str) -> str | None:
        if await self._system(store.file_metadata, {"id": storage_id}) is None:
            return None
        return _url(self._app.site_url, storage_id)

    async def get_metadata(self, storage_id: str) -> dict | None:
        """``{"storageId", "sha256" (hex), "size", "contentType"}``, or None if there is no such file."""
        _storage_id(storage_id)
        return await self._system(store.get_file_metadata, {"id": storage_id})

    async def uploaded_by(self, storage_id: str) -> str | None:
        return await self._system(store.file_uploader, {"id": storage_id})

    async def generate_upload_url(self) -> str:
        token = await self._system(store.issue_token, {"owner": self._owner, "most": self._app.bounds.pending_uploads})
        return f"{self._app.site_url.rstrip('/')}/api/storage/upload?token={token}"

    async def get(self, storage_id: str) -> bytes | None:
        """The file's bytes, or None if there is no such file."""
        if await self._system(store.file_metadata, {"id": storage_id}) is None:
            return None
        return self._app.files.read(storage_id)

    async def store(self, data: bytes, content_type: str | None = None, *, sha256: str | None = None) -> str:
        """Store bytes as a new file; returns its storage id. ``sha256`` (base64, as in a
        ``Digest`` header, or hex): the bytes' expected hash; a mismatch stores nothing."""
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidQuery(f"storage.store takes bytes, got {type(data).__name__}")

        async def chunks() -> Any:
            yield bytes(data)

        expected = None if sha256 is None else expected_sha256(sha256)
        return (await store_stream(self._app, chunks(), content_type, token=None, sha256=expected))["storageId"]

    async def delete(self, storage_id: str) -> None:
        _storage_id(storage_id)
        if not (await self._app.mutation(store.delete_file, {"id": storage_id}, None)).ok:
            raise InvalidQuery(f"storage id {storage_id} not found")
        self._app.files.remove(storage_id)


def _storage_id(value: Any) -> None:
    if not ids.id_table_matches(value, store.TABLE):
        raise InvalidQuery(f"Invalid storage ID: {display(value)}")


class DigestMismatch(PrefmemError):
    """The stored bytes do not hash to the SHA-256 their sender announced."""


# An upload token's refusals, in Convex's words.
TOKEN_REFUSALS = {"StorageTokenInvalid": "Couldn't decode the StoreFileAuthorization token",
                  "StorageTokenExpired": "Store File Authorization expired"}


def digest_sha256(header: str | None) -> str | None:
    """The base64 SHA-256 of an upload's ``Digest`` header (``sha-256=<base64>``, maybe among
    others), None without the header; a header without a usable one is refused."""
    if header is None:
        return None
    for part in header.split(","):
        algorithm, _, value = part.strip().partition("=")
        if algorithm.lower() == "sha-256":
            try:
                return expected_sha256(value.strip())
            except InvalidQuery as err:
                raise InvalidQuery(f"Bad header for Digest: {err}") from None
    raise InvalidQuery("Bad header for Digest: no sha-256 digest in it")


def expected_sha256(text: str) -> str:
    """A SHA-256 given as base64 (a ``Digest: sha-256=`` value) or as hex, in base64 as
    ``_storage`` records it."""
    raw: bytes | None = None
    if isinstance(text, str):
        try:
            raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            raw = None
    if raw is None or len(raw) != 32:
        raise InvalidQuery(f"the expected SHA-256 must be 32 bytes in base64 or hex, got {display(text)}")
    return base64.b64encode(raw).decode("ascii")


async def store_stream(app: Any, chunks: Any, content_type: str | None, token: str | None,
                       sha256: str | None = None, max_bytes: int | None = None, setting: str | None = None) -> dict:
    """Write streamed bytes to disk, then record them (consuming ``token`` if given).

    Returns ``store.record_file``'s answer: ``{"storageId"}`` or ``{"refused": code}`` (the
    bytes are then discarded). Bytes that do not hash to ``sha256`` (base64) raise
    ``DigestMismatch`` before anything is recorded, and the token stays usable. More than
    ``max_bytes`` raises ``BodyTooLarge``, keeping nothing.
    """
    temp, actual, size = await app.files.receive(chunks, max_bytes, setting)
    if sha256 is not None and actual != sha256:
        app.files.discard(temp)
        raise DigestMismatch(f"Sha256 mismatch. Expected: {sha256} Actual: {actual}")  # Convex's words
    try:
        outcome = await app.mutation(
            store.record_file, {"token": token, "sha256": actual, "size": size, "contentType": content_type}, None)
        answer = outcome.unwrap()
    except BaseException:
        app.files.discard(temp)
        raise
    if "storageId" not in answer:
        app.files.discard(temp)
        return answer
    app.files.keep(temp, answer["storageId"])
    return answer
