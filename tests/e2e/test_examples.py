"""The examples run end to end: the chat app, and both client scripts against it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import httpx
import pytest

from tests.e2e.conftest import JS, ROOT, RunningServer

EXAMPLES = ROOT / "examples"


@pytest.fixture
def example_chat(tmp_path):
    server = RunningServer(EXAMPLES / "chat", tmp_path / "chat.sqlite3").start()
    yield server
    server.stop()


def _call(server, kind: str, path: str, args: dict) -> dict:
    return httpx.post(f"{server.url}/api/{kind}", json={"path": path, "args": [args]}, timeout=10).json()


def test_python_client_example(example_chat):
    out = subprocess.run([sys.executable, str(EXAMPLES / "python_client.py"), "--url", example_chat.url,
                          "--message", "hello from a test"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert "#general now (0 messages)" in out
    assert "#general after sending (1 messages)\n  python: hello from a test" in out
    assert "refused an empty message: {'code': 'EMPTY'" in out
    assert "search 'hello': 1 match(es)" in out
    assert "[LOG] python -> hello from a test" in out  # the client prints the mutation's log line


def test_node_client_example(example_chat, tmp_path):
    node = shutil.which("node")
    modules = EXAMPLES / "node_modules" if (EXAMPLES / "node_modules" / "convex").is_dir() else JS / "node_modules"
    if node is None or not (modules / "convex").is_dir():
        pytest.skip("node and the npm convex package are needed (make test installs them)")
    # Run a copy next to installed packages, so the test needs no `npm ci` in examples/.
    shutil.copy(EXAMPLES / "node_client.mjs", tmp_path / "node_client.mjs")
    (tmp_path / "node_modules").symlink_to(modules)
    (tmp_path / "package.json").write_text('{"type": "module"}')
    result = subprocess.run([node, str(tmp_path / "node_client.mjs"), example_chat.url],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "saw my own message arrive" in out
    assert 'refused an empty message: {"code":"EMPTY"' in out
    assert "typing: node" in out and "typing: nobody" in out  # the scheduled expiry ran
    assert 'summary: {"messages":1,"byAuthor":{"node":1}}' in out


def test_chat_app_http_actions_pagination_search_and_cleanup(example_chat):
    url = example_chat.url
    for i in range(5):
        reply = httpx.post(f"{url}/chat/send", json={"channel": "random", "author": "curl", "body": f"note {i}"})
        assert reply.status_code == 200, reply.text
    channel = reply.json()["channel"]
    assert [m["body"] for m in httpx.get(f"{url}/chat/messages", params={"channel": "random"}).json()] == \
        [f"note {i}" for i in range(5)]

    first = _call(example_chat, "query", "messages:list", {"channel": channel,
                                                           "paginationOpts": {"numItems": 3, "cursor": None}})["value"]
    rest = _call(example_chat, "query", "messages:list", {
        "channel": channel, "paginationOpts": {"numItems": 3, "cursor": first["continueCursor"]}})["value"]
    assert not first["isDone"] and rest["isDone"]
    assert [m["body"] for m in first["page"] + rest["page"]] == [f"note {i}" for i in range(5)]

    found = _call(example_chat, "query", "messages:search", {"channel": channel, "text": "note"})["value"]
    assert len(found) == 5

    # Internal cleanup is not callable by clients.
    assert _call(example_chat, "mutation", "messages:trim", {"channel": channel, "keep": 2})["status"] == "error"

    # A typing indicator expires through the scheduler.
    _call(example_chat, "mutation", "typing:start", {"channel": channel, "user": "ann", "ttl_ms": 200})
    assert _call(example_chat, "query", "typing:who", {"channel": channel})["value"] == ["ann"]
    deadline = time.monotonic() + 10
    while _call(example_chat, "query", "typing:who", {"channel": channel})["value"] != []:
        assert time.monotonic() < deadline, "the typing indicator never expired"
        time.sleep(0.05)


def test_makefile_targets_are_documented():
    dry = subprocess.run(["make", "-n", "example-chat", "example-python", "example-node"], cwd=ROOT,
                         capture_output=True, text=True, timeout=30).stdout
    assert "prefmem dev --functions examples/chat/functions --schema examples/chat/schema.py" in dry
    assert "--port 3211" in dry and "examples/python_client.py" in dry and "node examples/node_client.mjs" in dry
    readme = (ROOT / "README.md").read_text()
    for target in ("make example-chat", "make example-python", "make example-node"):
        assert target in readme
