"""End-to-end fixtures: a real `prefmem dev` process on 127.0.0.1 serving a sample app."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from tests.helpers.server import APPS, ROOT, RunningServer, free_port  # noqa: F401 — re-exported for the tests

JS = ROOT / "tests" / "js"


@pytest.fixture
def chat_server(database):
    """The chat app served on this test's engine (a SQLite file, or a PostgreSQL schema)."""
    server = RunningServer("chat", database).start()
    yield server
    server.stop()


@pytest.fixture
def feed_server(database):
    server = RunningServer("feed", database).start()
    yield server
    server.stop()


class ClientDriver:
    """An official client in its own process, driven by JSON lines.

    Commands go to its stdin as JSON lines; its JSON events are kept in ``events`` (in
    arrival order), and any other line of output (the client's console output, such as
    function log lines) in ``console``.
    """

    def __init__(self, cmd: list[str]) -> None:
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.events: list[dict] = []
        self.console: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait(lambda e: e["ev"] == "ready", 15)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            with self._cond:
                try:
                    self.events.append(json.loads(line)) if line.startswith("{") else self.console.append(line)
                except json.JSONDecodeError:
                    self.console.append(line)
                self._cond.notify_all()

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def wait(self, pred: Callable[[dict], bool], timeout: float = 10.0, since: int = 0) -> dict:
        """The first event from index ``since`` on that matches ``pred`` (waiting for it)."""
        deadline = time.monotonic() + timeout
        i = since
        with self._cond:
            while True:
                while i < len(self.events):
                    event = self.events[i]
                    i += 1
                    if event["ev"] == "driverError":
                        raise AssertionError(event["message"])
                    if pred(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching event from the client in {timeout} s; events: {self.events[since:][-10:]}; "
                                         f"console: {self.console[-20:]}")
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(f"client exited ({self.proc.returncode}): {self.console[-20:]}")
                self._cond.wait(min(left, 0.2))

    def call(self, op: str, path: str, args: dict | None = None, *, client: str = "a", timeout: float = 10.0,
             **extra: Any) -> dict:
        """Run a mutation/action (or ``op="http"`` with ``method=``) and return its result or error event."""
        key = f"{op}-{time.monotonic_ns()}"
        self.send(op=op, key=key, path=path, args=args or {}, client=client, **extra)
        return self.wait(lambda e: e.get("key") == key and e["ev"] in ("result", "error"), timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send(op="close")
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


class NodeDriver(ClientDriver):
    """The official npm clients (``ConvexClient`` and ``ConvexHttpClient``) via ``tests/js/driver.mjs``."""

    def __init__(self, url: str) -> None:
        node = shutil.which("node")
        if node is None or not (JS / "node_modules" / "convex").is_dir():
            pytest.skip("node and tests/js/node_modules are needed (make test installs them)")
        super().__init__([node, str(JS / "driver.mjs"), url])


class PyDriver(ClientDriver):
    """The official Python ``ConvexClient`` via ``tests/e2e/py_driver.py`` (never in the server's process)."""

    def __init__(self, url: str) -> None:
        super().__init__([sys.executable, str(Path(__file__).with_name("py_driver.py")), url])


def _driver_fixture(cls):
    drivers: list[ClientDriver] = []

    def start(url: str) -> ClientDriver:
        driver = cls(url)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.close()


@pytest.fixture
def node_driver():
    yield from _driver_fixture(NodeDriver)


@pytest.fixture
def py_driver():
    yield from _driver_fixture(PyDriver)


def next_different(updates, previous, limit: int = 20):
    """The next value a Python-client subscription yields that differs from ``previous``.

    The official client may yield the unchanged value again on Transitions that carry
    other news (a mutation's resolution, another query's update).
    """
    for _ in range(limit):
        value = next(updates)
        if value != previous:
            return value
    raise AssertionError(f"the subscription kept yielding {previous!r}")
