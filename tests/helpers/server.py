"""A real `prefmem dev` process on 127.0.0.1 for end-to-end tests (e2e, app, web)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from prefmem.processes import running as process_running  # noqa: F401 — for the tests that kill servers

ROOT = Path(__file__).resolve().parent.parent.parent
APPS = ROOT / "tests" / "apps"
RELOADED = "prefmem: reloaded functions from"  # what `prefmem dev` logs after each reload


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningServer:
    """``prefmem dev`` on an app folder (a name under tests/apps, or a path), a database and a
    free port. Its output goes to a log file (a pipe nobody reads would fill and stall it)."""

    def __init__(self, app: str | Path, db: Path | str, extra: list[str] | None = None, watch: bool = False,
                 env: dict[str, str] | None = None, log: Path | None = None) -> None:
        self.app_dir = app if isinstance(app, Path) else APPS / app
        self.db = db
        self.extra = extra or []
        self.watch = watch
        self.env = env or {}
        self.log = log or Path(tempfile.mkstemp(prefix="prefmem-server-", suffix=".log")[1])
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "RunningServer":
        cmd = [sys.executable, "-m", "prefmem", "dev", "--functions", str(self.app_dir / "functions"),
               "--schema", str(self.app_dir / "schema.py"), "--db", str(self.db), "--port", str(self.port),
               *([] if self.watch else ["--no-watch"]), *self.extra]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=self.app_dir, stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.output()}")
            try:
                httpx.get(self.url + "/version", timeout=0.5)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"the server did not start in 20 s:\n{self.output()}")

    def admin_key(self) -> str:
        """The deployment's admin key: next to its SQLite file, or in its PostgreSQL database."""
        from prefmem.auth.keys import ADMIN_KEY_FILE
        from prefmem.persistence.engines import is_postgres

        if is_postgres(str(self.db)):
            import psycopg

            with psycopg.connect(str(self.db)) as conn:
                return conn.execute("SELECT value FROM secrets WHERE name = %s", (ADMIN_KEY_FILE,)).fetchone()[0]
        return (Path(self.db).parent / ADMIN_KEY_FILE).read_text().strip()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def edit(self, path: Path, text: str, timeout: float = 20.0) -> None:
        """Write ``text`` to ``path`` and return once the server has reloaded its code.

        Nothing says when the dev server's file watcher has started watching, and an edit
        made before then goes unseen: the same text is written again, each second, until a
        reload shows in the output (reloading the same code twice changes nothing).
        """
        reloads = self.output().count(RELOADED)
        deadline = time.monotonic() + timeout
        while True:
            path.write_text(text)
            retry = min(deadline, time.monotonic() + 1.0)
            while time.monotonic() < retry:
                if self.output().count(RELOADED) > reloads:
                    return
                time.sleep(0.05)
            if time.monotonic() >= deadline:
                raise AssertionError(f"no reload of {path} in {timeout} s; server output:\n{self.output()}")

    def function(self, kind: str, path: str, args: dict, token: str | None = None,
                 timeout: float = 60.0) -> httpx.Response:
        """A call over the HTTP function API (``kind``: query, mutation, action), as the
        holder of ``token`` if given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(f"{self.url}/api/{kind}", json={"path": path, "args": args, "format": "convex_encoded_json"},
                          headers=headers, timeout=timeout)

    def rss_bytes(self) -> int:
        """The server process's resident memory now."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """End the server abruptly (SIGKILL): no socket is closed politely. Its worker
        processes (with ``--workers``) stop after it; this returns once they have, since
        until then they would answer a restarted server's readiness check themselves."""
        if self.proc is not None and self.proc.poll() is None:
            workers = self.workers()
            self.proc.kill()
            self.proc.wait()
            wait_until(lambda: not any(process_running(pid) for pid in workers), "the killed server's workers to exit",
                       30)

    def restart(self) -> "RunningServer":
        """Kill the server and start a new one on the same port and database."""
        self.kill()
        return self.start()

    def workers(self) -> list[int]:
        """The server's child processes: its workers, with ``--workers``."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
            return [int(pid) for pid in f.read().split()]




def dead_pid() -> int:
    """The pid of a process that ran and was reaped: it names no process now."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def wait_until(predicate, what: str, timeout: float = 60.0) -> None:
    """Poll ``predicate`` until it holds; fail saying ``what`` did not happen in ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
