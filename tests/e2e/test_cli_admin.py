"""`prefmem run` against a database a server is serving goes through that server as admin."""

from __future__ import annotations

import pytest

import subprocess
import sys

from convex import ConvexClient

from tests.e2e.conftest import next_different

pytestmark = pytest.mark.engines


def _prefmem(server, *argv):
    return subprocess.run([sys.executable, "-m", "prefmem", *argv, "--functions", str(server.app_dir / "functions"),
                           "--schema", str(server.app_dir / "schema.py"), "--db", str(server.db)],
                          capture_output=True, text=True, timeout=60)


def test_run_calls_internal_functions_through_the_running_server(chat_server):
    """On SQLite ``run`` finds the server of the file and goes through it; on PostgreSQL it
    runs in its own process, as one more node, and the server sees the commit all the same."""
    client = ConvexClient(chat_server.url)
    channel = client.mutation("messages:create_channel", {"name": "ops"})
    client.mutation("messages:send", {"channel": channel, "body": "to be wiped"})
    updates = iter(client.subscribe("messages:recent", {"channel": channel}))
    first = next(updates)
    assert [m["body"] for m in first] == ["to be wiped"]
    done = _prefmem(chat_server, "run", "messages:wipe", "{}")
    assert done.returncode == 0, done.stderr
    # The server ran it, so the live subscription saw the change.
    assert next_different(updates, first) == []


def test_run_refuses_a_wrong_admin_key(chat_server, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "admin_key").write_text("prefmem-admin|not-the-key\n")
    done = subprocess.run([sys.executable, "-m", "prefmem", "run", "messages:wipe", "{}", "--url", chat_server.url,
                           "--db", str(elsewhere / "data.sqlite3")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout
    assert "admin key" in done.stderr, done.stderr


def test_logs_shows_executions_with_their_log_lines(chat_server, engine):
    client = ConvexClient(chat_server.url)
    channel = client.mutation("messages:create_channel", {"name": "logs"})
    client.mutation("messages:send", {"channel": channel, "body": "traced"})
    # A PostgreSQL deployment has many nodes: name the one to follow.
    where = ["--url", chat_server.url] if engine == "postgresql" else []
    done = _prefmem(chat_server, "logs", "--no-follow", "--history", "5", *where)
    assert done.returncode == 0, done.stderr
    assert "[mutation] messages:send ok" in done.stdout
    assert "[LOG] sending traced" in done.stdout
