"""The ``_storage`` and ``_upload_tokens`` tables, their transactions, and the bytes on disk."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any, AsyncIterator

from prefmem.database.reader import system_writer
from prefmem.errors import InvalidQuery
from prefmem.functions import system_function
from prefmem.schema import TableDef, define_table
from prefmem.validators import v
from prefmem.values import display

TABLE = "_storage"
TOKENS = "_upload_tokens"
UPLOAD_TOKEN_TTL_MS = 60 * 60 * 1000.0


def table_defs() -> dict[str, TableDef]:
    return {
        TABLE: define_table({"sha256": v.string(), "size": v.number(), "contentType": v.optional(v.string())}),
        TOKENS: define_table({"token": v.string(), "expiresAt": v.number()}).index("by_token", ["token"]),
    }


async def new_upload_token(db: Any, now_ms: float) -> str:
    token = secrets.token_urlsafe(24)
    await system_writer(db).insert(TOKENS, {"token": token, "expiresAt": now_ms + UPLOAD_TOKEN_TTL_MS})
    return token


@system_function("mutation", "storage:issue_token")
async def issue_token(ctx: Any, args: dict) -> str:
    return await new_upload_token(ctx.db, ctx.now)


@system_function("mutation", "storage:record")
async def record_file(ctx: Any, args: dict) -> dict:
    """Record an uploaded file, consuming its upload token if it came through one:
    ``{"storageId"}``, or ``{"refused": "StorageTokenInvalid" | "StorageTokenExpired"}``
    (an unknown or already used token, an expired one) and nothing recorded."""
    if args.get("token") is not None:
        row = await ctx.db.system.query(TOKENS).with_index("by_token", lambda q: q.eq("token", args["token"])).first()
        if row is None:
            return {"refused": "StorageTokenInvalid"}
        await system_writer(ctx.db).delete(row["_id"])
        if row["expiresAt"] < ctx.now:
            return {"refused": "StorageTokenExpired"}
    meta = {"sha256": args["sha256"], "size": float(args["size"])}
    if args.get("contentType"):
        meta["contentType"] = args["contentType"]
    return {"storageId": await system_writer(ctx.db).insert(TABLE, meta)}


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


async def delete_in(db: Any, storage_id: Any) -> None:
    if db.normalize_id(TABLE, storage_id) is None:
        raise InvalidQuery(f"Invalid storage ID: {display(storage_id)}")
    if await db.system.get(storage_id) is None:
        raise InvalidQuery(f"storage id {storage_id} not found")
    await system_writer(db).delete(storage_id)


class FileStore:
    """Bytes on disk: written to a temporary file while hashed, then moved to their id."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path_of(self, storage_id: str) -> Path:
        if not storage_id.isalnum():
            raise InvalidQuery(f"{storage_id!r} is not a storage id")
        return self.directory / storage_id

    async def receive(self, chunks: AsyncIterator[bytes], max_bytes: int | None = None) -> tuple[Path, str, int]:
        """Stream chunks to a temporary file; returns (path, base64 sha256, size), as Convex records it."""
        digest = hashlib.sha256()
        size = 0
        fd, name = tempfile.mkstemp(dir=self.directory, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise InvalidQuery(f"upload is larger than {max_bytes} bytes")
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
