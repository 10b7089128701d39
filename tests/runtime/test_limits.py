"""Every limit the runtime enforces fails with an error naming it, under small custom Limits."""

from __future__ import annotations

import sys
import time

import pytest

from prefmem import runner
from prefmem.limits import Limits
from prefmem.testing import FunctionFailed, TestBackend

from .conftest import CORE

pytestmark = pytest.mark.engines


def backend(**limits):
    return TestBackend(CORE / "functions", CORE / "schema.py", limits=Limits(**limits))


async def test_documents_read():
    async with backend(documents_read=5) as b:
        await b.mutation("limits:write_many", {"n": 5, "size": 1})
        assert await b.query("limits:read_all", {"table": "blobs"}) == 5
        await b.mutation("limits:write_many", {"n": 1, "size": 1})
        with pytest.raises(FunctionFailed, match="limit 'documents_read' exceeded: read more than 5 documents"):
            await b.query("limits:read_all", {"table": "blobs"})


async def test_documents_read_counts_what_is_scanned_not_what_is_returned():
    async with backend(documents_read=5) as b:
        ids = await b.mutation("limits:write_many", {"n": 8, "size": 1})
        assert await b.query("limits:first_blob") == ids[0]  # first() reads one row, not the table
        with pytest.raises(FunctionFailed, match="limit 'documents_read' exceeded"):
            await b.query("limits:filtered_count", {"data": "nothing matches"})  # filtered rows were still read


async def test_bytes_read():
    async with backend(bytes_read=2_000) as b:
        await b.mutation("limits:write_many", {"n": 3, "size": 500})
        assert await b.query("limits:read_all", {"table": "blobs"}) == 3
        await b.mutation("limits:write_many", {"n": 2, "size": 500})
        with pytest.raises(FunctionFailed, match="limit 'bytes_read' exceeded"):
            await b.query("limits:read_all", {"table": "blobs"})


async def test_index_ranges_read():
    async with backend(index_ranges_read=3) as b:
        ids = await b.mutation("limits:write_many", {"n": 4, "size": 1})
        assert len(await b.query("limits:get_many", {"ids": ids[:3]})) == 3
        with pytest.raises(FunctionFailed, match="limit 'index_ranges_read' exceeded: read more than 3 index ranges"):
            await b.query("limits:get_many", {"ids": ids})


async def test_documents_written():
    async with backend(documents_written=3) as b:
        await b.mutation("limits:write_many", {"n": 3, "size": 1})
        with pytest.raises(FunctionFailed, match="limit 'documents_written' exceeded: wrote more than 3 documents"):
            await b.mutation("limits:write_many", {"n": 4, "size": 1})
        assert len(b.table("blobs")) == 3


async def test_bytes_written():
    async with backend(bytes_written=1_000) as b:
        with pytest.raises(FunctionFailed, match="limit 'bytes_written' exceeded"):
            await b.mutation("limits:write_many", {"n": 3, "size": 400})
        assert b.table("blobs") == []


async def test_document_size():
    async with backend(document_size=200) as b:
        await b.mutation("limits:write_blob", {"data": "x" * 100})
        before = b.table("blobs")
        with pytest.raises(FunctionFailed, match=r"limit 'document_size' exceeded: document in 'blobs' is \d+ bytes, "
                                                 "over 200"):
            await b.mutation("limits:write_blob", {"data": "x" * 300})
        assert b.table("blobs") == before


async def test_nesting_depth():
    async with backend(nesting_depth=4) as b:
        await b.mutation("limits:write_nested", {"depth": 3})
        before = b.table("blobs")
        with pytest.raises(FunctionFailed, match="nesting_depth"):
            await b.mutation("limits:write_nested", {"depth": 8})
        assert b.table("blobs") == before
        with pytest.raises(FunctionFailed, match="nesting_depth"):
            await b.query("limits:echo", {"data": [[[[[["deep"]]]]]]})
        with pytest.raises(FunctionFailed, match="nesting_depth"):
            await b.query("limits:return_nested", {"depth": 8})


async def test_nesting_depth_under_a_validator_that_fixes_the_shape():
    """A validator deeper than the limit does not stand in for the shape walk."""
    point = {"point": {"x": {"y": {"z": "leaf"}}}}  # four levels of objects: the innermost at depth 3
    async with backend(nesting_depth=3) as b:
        await b.mutation("limits:write_point", point)
    async with backend(nesting_depth=2) as b:
        with pytest.raises(FunctionFailed, match="nesting_depth"):
            await b.mutation("limits:write_point", point)
        assert b.table("notes") == []


def test_a_validator_stands_in_for_the_shape_walk_only_within_the_limits():
    from prefmem import v

    pair = v.object({"a": v.object({"b": v.string(), "c": v.number()})})  # 2 levels, 2 fields at most
    assert Limits().covers(pair)
    assert Limits(nesting_depth=1, object_fields=2).covers(pair)
    assert not Limits(nesting_depth=0).covers(pair)
    assert not Limits(object_fields=1).covers(pair)
    assert not Limits().covers(v.object({"a": v.any()}))
    assert not Limits().covers(None)


async def test_arguments_size():
    async with backend(arguments_size=100) as b:
        assert await b.query("limits:echo", {"data": "x" * 10}) == "ok"
        with pytest.raises(FunctionFailed, match="limit 'arguments_size' exceeded"):
            await b.query("limits:echo", {"data": "x" * 200})
        with pytest.raises(FunctionFailed, match="limit 'arguments_size' exceeded"):
            await b.mutation("limits:write_blob", {"data": "x" * 200})
        assert b.table("blobs") == []


async def test_return_value_size():
    async with backend(return_value_size=100) as b:
        with pytest.raises(FunctionFailed, match="limit 'return_value_size' exceeded"):
            await b.query("limits:return_big", {"size": 200})


async def test_array_items_and_object_fields():
    async with backend(array_items=3, object_fields=2) as b:
        with pytest.raises(FunctionFailed, match="array_items"):
            await b.mutation("limits:write_blob", {"data": [1, 2, 3, 4]})
        with pytest.raises(FunctionFailed, match="object_fields"):
            await b.mutation("limits:write_blob", {"data": {"a": 1, "b": 2, "c": 3}})
        assert b.table("blobs") == []


async def test_log_lines_are_capped_with_a_warning_naming_the_limit():
    async with backend(log_lines=3) as b:
        outcome = await b.app.call("limits:log_lines", {"n": 10}, kind="query")
        assert outcome.ok and outcome.value == 10
        assert outcome.log_lines[:3] == ["[LOG] line 0", "[LOG] line 1", "[LOG] line 2"]
        assert len(outcome.log_lines) == 4
        assert "7 more log lines were dropped: limit 'log_lines' is 3" in outcome.log_lines[3]


async def test_time_limit_stops_a_pure_python_loop_in_a_query():
    async with backend(query_mutation_time_ms=100) as b:
        start = time.monotonic()
        with pytest.raises(FunctionFailed, match="limit 'query_mutation_time_ms' exceeded: nondet:spins ran longer "
                                                 "than 100 ms"):
            await b.query("nondet:spins")
        assert time.monotonic() - start < 2.0
        # The backend is still usable afterwards.
        assert await b.query("nondet:uses_ctx_random_and_now")


async def test_time_limit_stops_a_looping_mutation_and_rolls_it_back():
    async with backend(query_mutation_time_ms=100) as b:
        with pytest.raises(FunctionFailed, match="limit 'query_mutation_time_ms' exceeded"):
            await b.mutation("nondet:spins_after_write")
        assert b.table("notes") == []
        await b.mutation("users:add", {"name": "still works"})
        assert len(b.table("users")) == 1


async def test_time_limit_stops_a_query_that_loops_over_ctx_reads(monkeypatch):
    """Its reads find nothing; they check the deadline all the same (the watchdog, which
    would stop the loop otherwise, is kept out of it here)."""
    monkeypatch.setattr(runner, "_watchdog", runner._Watchdog(poll_s=0.05, grace_s=3600.0))
    async with backend(query_mutation_time_ms=100, index_ranges_read=10**9) as b:
        with pytest.raises(FunctionFailed, match="limit 'query_mutation_time_ms' exceeded: the function ran longer "
                                                 "than 100 ms"):
            await b.query("nondet:reads_forever")


async def test_time_limit_stops_a_blocking_sleep():
    async with backend(query_mutation_time_ms=100) as b:
        start = time.monotonic()
        with pytest.raises(FunctionFailed, match="limit 'query_mutation_time_ms' exceeded"):
            await b.query("nondet:blocks_in_time_sleep")
        assert time.monotonic() - start < 0.8



async def test_a_caught_time_limit_fires_again():
    async with backend(query_mutation_time_ms=100) as b:
        with pytest.raises(FunctionFailed, match="limit 'query_mutation_time_ms' exceeded"):
            await b.query("nondet:spins_on_after_catching_the_timeout")


# A firing between a handler's call and its first step leaves its coroutine unstarted.
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
async def test_a_watchdog_firing_at_any_moment_of_an_execution_ends_it_and_goes_no_further(monkeypatch):
    """The watchdog's exception lands wherever the event-loop thread is when it fires. Here
    it fires without pause at executions that are overdue from the start, so it lands at
    every point of them, their last moments included: each must end as a result or as its
    own time-limit error, and nothing may reach the code that runs after it."""
    async with backend() as b:
        await b.mutation("users:add", {"name": "ada"})
        monkeypatch.setattr(runner, "_watchdog", runner._Watchdog(poll_s=0.0001, grace_s=-3600.0))
        # Firings that land in a weakref callback or a __del__ go to sys.unraisablehook, are
        # only printed there, and are followed by the next one: not this test's business.
        previous_hook = sys.unraisablehook
        monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: None if isinstance(
            unraisable.exc_value, runner._ExecutionTimeout) else previous_hook(unraisable))
        endings = set()
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # the threads take turns as often as CPython lets them
        try:
            for _ in range(2000):
                try:
                    endings.add(len(await b.query("users:all", {"table": "users"})))
                except FunctionFailed as failure:
                    assert "limit 'query_mutation_time_ms' exceeded" in str(failure)
                    endings.add("timeout")
        finally:
            sys.setswitchinterval(interval)
        assert "timeout" in endings
        monkeypatch.undo()
        assert len(await b.query("users:all", {"table": "users"})) == 1
