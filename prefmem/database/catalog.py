"""Which tables and indexes exist, their ids in storage, and the start-up schema check."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from prefmem import ids
from prefmem.database.search import SearchIndex, doc_rowid
from prefmem.errors import InvalidQuery, SchemaMismatch, ValidationError
from prefmem.schema import EMPTY_SCHEMA, Schema, TableDef, VectorIndexDef
from prefmem.persistence.base import Persistence, decode_document
from prefmem.validators import Validator
from prefmem.values import MISSING, lookup_path, value_key


_UNKNOWN = object()


@dataclass(frozen=True)
class Index:
    index_id: int
    table: str
    name: str
    fields: tuple[str, ...]  # key fields, ending with _creationTime and _id (by_id: just _id)
    user_fields: tuple[str, ...]  # the fields a range may name

    def key_of(self, doc: dict, parts: dict[str, bytes] | None = None) -> bytes:
        """The document's key in this index.

        ``parts`` caches each field's encoding across the indexes of one write: every index
        ends with ``_creationTime`` and ``_id``, and the key of a tuple is the concatenation
        of its members' keys, so those are encoded once per document, not once per index.
        """
        if parts is None:
            parts = {}
        out = []
        for f in self.fields:
            part = parts.get(f)
            if part is None:
                part = parts[f] = value_key(lookup_path(doc, f) if "." in f else doc.get(f, MISSING))
            out.append(part)
        return out[0] if len(out) == 1 else b"".join(out)


class Catalog:
    """The schema bound to a database: index ids, table lookup by id."""

    def __init__(self, persistence: Persistence, schema: Schema | None,
                 system_tables: dict[str, TableDef] | None = None, private: dict[str, str] | None = None):
        """``private``: system tables only the runtime's functions under a path prefix may read."""
        self.persistence = persistence
        self.private = dict(private or {})
        self._write_validators: dict[str, Any] = {}
        self.schema = schema or EMPTY_SCHEMA
        self.system_tables = dict(system_tables or {})
        self._indexes: dict[tuple[str, str], Index] = {}
        self._by_number: dict[int, str] = {}
        self._search: dict[tuple[str, str], SearchIndex] = {}
        self._vector: dict[tuple[str, str], int] = {}  # vector index -> its id in storage
        self._by_table: dict[str, tuple[list[Index], list[SearchIndex]]] = {}

    # -- start-up -----------------------------------------------------------------------

    def open(self, *, check_documents: bool = True, prepare: bool = True) -> None:
        """Check stored data against the schema, then create and backfill new indexes.

        Without ``prepare`` (a worker process of a database another process prepared), only
        learn the index ids.
        """
        if prepare:
            with self.persistence.preparing():
                self._prepare(check_documents)
        stored = self.persistence.index_ids()
        for (table, name), fields in self._wanted(stored).items():
            if (table, name) not in stored:
                raise SchemaMismatch(f"index {table}.{name} was not created; the database was not prepared "
                                     "for this schema")
            index_id = stored[(table, name)][0]
            if fields[0] == "$search":
                self._search[(table, name)] = SearchIndex(index_id, table, name, fields[1], tuple(fields[2:]))
                self._by_table.pop(table, None)
            elif fields[0] == "$vector":
                self._vector[(table, name)] = index_id
                self.persistence.use_vector_index(index_id, table, self._vector_def(table, name))
            else:
                self._remember(table, name, index_id, fields)
        for table in self.schema.tables:
            self._by_number[ids.table_number(table)] = table

    def _wanted(self, stored: dict[tuple[str, str], tuple[int, str]]) -> dict[tuple[str, str], tuple[str, ...]]:
        wanted: dict[tuple[str, str], tuple[str, ...]] = {}
        for table, tdef in self._all_table_defs().items():
            for name, fields in {**tdef.all_indexes(), **tdef.search_index_fields(),
                                 **tdef.vector_index_fields()}.items():
                wanted[(table, name)] = fields
        # Tables that exist only in storage keep their system indexes: their data stays reachable.
        for (table, name), (_index_id, fields_json) in stored.items():
            if (table, name) not in wanted and name in ("by_id", "by_creation_time"):
                wanted[(table, name)] = tuple(json.loads(fields_json))
        return wanted

    def _prepare(self, check_documents: bool) -> None:
        if check_documents:
            self.check_stored_documents()
        stored = self.persistence.index_ids()
        wanted = self._wanted(stored)
        for key, (index_id, fields_json) in stored.items():
            if key not in wanted or tuple(json.loads(fields_json)) != wanted[key]:
                self.persistence.drop_index(index_id)
        stored = self.persistence.index_ids()
        for (table, name), fields in wanted.items():  # the sources of the backfills below
            if fields[0] not in ("$search", "$vector") and (table, name) in stored:
                self._remember(table, name, stored[(table, name)][0], fields)
        for (table, name), fields in wanted.items():
            if fields[0] == "$search":
                created = (table, name) not in stored
                index_id = self.persistence.create_index(table, name, json.dumps(list(fields))) if created \
                    else stored[(table, name)][0]
                search = SearchIndex(index_id, table, name, fields[1], tuple(fields[2:]))
                self.persistence.create_search_table(index_id, len(search.filter_fields))
                if created:
                    self._backfill_search(table, search)
            elif fields[0] == "$vector":
                if (table, name) not in stored:
                    index_id = self.persistence.create_index(table, name, json.dumps(list(fields)))
                    vector = self._vector_def(table, name)
                    self.persistence.create_vector_table(index_id, table, vector)
                    source = self._indexes.get((table, "by_creation_time"))
                    if source is not None:
                        self.persistence.fill_vectors(index_id, table, vector, (
                            decode_document(value) for _key, value in self.persistence.iter_index(source.index_id)))
            elif (table, name) not in stored:
                index_id = self.persistence.create_index(table, name, json.dumps(list(fields)))
                self._remember(table, name, index_id, fields)
                self._backfill(table, self._indexes[(table, name)])

    def _vector_def(self, table: str, name: str) -> VectorIndexDef:
        return self._all_table_defs()[table].vector_indexes[name]

    def _all_table_defs(self) -> dict[str, TableDef]:
        return {**self.schema.tables, **self.system_tables}

    def _remember(self, table: str, name: str, index_id: int, fields: tuple[str, ...]) -> None:
        user = tuple(f for f in fields if f not in ("_creationTime", "_id")) if name not in ("by_id", "by_creation_time") \
            else (("_id",) if name == "by_id" else ("_creationTime",))
        self._indexes[(table, name)] = Index(index_id, table, name, fields, user)
        self._by_table.pop(table, None)
        self._by_number[ids.table_number(table)] = table

    def _backfill(self, table: str, index: Index) -> None:
        source = self._indexes.get((table, "by_creation_time")) or self._indexes.get((table, "by_id"))
        if source is None or source is index:
            return
        entries = []
        for _key, value in self.persistence.iter_index(source.index_id):
            doc = decode_document(value)
            entries.append((index.key_of(doc), doc["_id"]))
        self.persistence.fill_index(index.index_id, iter(entries))

    def _backfill_search(self, table: str, index: SearchIndex) -> None:
        source = self._indexes.get((table, "by_creation_time"))
        if source is None:
            return
        rows = []
        for _key, value in self.persistence.iter_index(source.index_id):
            doc = decode_document(value)
            rows.append((doc_rowid(doc["_id"]), index.text_of(doc), *index.filter_keys(doc), doc["_id"]))
        self.persistence.fill_search(index.index_id, iter(rows))

    def check_stored_documents(self, limit: int = 20) -> None:
        """Refuse a schema that stored documents do not satisfy, naming them; touch nothing."""
        if not self.schema.schema_validation or not self.schema.tables:
            return
        stored = self.persistence.index_ids()
        problems: list[str] = []
        total = 0
        for (table, name), (index_id, _fields) in sorted(stored.items()):
            if name != "by_id" or table.startswith("_"):
                continue
            tdef = self.schema.tables.get(table)
            if tdef is None:
                count = self.persistence.count_index(index_id)
                if count and self.schema.strict_table_names:
                    total += count
                    problems.append(f"table {table!r} holds {count} documents but is not in the schema")
                continue
            if tdef.validator is None:
                continue
            for _key, value in self.persistence.iter_index(index_id):
                doc = decode_document(value)
                body = {k: v for k, v in doc.items() if not k.startswith("_")}
                try:
                    tdef.validator.check(body, "")
                except ValidationError as err:
                    total += 1
                    if len(problems) < limit:
                        problems.append(f'Document with ID "{doc["_id"]}" in table "{table}" does not match the '
                                        f"schema: {err}")
        if problems:
            more = f"\n  ... and {total - len(problems)} more" if total > len(problems) else ""
            raise SchemaMismatch(
                "the schema does not match the stored data, so it was not applied and no data was changed:\n  "
                + "\n  ".join(problems) + more)

    # -- lookups ------------------------------------------------------------------------

    def write_validator(self, table: str) -> Validator | None:
        """What a document written to ``table`` is checked against: its validator, unless
        the schema turned write validation off (system tables are always checked)."""
        found = self._write_validators.get(table, _UNKNOWN)
        if found is _UNKNOWN:
            tdef = self.table_def(table)
            found = self._write_validators[table] = tdef.validator if tdef is not None and (
                self.schema.schema_validation or table.startswith("_")) else None
        return found  # type: ignore[return-value]

    def table_def(self, table: str) -> TableDef | None:
        return self.schema.tables.get(table) or self.system_tables.get(table)

    def table_names(self) -> list[str]:
        """Every table the schema names or storage holds (a schemaless app's too), sorted."""
        return sorted({table for table, _name in self._indexes} | set(self.schema.tables) | set(self.system_tables))

    def has_table(self, table: str) -> bool:
        return (table, "by_id") in self._indexes or table in self.schema.tables or table in self.system_tables

    def check_table(self, table: str, *, system: bool, reader: str | None = None) -> None:
        """Refuse what ``reader`` (the running function's path) may not touch."""
        if not isinstance(table, str) or not table:
            raise InvalidQuery(f"table name must be a non-empty string, got {table!r}")
        if table in self.private:
            self.check_private(table, reader)
        if table.startswith("_") and not system:
            raise InvalidQuery(f"table {table!r} is a system table: read it with ctx.db.system")
        if system and not table.startswith("_"):
            raise InvalidQuery(f"ctx.db.system reads system tables only, not {table!r}")
        if self.schema.tables and self.schema.strict_table_names and not table.startswith("_") \
                and table not in self.schema.tables:
            raise InvalidQuery(f"table {table!r} is not in the schema (tables: {', '.join(sorted(self.schema.tables))})")

    def check_private(self, table: str, reader: str | None) -> None:
        owner = self.private.get(table)
        if owner is not None and not (reader or "").startswith(owner):
            raise InvalidQuery(f"table {table!r} is private to the runtime")

    def index(self, table: str, name: str) -> Index | None:
        return self._indexes.get((table, name))

    def search_index(self, table: str, name: str) -> SearchIndex | None:
        return self._search.get((table, name))

    def vector_index_id(self, table: str, name: str) -> int | None:
        return self._vector.get((table, name))

    def search_indexes_of(self, table: str) -> list[SearchIndex]:
        return self.indexes_and_search(table)[1]

    def indexes_of(self, table: str) -> list[Index]:
        return self.indexes_and_search(table)[0]

    def indexes_and_search(self, table: str) -> tuple[list[Index], list[SearchIndex]]:
        """A table's indexes and search indexes, kept per table: every write walks them."""
        found = self._by_table.get(table)
        if found is None:
            found = self._by_table[table] = (
                [ix for (t, _), ix in self._indexes.items() if t == table],
                [ix for (t, _), ix in self._search.items() if t == table])
        return found

    def table_of_id(self, doc_id: Any) -> str | None:
        number = ids.table_number_of(doc_id)
        if number is None or doc_id != doc_id.lower():
            return None
        table = self._by_number.get(number)
        if table is None and self.persistence.shared and self.refresh():
            table = self._by_number.get(number)
        return table

    def ensure_table(self, table: str) -> bool:
        """Create the system indexes of a table first written by a schemaless app; whether
        it did. They are created at once, outside the transaction: a rolled-back first
        insert leaves an empty table behind, as in Convex."""
        if (table, "by_id") in self._indexes:
            return False
        if self.persistence.shared and self.refresh() and (table, "by_id") in self._indexes:
            return False
        for name, fields in TableDef(None).all_indexes().items():
            index_id = self.persistence.create_index(table, name, json.dumps(list(fields)))
            self._remember(table, name, index_id, fields)
        return True

    def refresh(self) -> bool:
        """Learn the tables other processes created (schemaless apps); whether there were any."""
        found = False
        for (table, name), (index_id, fields_json) in self.persistence.index_ids().items():
            if (table, name) not in self._indexes and name in ("by_id", "by_creation_time"):
                self._remember(table, name, index_id, tuple(json.loads(fields_json)))
                found = True
        return found
