"""The ``_storage`` and ``_upload_tokens`` tables, their transactions, and the bytes on disk."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, NamedTuple

from prefmem.bodies import BodyTooLarge
from prefmem.database.reader import system_writer
from prefmem.errors import InvalidQuery
from prefmem.functions import system_function
from prefmem.schema import TableDef, define_table
from prefmem.validators import v
from prefmem.values import display

TABLE = "_storage"
TOKENS = "_upload_tokens"
UPLOADERS = "_storage_uploaders"
UPLOAD_TOKEN_TTL_MS = 60 * 60 * 1000.0


def table_defs() -> dict[str, TableDef]:
    return {
        TABLE: define_table({"sha256": v.string(), "size": v.number(), "contentType": v.optional(v.string())}),
        # ``owner``: the token identifier of the user whose function asked for the URL ("" for
        # none), so that the upload is theirs and they hold a bounded number of unused URLs.
        TOKENS: define_table({"token": v.string(), "expiresAt": v.number(), "owner": v.optional(v.string())})
        .index("by_token", ["token"]).index("by_owner", ["owner", "expiresAt"]),
        # Who asked for the URL a file came through. Not a field of ``_storage``: its
        # documents keep exactly Convex's shape.
        UPLOADERS: define_table({"storageId": v.id(TABLE), "uploader": v.string()})
        .index("by_storage", ["storageId"]),
    }


async def new_upload_token(db: Any, now_ms: float, owner: str | None, most: int) -> str:
    """A fresh upload token of ``owner`` (a token identifier; None: no user identity).

    A user holds at most ``most`` unused, unexpired tokens: a new one retires the oldest, so
    asking for URLs in a loop costs nothing but the asker's own earlier URLs. Calls without
    a user identity cannot be told apart and are not counted; their tokens expire all the same.
    """
    writer = system_writer(db)
    key = owner or ""
    for row in await db.system.query(TOKENS).with_index(
            "by_owner", lambda q: q.eq("owner", key).lt("expiresAt", now_ms)).take(64):
        await writer.delete(row["_id"])  # expired: of no use to anyone
    if owner is not None:
        live = await db.system.query(TOKENS).with_index(
            "by_owner", lambda q: q.eq("owner", key).gte("expiresAt", now_ms)).collect()
        for row in live[: max(0, len(live) - most + 1)]:  # oldest first
            await writer.delete(row["_id"])
    token = secrets.token_urlsafe(24)
    await writer.insert(TOKENS, {"token": token, "expiresAt": now_ms + UPLOAD_TOKEN_TTL_MS, "owner": key})
    return token


@system_function("mutation", "storage:issue_token")
async def issue_token(ctx: Any, args: dict) -> str:
    return await new_upload_token(ctx.db, ctx.now, args.get("owner"), args["most"])


@system_function("query", "storage:token_refusal")
async def token_refusal(ctx: Any, args: dict) -> str | None:
    """Why an upload with this token will be refused (``record_file``'s codes), or None: checked
    before any of its bytes is written to disk."""
    row = await ctx.db.system.query(TOKENS).with_index("by_token", lambda q: q.eq("token", args["token"])).first()
    if row is None:
        return "StorageTokenInvalid"
    return "StorageTokenExpired" if row["expiresAt"] < ctx.now else None


@system_function("mutation", "storage:record")
async def record_file(ctx: Any, args: dict) -> dict:
    """Record an uploaded file, consuming its upload token if it came through one:
    ``{"storageId"}``, or ``{"refused": "StorageTokenInvalid" | "StorageTokenExpired"}``
    (an unknown or already used token, an expired one) and nothing recorded."""
    uploader = ""
    if args.get("token") is not None:
        row = await ctx.db.system.query(TOKENS).with_index("by_token", lambda q: q.eq("token", args["token"])).first()
        if row is None:
            return {"refused": "StorageTokenInvalid"}
        await system_writer(ctx.db).delete(row["_id"])
        if row["expiresAt"] < ctx.now:
            return {"refused": "StorageTokenExpired"}
        uploader = row.get("owner") or ""
    meta = {"sha256": args["sha256"], "size": float(args["size"])}
    if args.get("contentType"):
        meta["contentType"] = args["contentType"]
    storage_id = await system_writer(ctx.db).insert(TABLE, meta)
    if uploader:
        await system_writer(ctx.db).insert(UPLOADERS, {"storageId": storage_id, "uploader": uploader})
    return {"storageId": storage_id}


@system_function("mutation", "storage:delete")
async def delete_file(ctx: Any, args: dict) -> None:
    await delete_in(ctx.db, args["id"])


@system_function("query", "storage:metadata")
async def file_metadata(ctx: Any, args: dict) -> dict | None:
    return await metadata_in(ctx.db, args["id"])


@system_function("query", "storage:file_metadata")
async def get_file_metadata(ctx: Any, args: dict) -> dict | None:
    return await file_metadata_of(ctx.db, args["id"])


async def metadata_in(db: Any, storage_id: Any) -> dict | None:
    if db.normalize_id(TABLE, storage_id) is None:
        return None
    return await db.system.get(storage_id)


async def file_metadata_of(db: Any, storage_id: Any) -> dict | None:
    """``storage.get_metadata``: Convex's ``FileMetadata`` (the hash in hex, the content type
    or None), or None when there is no such file; what is no storage id at all is refused."""
    if db.normalize_id(TABLE, storage_id) is None:
        raise InvalidQuery(f"Invalid storage ID: {display(storage_id)}")
    doc = await db.system.get(storage_id)
    if doc is None:
        return None
    return {"storageId": doc["_id"], "sha256": base64.b64decode(doc["sha256"]).hex(), "size": doc["size"],
            "contentType": doc.get("contentType")}


async def uploader_in(db: Any, storage_id: Any) -> str | None:
    if db.normalize_id(TABLE, storage_id) is None:
        return None
    row = await db.system.query(UPLOADERS).with_index("by_storage", lambda q: q.eq("storageId", storage_id)).first()
    return row["uploader"] if row is not None else None


@system_function("query", "storage:uploader")
async def file_uploader(ctx: Any, args: dict) -> str | None:
    return await uploader_in(ctx.db, args["id"])


async def delete_in(db: Any, storage_id: Any) -> None:
    if db.normalize_id(TABLE, storage_id) is None:
        raise InvalidQuery(f"Invalid storage ID: {display(storage_id)}")
    if await db.system.get(storage_id) is None:
        raise InvalidQuery(f"storage id {storage_id} not found")
    writer = system_writer(db)
    for row in await db.system.query(UPLOADERS).with_index("by_storage", lambda q: q.eq("storageId", storage_id)).collect():
        await writer.delete(row["_id"])
    await writer.delete(storage_id)


class StoredFile(NamedTuple):
    """A file's bytes streamed from where they are kept, when that is not a local file."""

    size: int
    chunks: Iterator[bytes]


class FileStore:
    """Bytes on disk: written to a temporary file while hashed, then moved to their id.

    What the rest of the runtime uses of a store is ``receive``, ``keep``, ``discard``,
    ``remove``, ``read``, ``open`` and ``close``; ``pg_files.PostgresFiles`` keeps the same
    bytes in PostgreSQL, where every node can read them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # uploads are private until served

    def path_of(self, storage_id: str) -> Path:
        if not storage_id.isalnum():
            raise InvalidQuery(f"{storage_id!r} is not a storage id")
        return self.directory / storage_id

    async def receive(self, chunks: AsyncIterator[bytes], max_bytes: int | None = None,
                      setting: str | None = None) -> tuple[Path, str, int]:
        """Stream chunks to a temporary file; returns (path, base64 sha256, size), as Convex records it.

        Past ``max_bytes`` it stops, removes what it wrote and raises ``BodyTooLarge``."""
        digest = hashlib.sha256()
        size = 0
        fd, name = tempfile.mkstemp(dir=self.directory, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise BodyTooLarge(max_bytes, setting)
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            os.unlink(name)
            raise
        return Path(name), base64.b64encode(digest.digest()).decode("ascii"), size

    def keep(self, temp: Path, storage_id: str) -> None:
        os.replace(temp, self.path_of(storage_id))

    def discard(self, temp: Path) -> None:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass

    def remove(self, storage_id: str) -> None:
        try:
            os.unlink(self.path_of(storage_id))
        except FileNotFoundError:
            pass

    def read(self, storage_id: str) -> bytes | None:
        try:
            return self.path_of(storage_id).read_bytes()
        except FileNotFoundError:
            return None

    def open(self, storage_id: str) -> Path | StoredFile | None:
        """What to serve: the file's path (or its streamed bytes); None if it has none."""
        path = self.path_of(storage_id)
        return path if path.exists() else None

    def close(self) -> None:
        pass
