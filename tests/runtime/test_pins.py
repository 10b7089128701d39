"""Consistent HTTP reads: pinned snapshots are bounded in number, time and WAL, and a read at
a timestamp whose snapshot is gone is answered exactly when it can be."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from prefmem.http_api import PinnedSnapshots
from prefmem.persistence import sqlite as sqlite_persistence
from prefmem.testing import TestBackend

pytestmark = pytest.mark.engines

APP = Path(__file__).resolve().parent.parent / "apps" / "counters"


@pytest.fixture
async def backend(database):
    async with TestBackend(APP / "functions", APP / "schema.py", db=database) as b:
        yield b


async def test_a_pin_ends_on_its_own_timer(backend):
    pins = PinnedSnapshots(backend.app)
    pins.ttl_s = 0
    ts = pins.pin("client")
    assert pins.get(ts) is not None
    await asyncio.sleep(0)  # the timer's turn: no other request is needed
    await asyncio.sleep(0)
    assert pins.get(ts) is None and len(pins) == 0


async def test_pins_are_bounded_per_client_and_in_total(backend):
    pins = PinnedSnapshots(backend.app)
    mine = []
    for i in range(10):
        await backend.mutation("counters:increment", {"name": "c"})
        mine.append(pins.pin("greedy"))
    assert len(pins) == pins.per_client
    assert all(pins.get(ts) is not None for ts in mine[-pins.per_client:])
    assert all(pins.get(ts) is None for ts in mine[:-pins.per_client])  # the oldest gave way
    for i in range(40):
        await backend.mutation("counters:increment", {"name": "c"})
        pins.pin(f"client{i}")
    assert len(pins) == pins.total
    pins.close()


async def test_a_read_at_an_expired_timestamp_stands_exactly_when_its_data_did_not_change(backend):
    from prefmem.http_api import HttpApi, _BadRequest

    await backend.mutation("counters:increment", {"name": "x"})
    await backend.mutation("counters:increment", {"name": "y"})
    api = HttpApi(backend.app, authenticator=None)  # type: ignore[arg-type]
    fn = backend.app.registry.get("counters:state")
    ts = backend.app.write_log.head_ts
    await backend.mutation("counters:append", {"entry": "p"})  # state reads the ledger: changed
    with pytest.raises(_BadRequest, match="changed after timestamp"):
        api._query_since(fn, {}, None, ts)
    whoami = backend.app.registry.get("counters:whoami")  # reads nothing: the same at every ts
    assert api._query_since(whoami, {}, None, ts).ok
    ts = backend.app.write_log.head_ts
    await backend.mutation("counters:increment", {"name": "z"})  # a counter, but state reads them all
    with pytest.raises(_BadRequest):
        api._query_since(fn, {}, None, ts)
    assert api._query_since(fn, {}, None, backend.app.write_log.head_ts).value["counters"] == {
        "x": 1.0, "y": 1.0, "z": 1.0}


@pytest.mark.sqlite_only
async def test_a_pin_cannot_hold_the_wal_back(backend, monkeypatch):
    monkeypatch.setattr(sqlite_persistence, "PINNED_WAL_LIMIT", 512 * 1024)
    persistence = backend.app.persistence
    persistence.checkpoint_every = 8
    pins = PinnedSnapshots(backend.app)
    ts = pins.pin("client")
    sizes = []
    for i in range(600):  # about 4 KiB of WAL a commit
        await backend.mutation("counters:append", {"entry": "x" * 200})
        sizes.append(persistence.wal_size())
        if i % 50 == 0:
            pins.pin("client")  # an attacker pinning again and again
    assert pins.get(ts) is None  # ended by the persistence, not by its timer
    # Without the bound the WAL grows with every commit, to about 18 MB here; with it, it
    # restarts once the checkpoint (in a worker thread, late on a busy machine) has run.
    assert max(sizes) < 12 * 512 * 1024
    pins.close()
