"""`prefmem dev` reloads changed code and reruns live queries with it."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from convex import ConvexClient
from watchfiles import Change

from prefmem import codegen
from prefmem.server import code_changes

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
        server.edit(source, source.read_text().replace('return "pong"', 'return "pong, reloaded"'))
        assert next_different(updates, "pong") == "pong, reloaded"
        assert client.query("messages:ping", {}) == "pong, reloaded"
    finally:
        server.stop()


def _wait_for(predicate, what: str, server: RunningServer, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in {timeout} s; server output:\n{server.output()}")
        time.sleep(0.05)


def test_dev_keeps_the_typescript_api_current(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(APPS / "typed", app)
    generated = app / "functions" / "_generated"
    snapshot = Path(__file__).parents[1] / "codegen" / "snapshots" / "apps" / "typed"
    server = RunningServer(app, tmp_path / "data.sqlite3", watch=True).start()
    try:
        # Written at start, before the server answers.
        assert {f.name: f.read_text() for f in generated.iterdir()} == {f.name: f.read_text() for f in snapshot.iterdir()}
        assert f"prefmem: regenerated {generated} (api.d.ts, api.js, dataModel.d.ts, api.py)" in server.output()

        notes = app / "functions" / "notes.py"
        server.edit(notes, notes.read_text() + '\n\n@query(args={"n": v.int64()}, returns=v.string())\n'
                    'async def fresh(ctx, args):\n    return str(args["n"])\n')
        fresh = 'fresh: FunctionReference<"query", "public", { n: bigint }, string>;'
        _wait_for(lambda: fresh in (generated / "api.d.ts").read_text(), "regenerating api.d.ts", server)
        _wait_for(lambda: f"prefmem: regenerated {generated} (api.d.ts, api.py)" in server.output(), "the line", server)
        assert "def notes_fresh(client: ConvexClient, args: NotesFreshArgs) -> NotesFreshResult:" in \
            (generated / "api.py").read_text()

        schema = app / "schema.py"
        schema.write_text(schema.read_text().replace('"name": v.string(),', '"name": v.string(), "age": v.int64(),'))
        _wait_for(lambda: "age: bigint;" in (generated / "dataModel.d.ts").read_text(), "regenerating the data model",
                  server)
        _wait_for(lambda: f"prefmem: regenerated {generated} (dataModel.d.ts, api.py)" in server.output(), "the line",
                  server)
    finally:
        server.stop()


def test_the_watcher_ignores_the_generated_files(tmp_path):
    functions = tmp_path / "functions"
    is_code = code_changes(functions / "_generated")
    assert is_code(Change.modified, str(functions / "notes.py"))
    assert not is_code(Change.modified, str(functions / "_generated" / "api.d.ts"))
    assert not is_code(Change.added, str(functions / "__pycache__" / "notes.cpython-312.pyc"))  # as watchfiles' default
    assert code_changes(None)(Change.modified, str(functions / "_generated" / "api.d.ts"))


def test_dev_writes_the_typescript_api_where_told_or_not_at_all(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(APPS / "typed", app)
    elsewhere = tmp_path / "web" / "src" / "_generated"
    server = RunningServer(app, tmp_path / "a.sqlite3", watch=True, extra=["--codegen-out", str(elsewhere)]).start()
    try:  # written at start, before the server answers
        assert sorted(f.name for f in elsewhere.iterdir()) == sorted(codegen.FILES)
        assert not (app / "functions" / "_generated").exists()
    finally:
        server.stop()
    shutil.rmtree(elsewhere)
    server = RunningServer(app, tmp_path / "b.sqlite3", watch=True, extra=["--no-codegen"]).start()
    try:
        assert not elsewhere.exists() and not (app / "functions" / "_generated").exists()
        assert "regenerated" not in server.output()
    finally:
        server.stop()
