"""End-to-end fixtures: a real `prefmem dev` process on 127.0.0.1 serving a sample app."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

APPS = Path(__file__).resolve().parent.parent / "apps"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningServer:
    def __init__(self, app: str, db: Path, extra: list[str] | None = None) -> None:
        self.app_dir = APPS / app
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra = extra or []
        self.proc: subprocess.Popen | None = None

    def start(self) -> "RunningServer":
        cmd = [sys.executable, "-m", "prefmem", "dev", "--functions", str(self.app_dir / "functions"),
               "--schema", str(self.app_dir / "schema.py"), "--db", str(self.db), "--port", str(self.port),
               "--no-watch", *self.extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stdout.read().decode()}")  # type: ignore[union-attr]
            try:
                httpx.get(self.url + "/version", timeout=0.5)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in 20 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def chat_server(tmp_path):
    server = RunningServer("chat", tmp_path / "data.sqlite3").start()
    yield server
    server.stop()
