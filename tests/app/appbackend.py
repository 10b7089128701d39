"""Fixtures for the application's function tests: the repo-root app on a seeded database.

Seeding (200 products with placeholder images) happens once per test session into a
template directory; each test gets a copy of it, so every test starts from the same small
catalogue in a few milliseconds.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from prefmem.testing import TestBackend

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
SCHEMA = ROOT / "schema.py"
N_PRODUCTS = 200
DAY = 86_400_000.0


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("prefmem-app-template")

    async def seed() -> None:
        async with TestBackend(FUNCTIONS, SCHEMA, db=directory / "data.sqlite3") as backend:
            result = await backend.run("catalog:seed_if_empty", {"count": N_PRODUCTS})
            assert result["seeded"] and result["total"] == N_PRODUCTS

    asyncio.run(seed())
    return directory


@pytest.fixture
async def backend(seeded_template, tmp_path):
    target = tmp_path / "db"
    shutil.copytree(seeded_template, target)
    async with TestBackend(FUNCTIONS, SCHEMA, db=target / "data.sqlite3") as b:
        yield b


def products(b: TestBackend, **where) -> list[dict]:
    """Catalogue products matching field == value (lists: membership)."""
    out = []
    for p in b.table("products"):
        if all((v in p[k]) if isinstance(p[k], list) else p[k] == v for k, v in where.items()):
            out.append(p)
    return out


async def settle(b: TestBackend, ms: float = 2_000.0) -> int:
    """Let due learning runs happen (move the clock, run what is scheduled)."""
    b.clock.advance(ms)
    return await b.run_scheduled()
