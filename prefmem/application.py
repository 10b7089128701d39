"""One running application, and the one way to call its functions.

Every entry point (sync sessions, the HTTP API, the scheduler, an action's ``ctx.run_*``,
the CLI, the test harness) calls functions here: a query runs at the latest snapshot, a
mutation goes to the committer, an action runs in the runner. The parts are owned here
too: the registry, the catalog, the persistence, the write log, the runner, the
committer, file bytes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prefmem import logs
from prefmem.auth.identity import Identity
from prefmem.bounds import Bounds
from prefmem.database import Catalog
from prefmem.database.committer import Committer
from prefmem.database.replies import ReplayKey
from prefmem.database.write_log import WriteLog, catch_up
from prefmem.errors import PrefmemError
from prefmem.files.store import FileStore
from prefmem.functions import FunctionDef, Registry
from prefmem.limits import Limits
from prefmem.persistence.base import Persistence, Snapshot
from prefmem.runner import Clock, Outcome, Runner


class Application:
    def __init__(self, registry: Registry, persistence: Persistence, catalog: Catalog, limits: Limits,
                 clock: Clock, *, files: FileStore, dev_mode: bool = True) -> None:
        self.registry = registry
        self.persistence = persistence
        self.catalog = catalog
        self.limits = limits
        self.clock = clock
        self.files = files
        self.dev_mode = dev_mode
        self.bounds = Bounds()  # what clients may make the server hold; the backend sets its own
        self.site_url = "http://127.0.0.1:3210"  # where clients reach this server; the server sets it
        self.execution_log = logs.ExecutionLog()  # what `prefmem logs` follows
        self.write_log = WriteLog(persistence.last_ts())
        self.runner = Runner(self)
        self.committer = Committer(self)
        self._following: asyncio.Task | None = None

    # -- other processes' commits ----------------------------------------------------------

    # A lost wake-up delays a process by at most this long.
    follow_poll_s = 1.0

    def catch_up(self) -> None:
        """Append to the write log what other processes committed (a shared database)."""
        records = self.persistence.log_since(self.write_log.head_ts)
        catch_up(self.write_log, records, records.ts)

    def start_following(self) -> None:
        """Keep the write log current with the commits of other processes, woken by them."""
        if not self.persistence.shared or self._following is not None:
            return
        self.persistence.listen(self.catch_up)
        self._following = asyncio.get_running_loop().create_task(self._poll(), name="prefmem-follow")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.follow_poll_s)
            self.catch_up()

    def stop_following(self) -> None:
        if self._following is not None:
            self._following.cancel()
            self._following = None

    # -- calling functions ------------------------------------------------------------------

    async def query(self, fn: FunctionDef, args: Any, identity: Identity | None, *,
                    journal: str | None = None) -> Outcome:
        """Run a query at the latest snapshot."""
        with self.persistence.snapshot() as snapshot:
            return self.runner.execute_query(fn, args, identity, snapshot, journal=journal)

    def query_at(self, fn: FunctionDef, args: Any, identity: Identity | None, snapshot: Snapshot, *,
                 journal: str | None = None) -> Outcome:
        return self.runner.execute_query(fn, args, identity, snapshot, journal=journal)

    async def mutation(self, fn: FunctionDef, args: Any, identity: Identity | None, *,
                       replay: ReplayKey | None = None, lookup: bool = False) -> Outcome:
        return await self.committer.submit(fn, args, identity, replay, lookup=lookup)

    async def action(self, fn: FunctionDef, args: Any, identity: Identity | None) -> Outcome:
        return await self.runner.execute_action(fn, args, identity)

    async def run(self, fn: FunctionDef, args: Any, identity: Identity | None, *, expect: str | None = None,
                  journal: str | None = None) -> Outcome:
        """Run any function by its kind (``expect``: refuse another kind)."""
        if expect is not None and fn.kind != expect:
            module, _, name = (fn.path or "").partition(":")
            return Outcome(error=f"Trying to execute {module}.js:{name} as {expect.capitalize()}, but it is defined "
                                 f"as {fn.kind.capitalize()}.")
        if fn.kind == "query":
            return await self.query(fn, args, identity, journal=journal)
        if fn.kind == "mutation":
            return await self.mutation(fn, args, identity)
        if fn.kind == "action":
            return await self.action(fn, args, identity)
        return Outcome(error=f"Could not find public function for '{fn.path}'. Did you forget to run `npx convex dev`?")

    async def call(self, path: str, args: Any, identity: Identity | None = None, *, kind: str | None = None,
                   allow_internal: bool = False, journal: str | None = None) -> Outcome:
        """Resolve a client-supplied path and run it; unknown paths become error outcomes."""
        try:
            fn = self.registry.get(path, kind=kind, allow_internal=allow_internal)
        except PrefmemError as err:
            return Outcome(error=str(err))
        return await self.run(fn, args, identity, journal=journal)
