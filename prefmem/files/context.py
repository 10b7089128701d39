"""``ctx.storage`` for each function kind, as API.md's table gives it.

Queries get ``get_url``; mutations add ``generate_upload_url`` and ``delete``, both inside
the mutation's transaction; actions get everything, each call its own transaction, plus
``get`` and ``store`` which move bytes.
"""

from __future__ import annotations

from typing import Any

from prefmem.errors import InvalidQuery
from prefmem.files import store


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
        return await self._system(store.file_metadata, {"id": storage_id})

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

    async def store(self, data: bytes, content_type: str | None = None) -> str:
        """Store bytes as a new file; returns its storage id."""
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidQuery(f"storage.store takes bytes, got {type(data).__name__}")

        async def chunks() -> Any:
            yield bytes(data)

        return await store_stream(self._app, chunks(), content_type, token=None)

    async def delete(self, storage_id: str) -> None:
        await self._system(store.delete_file, {"id": storage_id})
        self._app.files.remove(storage_id)


async def store_stream(app: Any, chunks: Any, content_type: str | None, token: str | None,
                       max_bytes: int | None = None, setting: str | None = None) -> str | None:
    """Write streamed bytes to disk, then record them (consuming ``token`` if given).

    Returns the storage id, or None when the token was unknown, used or expired (the
    bytes are then discarded). More than ``max_bytes`` raises ``BodyTooLarge``, keeping nothing.
    """
    temp, sha256, size = await app.files.receive(chunks, max_bytes, setting)
    try:
        outcome = await app.mutation(
            store.record_file, {"token": token, "sha256": sha256, "size": size, "contentType": content_type}, None)
        storage_id = outcome.unwrap()
    except BaseException:
        app.files.discard(temp)
        raise
    if storage_id is None:
        app.files.discard(temp)
        return None
    app.files.keep(temp, storage_id)
    return storage_id
