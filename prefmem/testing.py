"""``prefmem.testing``: run an application in-process for its tests.

A ``TestBackend`` is the real runtime (SQLite file, committer, runner) on a temporary
database, with a clock the test moves by hand. Calls return the function's value or raise
what a client would see: ``ConvexError`` with its data, or ``FunctionFailed``.

With ``PREFMEM_TEST_DB=postgresql://...`` in the environment, the same tests run on that
PostgreSQL database instead, each ``TestBackend`` in a schema of its own, dropped at the end
(``fresh_schema``), so an app's tests run on both engines unchanged.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from prefmem.application import Application
from prefmem.auth.identity import Identity
from prefmem.backend import Backend
from prefmem.limits import DEFAULT_LIMITS, Limits
from prefmem.persistence.engines import is_postgres
from prefmem.runner import Clock, FunctionFailed, Outcome
from prefmem.schema import Schema
from prefmem.scheduler.executor import Executor

__all__ = ["TestBackend", "TestClock", "FunctionFailed"]

TEST_ISSUER = "prefmem-test"


class TestClock(Clock):
    """A clock that starts at the real time and moves only when told."""

    __test__ = False  # not a pytest test class

    def __init__(self, start_ms: float | None = None) -> None:
        self._now = Clock().now_ms() if start_ms is None else float(start_ms)

    def now_ms(self) -> float:
        return self._now

    def advance(self, ms: float) -> None:
        if ms < 0:
            raise ValueError("the clock only moves forward")
        self._now += ms

    def set(self, ms: float) -> None:
        self._now = float(ms)


class _Caller:
    """query / mutation / action as one identity (or none)."""

    def __init__(self, backend: "TestBackend", identity: Identity | None) -> None:
        self._backend = backend
        self.identity = identity

    async def query(self, path: str, args: dict | None = None) -> Any:
        return (await self._backend._call(path, args, self.identity, "query")).unwrap()

    async def mutation(self, path: str, args: dict | None = None) -> Any:
        return (await self._backend._call(path, args, self.identity, "mutation")).unwrap()

    async def action(self, path: str, args: dict | None = None) -> Any:
        return (await self._backend._call(path, args, self.identity, "action")).unwrap()


TEST_DB_ENV = "PREFMEM_TEST_DB"


def fresh_schema(url: str) -> tuple[str, Callable[[], None]]:
    """A new, empty schema in the PostgreSQL database ``url``: the URL of a deployment in it
    (its ``search_path``), and a function that drops it with everything in it."""
    import psycopg

    name = f"prefmem_test_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")

    def drop() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")

    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{name}%2Cpublic", drop


class TestBackend(_Caller):
    __test__ = False

    def __init__(self, functions: str | Path = "functions", schema: str | Path | Schema | None = "schema.py", *,
                 db: str | Path | None = None, limits: Limits = DEFAULT_LIMITS, clock: TestClock | None = None,
                 durability: str = "normal") -> None:
        self._tmp: str | None = None
        self._drop_schema: Callable[[], None] | None = None
        if db is None and is_postgres(os.environ.get(TEST_DB_ENV, "")):
            db, self._drop_schema = fresh_schema(os.environ[TEST_DB_ENV])
        elif db is None:
            self._tmp = tempfile.mkdtemp(prefix="prefmem-test-")
            db = Path(self._tmp) / "data.sqlite3"
        self.clock = clock or TestClock()
        if isinstance(schema, (str, Path)) and not Path(schema).exists():
            schema = None
        self.backend = Backend(functions=functions, schema=schema, db=db, limits=limits, clock=self.clock,
                               durability=durability, dev_mode=True)
        super().__init__(self, None)

    async def __aenter__(self) -> "TestBackend":
        try:
            self.backend.open()
        except BaseException:
            self._remove_database()
            raise
        self.executor = Executor(self.app)
        await self.executor.recover()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.committer.drain()
        self.backend.close()
        self._remove_database()

    def _remove_database(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        if self._drop_schema is not None:
            self._drop_schema()

    @property
    def app(self) -> Application:
        """The running ``Application``, for tests of the runtime itself."""
        assert self.backend.app is not None, "use TestBackend in `async with`"
        return self.backend.app

    def as_user(self, subject: str, **claims: Any) -> _Caller:
        return _Caller(self, Identity(subject, TEST_ISSUER, {"sub": subject, "iss": TEST_ISSUER, **claims}))

    async def run(self, path: str, args: dict | None = None) -> Any:
        """Call any function, internal ones included, as the admin (no user identity)."""
        fn = self.backend.registry.get(path, allow_internal=True)
        return (await self.app.run(fn, args or {}, None)).unwrap()

    async def _call(self, path: str, args: dict | None, identity: Identity | None, kind: str) -> Outcome:
        return await self.app.call(path, args if args is not None else {}, identity, kind=kind)

    async def run_scheduled(self) -> int:
        """Run every scheduled function that is due by the test clock, and what those schedule
        that is due too; returns how many ran."""
        return await self.executor.run_until_idle()

    def table(self, name: str) -> list[dict]:
        """Every document of a table, in creation order."""
        return self.backend.documents(name)
