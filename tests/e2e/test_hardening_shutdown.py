"""Stopping is bounded: SIGTERM with functions still running ends the process within the grace
period plus a little; a cancelled scheduled action is recorded as failed and never runs again."""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import httpx

from prefmem.backend import Backend

from tests.helpers.server import APPS, RunningServer, process_running, wait_until


def scheduled_jobs(db) -> list[dict]:
    """``_scheduled_functions`` as the file holds it (opened without starting a scheduler)."""
    backend = Backend(functions=APPS / "hardening" / "functions", schema=APPS / "hardening" / "schema.py", db=db).open()
    try:
        return backend.documents("_scheduled_functions")
    finally:
        backend.close()


def test_sigterm_ends_the_server_and_fails_the_actions_it_cancels(tmp_path):
    db = tmp_path / "data.sqlite3"
    server = RunningServer("hardening", db, env={"PREFMEM_SHUTDOWN_GRACE_S": "1"}).start()
    try:
        outcome: dict = {}

        def await_hanging_action() -> None:  # a client waiting on an action over the HTTP API
            try:
                outcome["status"] = server.function("action", "slow:hang", {"label": "http"}, timeout=120).status_code
            except httpx.TransportError as err:
                outcome["error"] = err

        client = threading.Thread(target=await_hanging_action, daemon=True)
        client.start()
        assert server.function("mutation", "slow:schedule_hang", {"label": "scheduled"}).status_code == 200
        for label in ("http", "scheduled"):
            wait_until(lambda: server.function("query", "slow:started", {"label": label}).json()["value"] == 1,
                     f"the {label} action to start")

        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(30)  # grace 1 s; the action limit is 600 s
        except subprocess.TimeoutExpired:
            raise AssertionError("SIGTERM did not stop a server with a hanging action in 30 s") from None
        client.join(30)
        assert not client.is_alive() and outcome, "the waiting client was left hanging"
    finally:
        server.kill()

    # Recorded at shutdown, not left for the next start to find.
    [job] = scheduled_jobs(db)
    assert job["state"]["kind"] == "failed" and "cancelled" in job["state"]["error"], job

    server.start()
    try:
        jobs = server.function("query", "slow:jobs", {}).json()["value"]
        assert [j["state"]["kind"] for j in jobs] == ["failed"]
        assert server.function("query", "slow:started", {"label": "scheduled"}).json()["value"] == 1, "never rerun"
    finally:
        server.stop()


def test_a_new_deployment_waits_for_the_workers_of_a_killed_one(tmp_path):
    """SIGKILL of the parent leaves its workers stopping (one waits its grace period for a
    hanging action); a deployment started at once on the same file waits for them, instead
    of sharing the database and the port with them."""
    db = tmp_path / "data.sqlite3"
    old = RunningServer("hardening", db, extra=["--workers", "2"], env={"PREFMEM_SHUTDOWN_GRACE_S": "3"}).start()
    assert old.proc is not None
    workers = old.workers()
    assert len(workers) == 2
    threading.Thread(target=lambda: old.function("action", "slow:hang", {"label": "http"}, timeout=60),
                     daemon=True).start()
    wait_until(lambda: old.function("query", "slow:started", {"label": "http"}).json()["value"] == 1,
               "the action to start")
    old.proc.kill()  # the parent alone, as a crash of it would
    old.proc.wait()
    new = RunningServer("hardening", db, extra=["--workers", "2"]).start()
    try:
        assert not any(process_running(pid) for pid in workers), "the new deployment served beside the old workers"
        assert new.function("query", "slow:started", {"label": "http"}).json()["value"] == 1
    finally:
        new.stop()
