"""File storage through prefmem.testing: upload tokens expire on the backend's clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefmem.files.context import store_stream
from prefmem.files.store import UPLOAD_TOKEN_TTL_MS
from prefmem.testing import TestBackend

APP = Path(__file__).resolve().parent.parent / "apps" / "files"


async def _upload(backend: TestBackend, token: str) -> dict:
    async def chunks():
        yield b"bytes"

    return await store_stream(backend.app, chunks(), "text/plain", token)


@pytest.mark.parametrize("wait_ms, answer", [(UPLOAD_TOKEN_TTL_MS - 1, "storageId"),
                                             (UPLOAD_TOKEN_TTL_MS + 1, "StorageTokenExpired")])
async def test_an_upload_token_expires_after_an_hour(wait_ms, answer):
    async with TestBackend(APP / "functions", APP / "schema.py") as backend:
        token = (await backend.mutation("files:upload_url", {})).split("token=")[1]
        backend.clock.advance(wait_ms)
        got = await _upload(backend, token)
        assert (got.get("refused") or "storageId") == answer
        # Used (or expired and thrown away), it is unknown from then on.
        assert await _upload(backend, token) == {"refused": "StorageTokenInvalid"}
        assert len(backend.table("_storage")) == (1 if answer == "storageId" else 0)
