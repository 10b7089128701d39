"""Shared helpers for the runtime tests: app paths and a backend usable from sync tests.

Hypothesis runs many examples inside one test function; ``SyncBackend`` keeps one real
TestBackend (temporary SQLite file) and one event loop open across all of them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from prefmem.testing import TestBackend

APPS = Path(__file__).resolve().parent.parent / "apps"
PROPS = APPS / "props"
CORE = APPS / "core"


class SyncBackend:
    def __init__(self, app: Path, **kwargs: Any) -> None:
        self.loop = asyncio.Runner()
        self.backend = TestBackend(app / "functions", app / "schema.py", **kwargs)
        self.loop.run(self.backend.__aenter__())

    def run(self, coro: Any) -> Any:
        return self.loop.run(coro)

    def query(self, path: str, args: dict | None = None) -> Any:
        return self.run(self.backend.query(path, args))

    def mutation(self, path: str, args: dict | None = None) -> Any:
        return self.run(self.backend.mutation(path, args))

    def close(self) -> None:
        try:
            self.loop.run(self.backend.__aexit__(None, None, None))
        finally:
            self.loop.close()


@pytest.fixture
def props_backend():
    backend = SyncBackend(PROPS)
    yield backend
    backend.close()


@pytest.fixture
async def core():
    async with TestBackend(CORE / "functions", CORE / "schema.py") as backend:
        yield backend
