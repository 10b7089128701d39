"""One application assembled: schema, functions, persistence, catalog and ``Application``.

The server, the CLI and the test harness all start an application through ``Backend``,
so they cannot disagree about how it is put together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefmem.application import Application
from prefmem.auth import accounts
from prefmem.bounds import Bounds
from prefmem.dashboard import login
from prefmem.database import Catalog
from prefmem.files import store as files
from prefmem.files.store import FileStore
from prefmem.functions import Registry, load_functions, load_schema
from prefmem.limits import DEFAULT_LIMITS, Limits
from prefmem.errors import PrefmemError
from prefmem.persistence.base import Durability, Persistence, decode_document
from prefmem.persistence.engines import is_postgres, open_persistence
from prefmem.persistence.sqlite import ServeLock, ServeLockHeld
from prefmem.runner import Clock
from prefmem.scheduler import jobs
from prefmem.schema import Schema


class Backend:
    """``db``: a SQLite file, or a PostgreSQL URL (``persistence.engines``). ``shared``: this is
    one of a parent's worker processes, and the parent already prepared the database, so
    this one neither checks stored documents nor creates indexes.

    A SQLite file has one deployment at a time (the serve lock); a PostgreSQL database has
    any number of nodes, each of which prepares the database at start, one at a time."""

    def __init__(self, *, functions: str | Path, schema: str | Path | Schema | None, db: str | Path,
                 durability: Durability | str = Durability.NORMAL, limits: Limits = DEFAULT_LIMITS,
                 clock: Clock | None = None, dev_mode: bool = True, shared: bool = False,
                 bounds: Bounds | None = None) -> None:
        self.functions_dir = Path(functions)
        self.schema_source = schema
        self.db = str(db)
        self.postgres = is_postgres(self.db)
        self.db_path = Path(db)  # the SQLite file (meaningless for PostgreSQL)
        self.durability = Durability(durability)
        self.limits = limits
        self.clock = clock or Clock()
        self.dev_mode = dev_mode
        self.shared = shared
        self.bounds = bounds or Bounds()
        self.persistence: Persistence | None = None
        self.app: Application | None = None
        self._serve_lock: ServeLock | None = None

    def _schema(self) -> Schema | None:
        if isinstance(self.schema_source, Schema) or self.schema_source is None:
            return self.schema_source
        return load_schema(self.schema_source)

    def open(self) -> "Backend":
        """Load code and schema, open the database and check it; raise before touching data."""
        schema = self._schema()
        registry: Registry = load_functions(self.functions_dir)
        if not self.shared and not self.postgres and self.db != ":memory:":
            self._serve_lock = ServeLock(self.db_path)
            try:
                self._serve_lock.acquire()
            except ServeLockHeld as err:
                raise PrefmemError(str(err)) from None
        try:
            persistence = open_persistence(self.db, self.durability, shared=self.shared)
        except BaseException:
            self._release_lock()
            raise
        try:
            catalog = Catalog(persistence, schema, private={**accounts.PRIVATE_TABLES, **login.PRIVATE_TABLES},
                              system_tables={jobs.TABLE: jobs.table_def(), **files.table_defs(),
                                             **accounts.table_defs(), **login.table_defs()})
            catalog.open(prepare=not self.shared)
        except BaseException:
            persistence.close()
            self._release_lock()
            raise
        self.persistence = persistence
        # File bytes live with the database they belong to: next to the SQLite file, or in
        # PostgreSQL, where every node reads them.
        if self.postgres:
            from prefmem.files.pg_files import PostgresFiles

            file_store: FileStore = PostgresFiles(persistence.conninfo)  # type: ignore[attr-defined]
        else:
            file_store = FileStore(self.db_path.resolve().parent / f"{self.db_path.name}.files")
        self.app = Application(registry, persistence, catalog, self.limits, self.clock, files=file_store,
                               dev_mode=self.dev_mode)
        self.app.bounds = self.bounds
        return self

    def reload_functions(self) -> Registry:
        """Import the functions directory afresh (dev mode's reload); the schema stays."""
        assert self.app is not None
        self.app.registry = load_functions(self.functions_dir)
        return self.app.registry

    def close(self) -> None:
        self._close_storage()
        self._release_lock()

    def hand_over(self) -> None:
        """Close the database but stay its owner: worker processes serve it from now on."""
        self._close_storage()
        self.app = None

    def _close_storage(self) -> None:
        if self.app is not None:
            self.app.files.close()
        if self.persistence is not None:
            self.persistence.close()
            self.persistence = None

    def serve_lock_fds(self) -> tuple[int, ...]:
        """The serve lock's descriptor (none on PostgreSQL), for worker processes to hold too."""
        fd = self._serve_lock.fd if self._serve_lock is not None else None
        return () if fd is None else (fd,)

    def _release_lock(self) -> None:
        if self._serve_lock is not None:
            self._serve_lock.release()
            self._serve_lock = None

    @property
    def registry(self) -> Registry:
        assert self.app is not None, "Backend.open() first"
        return self.app.registry

    def documents(self, table: str) -> list[dict[str, Any]]:
        """Every document of a table in creation order (for tools and tests)."""
        assert self.app is not None and self.persistence is not None
        index = self.app.catalog.index(table, "by_creation_time")
        if index is None:
            return []
        with self.persistence.snapshot() as snap:
            rows = snap.scan(index.index_id, b"", b"\xff", False, 1 << 62)
        return [decode_document(value) for _key, value, _doc_id in rows]
