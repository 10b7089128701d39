"""The Data view: tables with counts, schemas and indexes; pages of documents; edits.

Every edit is an ordinary ``ctx.db`` write inside a mutation, so the schema checks it
exactly as it checks the app's own writes, and the error the dashboard shows is the one
a mutation would get. The system tables it shows are read-only here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefmem.dashboard import metrics
from prefmem.dashboard.system import system_function
from prefmem.database import UNSET
from prefmem.errors import InvalidQuery
from prefmem.files.store import TABLE as STORAGE_TABLE
from prefmem.functions import FunctionDef
from prefmem.scheduler.jobs import TABLE as JOBS_TABLE
from prefmem.validators import v

if TYPE_CHECKING:
    from prefmem.dashboard.board import Dashboard

SHOWN_SYSTEM_TABLES = (JOBS_TABLE, STORAGE_TABLE)
COUNTS = b"counts"
MOST_PER_PAGE = 200
MOST_FILTERS = 16
MOST_DELETED = 100
OPS = ("eq", "neq", "lt", "lte", "gt", "gte")
ORDER = v.union(v.literal("asc"), v.literal("desc"))
FILTER = v.object({"field": v.string(), "op": v.union(*(v.literal(op) for op in OPS)), "value": v.any()})
PAGINATION = v.object({"numItems": v.number(), "cursor": v.nullable(v.string())})


def describe_table(catalog: Any, table: str) -> dict[str, Any]:
    """The table's document validator and every index, as the Data view's schema panel shows them."""
    tdef = catalog.table_def(table)
    indexes = sorted(catalog.indexes_of(table), key=lambda ix: (ix.name not in ("by_creation_time", "by_id"), ix.name))
    return {
        "validator": tdef.validator.describe_json() if tdef is not None and tdef.validator is not None else None,
        "indexes": [{"name": ix.name, "fields": list(ix.user_fields)} for ix in indexes],
        "searchIndexes": [] if tdef is None else [
            {"name": s.name, "searchField": s.search_field, "filterFields": list(s.filter_fields)}
            for s in tdef.search_indexes.values()],
        "vectorIndexes": [] if tdef is None else [
            {"name": x.name, "vectorField": x.vector_field, "dimensions": x.dimensions,
             "filterFields": list(x.filter_fields)} for x in tdef.vector_indexes.values()],
    }


def page_size(opts: dict) -> int:
    """``paginationOpts.numItems`` of a dashboard page: a whole number up to ``MOST_PER_PAGE``."""
    num_items = opts["numItems"]
    if not 1 <= num_items <= MOST_PER_PAGE or num_items != int(num_items):
        raise InvalidQuery(f"numItems must be a whole number from 1 to {MOST_PER_PAGE}, got {num_items!r}")
    return int(num_items)


def _writable(table: str | None, what: str) -> str:
    if table is None:
        raise InvalidQuery(f"{what}: no such document")
    if table.startswith("_"):
        raise InvalidQuery(f"{what}: {table} is a system table, read-only in the dashboard")
    return table


def _split_filters(filters: list[dict], fields: tuple[str, ...]) -> tuple[list[dict], list[dict]]:
    """The filters that narrow the index range (eq on its leading fields, then one lower and
    one upper bound on the next), and the rest, applied to the documents read."""
    ranged: list[dict] = []
    rest = list(filters)
    for name in fields:
        eq = next((f for f in rest if f["field"] == name and f["op"] == "eq"), None)
        if eq is None:
            for ops in (("gt", "gte"), ("lt", "lte")):
                bound = next((f for f in rest if f["field"] == name and f["op"] in ops), None)
                if bound is not None:
                    ranged.append(bound)
                    rest.remove(bound)
            break
        ranged.append(eq)
        rest.remove(eq)
    return ranged, rest


def functions(board: "Dashboard") -> list[FunctionDef]:
    app = board.app

    def reader(ctx: Any, table: str) -> Any:
        return ctx.db.system if table.startswith("_") else ctx.db

    @system_function("query", "data:tables")
    async def tables(ctx: Any, args: dict) -> list[dict]:
        board.watch(ctx, COUNTS)
        catalog = app.catalog
        out = []
        for name in catalog.table_names():
            if name.startswith("_") and name not in SHOWN_SYSTEM_TABLES:
                continue
            by_id = catalog.index(name, "by_id")
            out.append({"name": name, "system": name.startswith("_"),
                        "count": metrics.count_documents(ctx, by_id.index_id) if by_id is not None else 0,
                        **describe_table(catalog, name)})
        return out

    @system_function("query", "data:page", args={
        "table": v.string(), "index": v.optional(v.string()), "order": v.optional(ORDER),
        "filters": v.optional(v.array(FILTER)), "paginationOpts": PAGINATION})
    async def page(ctx: Any, args: dict) -> dict:
        table = args["table"]
        if table.startswith("_") and table not in SHOWN_SYSTEM_TABLES:
            raise InvalidQuery(f"table {table} is not shown in the dashboard")
        filters = args.get("filters") or []
        if len(filters) > MOST_FILTERS:
            raise InvalidQuery(f"at most {MOST_FILTERS} filters, got {len(filters)}")
        num_items = page_size(args["paginationOpts"])
        index_name = args.get("index") or "by_creation_time"
        index = app.catalog.index(table, index_name)
        ranged, rest = _split_filters(filters, index.user_fields if index is not None else ())

        def index_range(q: Any) -> Any:
            for f in ranged:
                q = getattr(q, f["op"])(f["field"], f["value"])
            return q

        query = reader(ctx, table).query(table).with_index(index_name, index_range if ranged else None)
        query = query.order(args.get("order") or "desc")
        if rest:
            query = query.filter(lambda q: q.and_(*(getattr(q, f["op"])(q.field(f["field"]), f["value"])
                                                    for f in rest)))
        return await query.paginate({"numItems": num_items, "cursor": args["paginationOpts"]["cursor"]})

    @system_function("query", "data:document", args={"id": v.string()})
    async def document(ctx: Any, args: dict) -> dict | None:
        table = app.catalog.table_of_id(args["id"])
        if table is None:
            return None
        return await reader(ctx, table).get(args["id"])

    @system_function("mutation", "data:insert", args={"table": v.string(), "document": v.record(v.string(), v.any())})
    async def insert(ctx: Any, args: dict) -> str:
        table = _writable(args["table"], "insert")
        return await ctx.db.insert(table, args["document"])

    @system_function("mutation", "data:patch", args={
        "id": v.string(), "fields": v.record(v.string(), v.any()), "remove": v.optional(v.array(v.string()))})
    async def patch(ctx: Any, args: dict) -> None:
        _writable(app.catalog.table_of_id(args["id"]), f"patch {args['id']}")
        await ctx.db.patch(args["id"], {**args["fields"], **{name: UNSET for name in args.get("remove") or []}})

    @system_function("mutation", "data:replace", args={"id": v.string(), "document": v.record(v.string(), v.any())})
    async def replace(ctx: Any, args: dict) -> None:
        _writable(app.catalog.table_of_id(args["id"]), f"replace {args['id']}")
        await ctx.db.replace(args["id"], args["document"])

    @system_function("mutation", "data:delete", args={"ids": v.array(v.string())})
    async def delete(ctx: Any, args: dict) -> int:
        if len(args["ids"]) > MOST_DELETED:
            raise InvalidQuery(f"delete at most {MOST_DELETED} documents at once, got {len(args['ids'])}")
        for doc_id in args["ids"]:
            _writable(app.catalog.table_of_id(doc_id), f"delete {doc_id}")
            await ctx.db.delete(doc_id)
        return len(args["ids"])

    return [tables, page, document, insert, patch, replace, delete]
