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


class MutationStorage(QueryStorage):
    def __init__(self, db: Any, app: Any, now_ms: float) -> None:
        super().__init__(db, app)
        self._now = now_ms

    async def generate_upload_url(self) -> str:
        """A short-lived, single-use URL to POST a file's bytes to; valid once this mutation commits."""
        token = await store.new_upload_token(self._db, self._now)
        return f"{self._app.site_url.rstrip('/')}/api/storage/upload?token={token}"

    async def delete(self, storage_id: str) -> None:
        await store.delete_in(self._db, storage_id)


class ActionStorage:
    def __init__(self, app: Any) -> None:
        self._app = app

    async def _system(self, fn: Any, args: dict) -> Any:
        return (await self._app.run(fn, args, None)).unwrap()

    async def get_url(self, storage_id: str) -> str | None:
        if await self._system(store.file_metadata, {"id": storage_id}) is None:
            return None
        return _url(self._app.site_url, storage_id)

    async def get_metadata(self, storage_id: str) -> dict | None:
        return await self._system(store.file_metadata, {"id": storage_id})

    async def generate_upload_url(self) -> str:
        token = await self._system(store.issue_token, {})
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


async def store_stream(app: Any, chunks: Any, content_type: str | None, token: str | None) -> str | None:
    """Write streamed bytes to disk, then record them (consuming ``token`` if given).

    Returns the storage id, or None when the token was unknown, used or expired (the
    bytes are then discarded).
    """
    temp, sha256, size = await app.files.receive(chunks)
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
