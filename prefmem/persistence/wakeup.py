"""Wake-ups between the processes of one machine that share a SQLite database.

After a commit, a process sends a datagram (the commit's timestamp) to every other
process's socket in the database's peer directory; a woken process reads the new commits from the
database's write log, which stays the truth: a lost datagram only delays a process until
its next periodic look. Unix datagram sockets cost nothing while idle, unlike polling
the database every millisecond, and wake a peer within microseconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import socket
import tempfile
import time
from pathlib import Path
from typing import Callable

from prefmem.processes import private_directory

log = logging.getLogger("prefmem.persistence")

_REFRESH_S = 1.0  # how often the list of peers is read again (new workers appear)


def peer_directory(db_path: str) -> Path:
    """Where the processes of one database find each other. Under the temporary directory,
    not beside the database: a socket's path must stay under 108 bytes."""
    digest = hashlib.sha256(os.path.realpath(db_path).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"prefmem-{os.getuid()}-{digest}"


class Wakeups:
    def __init__(self, db_path: str) -> None:
        self.directory = private_directory(peer_directory(db_path))
        self.path = self.directory / f"{os.getpid()}-{secrets.token_hex(4)}.sock"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.path))
        self._sock.setblocking(False)
        self._peers: list[str] = []
        self._listed_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def _list_peers(self) -> list[str]:
        now = time.monotonic()
        if now - self._listed_at > _REFRESH_S:
            own = self.path.name
            try:
                self._peers = [str(self.directory / name) for name in os.listdir(self.directory)
                               if name.endswith(".sock") and name != own]
            except OSError:
                self._peers = []
            self._listed_at = now
        return self._peers

    def notify(self, ts: int) -> None:
        """Tell every other process that a commit at ``ts`` happened."""
        payload = ts.to_bytes(8, "little")
        gone = []
        for peer in self._list_peers():
            try:
                self._sock.sendto(payload, peer)
            except BlockingIOError:
                pass  # its queue is full: it has wake-ups waiting already
            except (ConnectionRefusedError, FileNotFoundError):
                gone.append(peer)  # a process that died without cleaning up
            except OSError as err:
                log.debug("wake-up to %s failed: %s", peer, err)
        for peer in gone:
            try:
                os.unlink(peer)
            except OSError:
                pass
            self._listed_at = 0.0

    def listen(self, on_wake: Callable[[], None]) -> None:
        """Call ``on_wake`` (on the running loop) whenever other processes committed."""
        self._loop = asyncio.get_running_loop()

        def readable() -> None:
            woke = False
            while True:
                try:
                    self._sock.recv(64)
                    woke = True
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
            if woke:
                on_wake()

        self._loop.add_reader(self._sock.fileno(), readable)

    def close(self) -> None:
        if self._loop is not None:
            try:
                self._loop.remove_reader(self._sock.fileno())
            except (ValueError, RuntimeError):
                pass
        self._sock.close()
        try:
            self.path.unlink()
        except OSError:
            pass
