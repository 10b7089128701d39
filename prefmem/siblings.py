"""The other worker processes of a deployment, for what each keeps in its own memory: the
executions it ran (``prefmem logs``, the dashboard's Logs and Functions views), its
counters (the dashboard's health figures) and, in the one that runs them, the crons'
latest runs (the dashboard's Schedules view).

Every worker of ``prefmem dev --workers N`` serves its HTTP API on the shared port and on
a unix socket of its own, ``<pid>.sock`` in a directory its parent makes for the
deployment (private to the user, named by ``PREFMEM_SIBLINGS``). A worker asked for the
deployment's log fetches what its siblings ran since it last asked, over those sockets,
and keeps it with its own executions. Executions and crons are fetched only while someone
reads them; counters at each health sample (every 5 s), which keeps the hour of history
the Health view shows: one small request per sibling, off every function's path.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

import httpx

from prefmem import processes
from prefmem.logs import ExecutionLog

log = logging.getLogger("prefmem.siblings")

SIBLINGS_ENV = "PREFMEM_SIBLINGS"  # the directory of the workers' sockets, set by their parent
_REPLY_S = 10.0  # how long a sibling may take to answer, beyond the wait it was asked for


def make_directory() -> str:
    """A new directory for one deployment's worker sockets, ``<parent pid>-*`` under a base
    private to the user. A parent that was killed could not remove its own: those of
    parents that no longer run are removed here."""
    base = processes.private_directory(Path(tempfile.gettempdir()) / f"prefmem-siblings-{os.getuid()}")
    for old in base.iterdir():
        parent = old.name.split("-", 1)[0]
        if parent.isdigit() and not processes.running(int(parent)):
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=base)


def bind(directory: str) -> socket.socket:
    """This worker's socket in its deployment's directory."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(Path(directory) / f"{os.getpid()}.sock"))
    return sock


class Siblings:
    def __init__(self, directory: str | Path, admin_key: str) -> None:
        self.directory = Path(directory)
        self._own = f"{os.getpid()}.sock"
        self._headers = {"Authorization": f"Convex {admin_key}"}
        self._after: dict[str, int] = {}  # a sibling's socket -> the last of its sequence numbers fetched
        self._pulling = asyncio.Lock()  # two pulls at once would add the same executions twice

    @classmethod
    def from_env(cls, admin_key: str) -> "Siblings | None":
        directory = os.environ.get(SIBLINGS_ENV)
        return None if directory is None else cls(directory, admin_key)

    def _sockets(self) -> list[str]:
        """The siblings' sockets; a replaced worker's new one appears, a dead one's refuses."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        return sorted(name for name in names if name.endswith(".sock") and name != self._own)

    async def _get(self, name: str, path: str, params: dict[str, Any], wait: float = 0.0) -> dict[str, Any] | None:
        """``GET path`` of a sibling, as the admin, for its own part only (None: no answer)."""
        transport = httpx.AsyncHTTPTransport(uds=str(self.directory / name))
        try:
            async with httpx.AsyncClient(transport=transport, timeout=wait + _REPLY_S) as client:
                reply = await client.get(f"http://sibling{path}", headers=self._headers, params={**params, "local": 1})
        except httpx.HTTPError:  # a worker that exited: its replacement listens on another socket
            return None
        try:
            if reply.status_code == 200:
                return reply.json()
        except ValueError:
            pass
        log.warning("prefmem: worker %s answered %d for %s: %.200s", name[:-5], reply.status_code, path, reply.text)
        return None

    async def _fetch(self, name: str, wait: float) -> dict[str, Any] | None:
        """A sibling's own executions since the last pull (None: it did not answer)."""
        return await self._get(name, "/api/logs", {"after": self._after.get(name, 0), "wait": wait}, wait)

    async def _from_each(self, path: str) -> list[dict[str, Any]]:
        """Every sibling's answer to ``GET path`` (those that gave none left out)."""
        replies = await asyncio.gather(*(self._get(name, path, {}) for name in self._sockets()))
        return [reply for reply in replies if reply is not None]

    async def counters(self) -> list[dict[str, Any]]:
        """Every sibling's own counters (the dashboard's health figures)."""
        return await self._from_each("/api/counters")

    async def crons(self) -> list[dict[str, Any]]:
        """The crons as the sibling that runs them describes them (none while no sibling does)."""
        return next((reply["crons"] for reply in await self._from_each("/api/crons") if reply["crons"]), [])

    async def pull(self, execution_log: ExecutionLog, wait: float = 0.0) -> None:
        """Add to ``execution_log`` what every sibling ran since the last pull. With ``wait``,
        first wait up to that long for this process or a sibling to run something."""
        if wait > 0:
            await self._news(execution_log, wait)
        async with self._pulling:
            names = self._sockets()
            for name, reply in zip(names, await asyncio.gather(*(self._fetch(name, 0.0) for name in names))):
                if reply is not None:
                    for entry in reply["entries"]:
                        execution_log.add_sibling(entry)
                    self._after[name] = reply["last"]

    async def _news(self, execution_log: ExecutionLog, wait: float) -> None:
        """Return once this process or a sibling has run something new, or after ``wait`` s."""

        async def own() -> bool:
            return bool(await execution_log.wait_since(execution_log.last_seq, wait, own=True))

        async def sibling(name: str) -> bool:
            reply = await self._fetch(name, wait)
            return reply is not None and bool(reply["entries"])

        pending = {asyncio.ensure_future(own())} | {asyncio.ensure_future(sibling(n)) for n in self._sockets()}
        try:
            while pending:  # a sibling that fails or times out answers at once: wait on for the others
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if any(task.result() for task in done):
                    return
        finally:
            for task in pending:
                task.cancel()
