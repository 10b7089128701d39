"""The scheduler through prefmem.testing: atomic scheduling, exactly-once mutations, states."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefmem.runner import FunctionFailed
from prefmem.scheduler.crons import CronRunner
from prefmem.testing import TestBackend

pytestmark = pytest.mark.engines

APP = Path(__file__).resolve().parent.parent / "apps" / "jobs"


@pytest.fixture
async def backend():
    async with TestBackend(APP / "functions", APP / "schema.py") as b:
        yield b


async def test_run_after_runs_when_due_and_marks_success(backend):
    job_id = await backend.mutation("tasks:later", {"label": "x", "delay": 60_000})
    assert await backend.run_scheduled() == 0  # not due yet
    job = await backend.query("tasks:job", {"id": job_id})
    assert job["state"] == {"kind": "pending"} and job["name"] == "tasks:record"
    assert job["args"] == [{"label": "x"}]
    backend.clock.advance(60_000)
    assert await backend.run_scheduled() == 1
    assert await backend.query("tasks:count", {"label": "x"}) == 1
    job = await backend.query("tasks:job", {"id": job_id})
    assert job["state"] == {"kind": "success"} and job["completedTime"] >= job["scheduledTime"]
    assert await backend.run_scheduled() == 0  # exactly once


async def test_failed_scheduled_mutation_is_failed_and_its_writes_absent(backend):
    job_id = await backend.mutation("tasks:later_failing", {"label": "bad"})
    await backend.run_scheduled()
    job = await backend.query("tasks:job", {"id": job_id})
    assert job["state"]["kind"] == "failed" and "scheduled failure" in job["state"]["error"]
    assert await backend.query("tasks:count", {"label": "bad"}) == 0


async def test_scheduling_is_atomic_with_the_mutation(backend):
    with pytest.raises(FunctionFailed):
        await backend.mutation("tasks:schedule_then_raise", {"label": "ghost"})
    assert await backend.query("tasks:jobs", {}) == []
    await backend.run_scheduled()
    assert await backend.query("tasks:count", {"label": "ghost"}) == 0


async def test_cancelled_job_never_runs(backend):
    job_id = await backend.mutation("tasks:later", {"label": "c", "delay": 1000})
    await backend.mutation("tasks:cancel", {"id": job_id})
    backend.clock.advance(5000)
    assert await backend.run_scheduled() == 0
    assert await backend.query("tasks:count", {"label": "c"}) == 0
    assert (await backend.query("tasks:job", {"id": job_id}))["state"] == {"kind": "canceled"}


@pytest.mark.parametrize("action", [False, True], ids=["mutation", "action"])
async def test_a_job_that_cancels_itself_while_running_ends_canceled(backend, action):
    """As in Convex: the job's own cancel is its final state, not the ``success`` of finishing."""
    job_id = await backend.mutation("tasks:schedule_self_cancelling", {"label": "self", "action": action})
    assert await backend.run_scheduled() == 1
    job = await backend.query("tasks:job", {"id": job_id})
    assert job["state"] == {"kind": "canceled"} and job["completedTime"] >= job["scheduledTime"]
    assert await backend.query("tasks:count", {"label": "self"}) == 1  # it ran, and what it wrote stays
    assert await backend.run_scheduled() == 0


async def test_action_can_schedule_immediately(backend):
    job_id = await backend.action("tasks:schedule_from_action", {"label": "from-action"})
    assert (await backend.query("tasks:job", {"id": job_id}))["state"] == {"kind": "pending"}
    await backend.run_scheduled()
    assert await backend.query("tasks:count", {"label": "from-action"}) == 1


async def test_scheduled_action_runs_once_and_succeeds(backend):
    job_id = await backend.mutation("tasks:start_slow_action", {"label": "a", "seconds": 0.01})
    await backend.run_scheduled()
    assert (await backend.query("tasks:job", {"id": job_id}))["state"] == {"kind": "success"}
    assert await backend.query("tasks:labels", {}) == ["a:finished", "a:started"]


async def test_functions_scheduled_limit(tmp_path):
    from prefmem.limits import Limits

    async with TestBackend(APP / "functions", APP / "schema.py", limits=Limits(functions_scheduled=3)) as b:
        await b.mutation("tasks:fan_out", {"label": "ok", "count": 3})
        with pytest.raises(FunctionFailed, match="functions_scheduled"):
            await b.mutation("tasks:fan_out", {"label": "too-many", "count": 4})
        assert len(await b.query("tasks:jobs", {})) == 3


async def test_completed_jobs_are_purged_after_seven_days(backend):
    await backend.mutation("tasks:later", {"label": "old", "delay": 0})
    await backend.run_scheduled()
    backend.clock.advance(6 * 24 * 3600 * 1000)
    assert await backend.executor.purge() == 0
    backend.clock.advance(2 * 24 * 3600 * 1000)
    assert await backend.executor.purge() == 1
    assert await backend.query("tasks:jobs", {}) == []


async def test_crons_describe_their_schedule_and_latest_run(backend):
    crons = CronRunner(backend.app)
    crons.start()
    crons.scheduler.pause()  # the test runs the job itself, once
    try:
        (tick,) = crons.describe()
        assert tick["name"] == "tick" and tick["function"] == "tasks:record" and tick["schedule"] == "every 1 seconds"
        assert tick["args"] == {"label": "tick"} and tick["lastRun"] is None and tick["nextRun"] > 0
        job = crons.scheduler.get_job("tick")
        started = backend.clock.now_ms()
        backend.clock.advance(25)
        await job.func(*job.args)  # one run, exactly as the scheduler makes it
        (tick,) = crons.describe()
        assert tick["runs"] == 1 and tick["lastRun"] == {"startedAt": started + 25, "finishedAt": started + 25,
                                                         "error": None}
        assert await backend.query("tasks:count", {"label": "tick"}) == 1
    finally:
        crons.stop()
