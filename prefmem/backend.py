"""One application assembled: schema, functions, storage, catalog and runner.

The server, the CLI and the test harness all start an application through ``Backend``,
so they cannot disagree about how it is put together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefmem.bounds import Bounds
from prefmem.database import Catalog
from prefmem.functions import Registry, load_functions, load_schema
from prefmem.limits import DEFAULT_LIMITS, Limits
from prefmem.runner import Clock, Runner
from prefmem.files import store as files
from prefmem.files.store import FileStore
from prefmem.scheduler import jobs
from prefmem.schema import Schema
from prefmem.storage import Durability, Storage, decode_document


class Backend:
    def __init__(self, *, functions: str | Path, schema: str | Path | Schema | None, db: str | Path,
                 durability: Durability | str = Durability.NORMAL, limits: Limits = DEFAULT_LIMITS,
                 clock: Clock | None = None, dev_mode: bool = True, bounds: Bounds | None = None) -> None:
        self.functions_dir = Path(functions)
        self.schema_source = schema
        self.db_path = Path(db)
        self.durability = Durability(durability)
        self.limits = limits
        self.clock = clock or Clock()
        self.dev_mode = dev_mode
        self.bounds = bounds or Bounds()
        self.storage: Storage | None = None
        self.runner: Runner | None = None

    def open(self) -> "Backend":
        """Load code and schema, open the database and check it; raise before touching data."""
        schema = self.schema_source if isinstance(self.schema_source, Schema) or self.schema_source is None \
            else load_schema(self.schema_source)
        registry: Registry = load_functions(self.functions_dir)
        storage = Storage(self.db_path, self.durability)
        try:
            catalog = Catalog(storage, schema, system_tables={jobs.TABLE: jobs.table_def(), **files.table_defs()})
            catalog.open()
        except BaseException:
            storage.close()
            raise
        self.storage = storage
        self.runner = Runner(registry, storage, catalog, self.limits, self.clock, dev_mode=self.dev_mode)
        self.runner.bounds = self.bounds
        # File bytes live next to the database they belong to.
        self.runner.files = FileStore(self.db_path.resolve().parent / f"{self.db_path.name}.files")
        return self

    def reload_functions(self) -> Registry:
        """Import the functions directory afresh (dev mode's reload); the schema stays."""
        assert self.runner is not None
        self.runner.registry = load_functions(self.functions_dir)
        return self.runner.registry

    def close(self) -> None:
        if self.storage is not None:
            self.storage.close()
            self.storage = None

    @property
    def registry(self) -> Registry:
        assert self.runner is not None, "Backend.open() first"
        return self.runner.registry

    def documents(self, table: str) -> list[dict[str, Any]]:
        """Every document of a table in creation order (for tools and tests)."""
        assert self.runner is not None and self.storage is not None
        index = self.runner.catalog.index(table, "by_creation_time")
        if index is None:
            return []
        with self.storage.snapshot() as snap:
            rows = snap.scan(index.index_id, b"", b"\xff", False, 1 << 62)
        return [decode_document(value) for _key, value in rows]
