"""Stopping is bounded: SIGTERM with functions still running ends the process within the grace
period plus a little; a cancelled scheduled action is recorded as failed and never runs again."""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import httpx

from prefmem.backend import Backend

from tests.helpers.server import APPS, RunningServer, wait_until


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
