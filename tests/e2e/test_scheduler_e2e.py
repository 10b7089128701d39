"""The scheduler and crons through the official Python client, including crashes."""

from __future__ import annotations

import secrets
import time

import pytest
from convex import ConvexClient

from tests.e2e.conftest import RunningServer, next_different

pytestmark = pytest.mark.engines


@pytest.fixture
def jobs_server(database):
    server = RunningServer("jobs", database).start()
    yield server
    server.stop()


def _wait(predicate, timeout: float = 10.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


def _barrier(client: ConvexClient, delay_ms: float) -> None:
    """Schedule a mutation ``delay_ms`` from now and wait until it has run. The scheduler
    starts due jobs oldest first and their mutations commit in that order, so by then every
    mutation job due earlier has committed: what it has not done, it never will. A test
    shows that something did not happen this way, not by sleeping."""
    label = f"barrier-{secrets.token_hex(4)}"
    client.mutation("tasks:later", {"label": label, "delay": delay_ms})
    _wait(lambda: client.query("tasks:count", {"label": label}) == 1)


def _kill_and_restart(server: RunningServer) -> RunningServer:
    """SIGKILL the server mid-work and start a new one on the same port and database."""
    return server.restart()


def test_scheduled_effect_reaches_a_subscribed_query(jobs_server):
    client = ConvexClient(jobs_server.url)
    updates = iter(client.subscribe("tasks:count", {"label": "soon"}))
    assert next(updates) == 0
    client.mutation("tasks:later", {"label": "soon", "delay": 0})
    assert next_different(updates, 0) == 1


def test_failed_and_cancelled_jobs(jobs_server):
    client = ConvexClient(jobs_server.url)
    failing = client.mutation("tasks:later_failing", {"label": "bad"})
    later = client.mutation("tasks:later", {"label": "never", "delay": 1500})
    client.mutation("tasks:cancel", {"id": later})
    job = _wait(lambda: (j := client.query("tasks:job", {"id": failing}))["state"]["kind"] != "pending" and j)
    assert job["state"]["kind"] == "failed" and "scheduled failure" in job["state"]["error"]
    assert client.query("tasks:count", {"label": "bad"}) == 0
    _barrier(client, 1600)  # due after the cancelled job would have been
    assert client.query("tasks:count", {"label": "never"}) == 0
    assert client.query("tasks:job", {"id": later})["state"] == {"kind": "canceled"}


def test_cron_runs_on_its_interval(jobs_server):
    client = ConvexClient(jobs_server.url)
    assert _wait(lambda: client.query("tasks:count", {"label": "tick"}) >= 3, timeout=10)


def test_action_cut_off_by_a_crash_is_failed_not_rerun(tmp_path):
    server = RunningServer("jobs", tmp_path / "data.sqlite3").start()
    client = ConvexClient(server.url)
    job_id = client.mutation("tasks:start_slow_action", {"label": "slow", "seconds": 30})
    _wait(lambda: client.query("tasks:count", {"label": "slow:started"}) == 1)
    restarted = _kill_and_restart(server)
    try:
        client = ConvexClient(restarted.url)
        job = _wait(lambda: (j := client.query("tasks:job", {"id": job_id}))["state"]["kind"] == "failed" and j)
        assert "actions are never retried" in job["state"]["error"]
        _barrier(client, 0)  # a rerun would have been marked in progress before it ran
        assert client.query("tasks:job", {"id": job_id})["state"]["kind"] == "failed"
        assert client.query("tasks:count", {"label": "slow:started"}) == 1  # not run again
        assert client.query("tasks:count", {"label": "slow:finished"}) == 0
    finally:
        restarted.stop()


def test_pending_mutations_run_exactly_once_after_a_kill(tmp_path):
    server = RunningServer("jobs", tmp_path / "data.sqlite3").start()
    client = ConvexClient(server.url)
    for i in range(5):
        client.mutation("tasks:later", {"label": f"after-{i}", "delay": 1500})
    restarted = _kill_and_restart(server)
    try:
        client = ConvexClient(restarted.url)
        _wait(lambda: all(client.query("tasks:count", {"label": f"after-{i}"}) == 1 for i in range(5)))
        _barrier(client, 0)  # a second run of any of them would be due before it
        assert [client.query("tasks:count", {"label": f"after-{i}"}) for i in range(5)] == [1] * 5
        assert all(j["state"]["kind"] == "success" for j in client.query("tasks:jobs", {})
                   if j["name"] == "tasks:record" and j["args"][0]["label"].startswith("after-"))
    finally:
        restarted.stop()
