"""`prefmem dev` reloads changed code and reruns live queries with it."""

from __future__ import annotations

import shutil
import time

from convex import ConvexClient

from tests.e2e.conftest import APPS, RunningServer, next_different


def test_editing_a_function_updates_a_live_subscription(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(APPS / "chat", app)
    server = RunningServer(app, tmp_path / "data.sqlite3", watch=True).start()
    try:
        client = ConvexClient(server.url)
        updates = iter(client.subscribe("messages:ping", {}))
        assert next(updates) == "pong"
        source = app / "functions" / "messages.py"
        time.sleep(0.3)  # let the watcher settle before the edit
        source.write_text(source.read_text().replace('return "pong"', 'return "pong, reloaded"'))
        assert next_different(updates, "pong") == "pong, reloaded"
        assert client.query("messages:ping", {}) == "pong, reloaded"
    finally:
        server.stop()
