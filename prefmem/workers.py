"""N worker processes serving one port, each listening on a socket of its own.

Every worker binds its own listening socket to the address with ``SO_REUSEPORT``, and the
kernel hands each new connection to one of them by a hash of the connection's addresses,
so connections spread evenly however they arrive. Why not uvicorn's supervisor: it binds
one socket and gives it to every worker, and the workers then race to accept from one
queue; a burst of connections (clients reconnecting after a restart, a page opened by many
at once) goes mostly to whichever worker wakes first: ``bench/workers`` measured a median
of 15 of 16 simultaneous connections on one of two workers, and 65 % of 64.

A worker that dies takes its socket out of the kernel's choice at once, so new
connections go to the live workers until the parent's replacement listens. The parent
keeps the address bound without listening (no connection ever waits on its socket): a
taken port fails at start, and the address stays the deployment's while workers come and
go. Workers get SIGTERM if the parent dies, so none outlives it.

Each worker also serves on a unix socket of its own, where its siblings reach it for what
only it holds in memory (``prefmem/siblings.py``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from typing import Any

from prefmem import siblings
from prefmem.siblings import SIBLINGS_ENV

log = logging.getLogger("prefmem.workers")

STARTUP_FAILURE = 3  # the exit code of a worker whose app did not start (uvicorn's)
_CHECK_S = 0.5  # how often the parent looks for workers that exited
_STOP_S = 30.0  # how long a worker may take to shut down before it is killed


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``(host, port)`` that other sockets of this user may share."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _die_with_parent(parent: int) -> None:
    """First thing in a worker: SIGTERM when the parent exits (Linux's prctl), so that no
    worker keeps serving the port after a parent that was killed."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl
        raise SystemExit(0)


def run_workers(app: str, *, host: str, port: int, workers: int, log_level: str, options: dict[str, Any],
                inherit: tuple[int, ...] = ()) -> None:
    """Serve ``app`` (the import string of an app factory, ``module:function``) from
    ``workers`` processes on ``host:port`` until SIGINT or SIGTERM; a worker that exits
    is replaced, unless its app failed to start (then every worker is stopped and this
    raises ``SystemExit``). Every worker keeps the descriptors ``inherit`` open (a lock
    that must outlive this process while any worker runs)."""
    reserve = reuseport_socket(host, port)
    spec = json.dumps({"app": app, "host": host, "port": port, "log_level": log_level, "options": options,
                       "parent": os.getpid()})
    directory = siblings.make_directory()  # the workers' own sockets
    env = {**os.environ, SIBLINGS_ENV: directory}

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "prefmem.workers", spec], env=env, pass_fds=inherit)

    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs: list[subprocess.Popen] = []
    failed = False
    try:
        procs = [start() for _ in range(workers)]
        while not stopping.wait(_CHECK_S):
            for i, proc in enumerate(procs):
                code = proc.poll()
                if code is None:
                    continue
                if code == STARTUP_FAILURE:
                    log.error("prefmem: worker %d could not start; stopping", proc.pid)
                    failed = True
                    stopping.set()
                    break
                log.warning("prefmem: worker %d exited (%s); starting another", proc.pid, code)
                procs[i] = start()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(_STOP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reserve.close()
        shutil.rmtree(directory, ignore_errors=True)
    if failed:
        raise SystemExit(STARTUP_FAILURE)


def serve_worker(spec: dict[str, Any]) -> None:
    """One worker: its own listening socket on the shared address, and uvicorn on it."""
    _die_with_parent(spec["parent"])
    import uvicorn

    try:
        sock = reuseport_socket(spec["host"], spec["port"])
    except OSError as err:
        print(f"prefmem: worker could not bind {spec['host']}:{spec['port']}: {err}", file=sys.stderr)
        raise SystemExit(STARTUP_FAILURE) from err
    config = uvicorn.Config(spec["app"], factory=True, host=spec["host"], port=spec["port"],
                            log_level=spec["log_level"], **spec["options"])
    uvicorn.Server(config).run(sockets=[sock, siblings.bind(os.environ[SIBLINGS_ENV])])


if __name__ == "__main__":
    serve_worker(json.loads(sys.argv[1]))
