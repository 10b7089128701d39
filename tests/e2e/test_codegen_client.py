"""The generated API at run time: tests/codegen/ts/client.ts, type-checked and compiled by `tsc`
against tests/apps/typed's generated `api`, run by node with the official npm clients
(ConvexHttpClient and the websocket ConvexClient) against `prefmem dev`."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.helpers.server import APPS, RunningServer
from tests.helpers.typescript import tsc, typescript_project


@pytest.fixture
def typed_server(tmp_path):
    server = RunningServer("typed", tmp_path / "data.sqlite3").start()
    yield server
    server.stop()


def test_a_typed_client_calls_every_kind_of_function(typed_server, tmp_path):
    node = shutil.which("node")
    assert node is not None, "node is needed (make test installs the npm packages it runs)"
    project = typescript_project(tmp_path / "ts", APPS / "typed")
    status, errors, output = tsc(project, "client.ts", emit=True)
    assert (status, errors) == (0, []), output
    # Node 20 has the browser's WebSocket behind a flag; the ConvexClient uses it.
    ran = subprocess.run([node, "--experimental-websocket", "client.js", typed_server.url], cwd=project,
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stdout + ran.stderr + typed_server.output()
    printed = {row["label"]: row["value"] for row in map(json.loads, ran.stdout.splitlines()) if row.get("label")}
    assert printed == {
        "note": {"title": "first", "views": "3n", "author": True, "flags": {"pinned": True, "color": None},
                 "attachment": [1, 2, 255]},
        "renamed": "first",
        "page": 1,
        "literals": {"text": 'a "quoted" note', "half": 0.5, "three": "3n", "yes": True, "nothing": None},
        "bytes": [7, 8],
        "counts": 1,
        "action": 1,
        "live": [["second:3"], ["second:3", "third:10"]],
    }
