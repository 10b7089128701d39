"""Tables, their indexes and the document shapes: ``define_schema`` / ``define_table``.

A staged index (``staged=True``) is declared but not built: queries on it fail with
Convex's ``IndexStagedError`` until the flag is removed, and the next start then builds
it like any new index. (Convex stages an index so that its backfill does not hold up a
push; here it simply costs nothing until it is enabled.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prefmem.errors import InvalidQuery
from prefmem.validators import Validator, v

SYSTEM_INDEXES = ("by_id", "by_creation_time")
RESERVED_INDEX_NAMES = set(SYSTEM_INDEXES)


@dataclass(frozen=True)
class IndexDef:
    name: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class SearchIndexDef:
    name: str
    search_field: str
    filter_fields: tuple[str, ...]


@dataclass(frozen=True)
class VectorIndexDef:
    name: str
    vector_field: str
    dimensions: int
    filter_fields: tuple[str, ...]


@dataclass
class TableDef:
    """A table: its document validator and its indexes. Built with ``define_table``."""

    validator: Validator | None
    indexes: dict[str, IndexDef] = field(default_factory=dict)
    search_indexes: dict[str, SearchIndexDef] = field(default_factory=dict)
    vector_indexes: dict[str, VectorIndexDef] = field(default_factory=dict)
    staged: set[str] = field(default_factory=set)  # declared with staged=True: not built, not queryable

    def _check_new_name(self, name: str) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"index name {name!r} must be an identifier")
        if name in RESERVED_INDEX_NAMES:
            raise ValueError(f"index name {name!r} is reserved for the system index")
        if name in self.indexes or name in self.search_indexes or name in self.vector_indexes or name in self.staged:
            raise ValueError(f"index {name!r} is defined twice")

    def index(self, name: str, fields: list[str], *, staged: bool = False) -> "TableDef":
        self._check_new_name(name)
        if not fields or not all(isinstance(f, str) and f for f in fields):
            raise ValueError(f"index {name!r} needs a non-empty list of field names")
        if len(set(fields)) != len(fields):
            raise ValueError(f"index {name!r} names a field twice")
        for f in fields:
            if f.startswith("_"):
                raise ValueError(f"index {name!r}: system field {f!r} is added to every index automatically")
        if staged:
            self.staged.add(name)
        else:
            self.indexes[name] = IndexDef(name, tuple(fields))
        return self

    def search_index(self, name: str, *, search_field: str, filter_fields: list[str] | None = None,
                     staged: bool = False) -> "TableDef":
        self._check_new_name(name)
        if staged:
            self.staged.add(name)
        else:
            self.search_indexes[name] = SearchIndexDef(name, search_field, tuple(filter_fields or ()))
        return self

    def vector_index(self, name: str, *, vector_field: str, dimensions: int,
                     filter_fields: list[str] | None = None, staged: bool = False) -> "TableDef":
        self._check_new_name(name)
        if not 2 <= dimensions <= 4096:
            raise ValueError(f"vector index {name!r}: dimensions must be between 2 and 4096, got {dimensions}")
        if staged:
            self.staged.add(name)
        else:
            self.vector_indexes[name] = VectorIndexDef(name, vector_field, dimensions, tuple(filter_fields or ()))
        return self

    def refuse_if_staged(self, table: str, name: str) -> None:
        """Raise Convex's ``IndexStagedError`` for a query on a staged index."""
        if name in self.staged:
            raise InvalidQuery(f"Index {table}.{name} is currently staged and not available to query until it is "
                               "enabled.")

    def search_index_fields(self) -> dict[str, tuple[str, ...]]:
        """Search indexes as stored: ``("$search", search field, *filter fields)``."""
        return {i.name: ("$search", i.search_field, *i.filter_fields) for i in self.search_indexes.values()}

    def vector_index_fields(self) -> dict[str, tuple[str, ...]]:
        """Vector indexes as stored: ``("$vector", vector field, dimensions, *filter fields)``."""
        return {i.name: ("$vector", i.vector_field, str(i.dimensions), *i.filter_fields)
                for i in self.vector_indexes.values()}

    def all_indexes(self) -> dict[str, tuple[str, ...]]:
        """Every range index of the table with its key fields, the system ones included."""
        out = {"by_id": ("_id",), "by_creation_time": ("_creationTime", "_id")}
        for index in self.indexes.values():
            out[index.name] = index.fields + ("_creationTime", "_id")
        return out


def define_table(fields: dict[str, Validator] | Validator) -> TableDef:
    """A table of documents matching ``fields`` (a dict of field validators: an object), or
    matching a validator: ``v.object``, a union of them, ``v.any()``, ... as in Convex."""
    if isinstance(fields, dict):
        for name in fields:
            if isinstance(name, str) and name.startswith("_"):
                raise ValueError(f"field {name!r}: user fields must not start with '_'")
        validator: Validator = v.object(fields)
    elif isinstance(fields, Validator):
        validator = fields
    else:
        raise TypeError("define_table takes a dict of validators or a validator")
    return TableDef(validator)


@dataclass
class Schema:
    tables: dict[str, TableDef]
    schema_validation: bool = True
    strict_table_names: bool = True


def define_schema(tables: dict[str, TableDef], *, schema_validation: bool = True,
                  strict_table_names: bool = True) -> Schema:
    for name, table in tables.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"table name {name!r} must be an identifier not starting with '_'")
        if not isinstance(table, TableDef):
            raise TypeError(f"table {name!r} must be made with define_table")
    return Schema(dict(tables), schema_validation, strict_table_names)


EMPTY_SCHEMA = Schema({}, schema_validation=False, strict_table_names=False)
