"""``prefmem``: the command line, named after Convex's CLI.

    prefmem run PATH [ARGS_JSON]      run any function (internal ones too) as the admin
    prefmem dashboard                 a one-time login link to the running server's dashboard
    prefmem data [TABLE]              list tables, or print a table's documents as JSON lines
    prefmem export [--path OUT.zip]   a snapshot: one JSONL file per table in a zip
    prefmem import ZIP [--replace]    load a snapshot, keeping each document's _id and _creationTime
    prefmem codegen [--out DIR]       write the app's typed API: TypeScript, and Python calls (prefmem/codegen.py)

Every command works on the application in the current directory (``--functions``,
``--schema``, ``--db`` override where it lives; ``--db`` is a SQLite file or a
``postgresql://`` URL, and ``PREFMEM_DB`` its default). Values are printed and exported
in Convex's wire JSON (``prefmem.values.to_json``: ``$integer``, ``$bytes``, ``$float``).

``run`` and ``import`` start the application through ``Backend``, like the server does,
so the stored data is checked against the schema first. ``data`` and ``export`` only read
the database: they work without the application's code, and on a database whose data no
longer matches its schema, which is when you most need to look at it. An export from one
engine imports into the other: ids and creation times are kept.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import json
import os
import sys
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from tqdm import tqdm

DEFAULT_FUNCTIONS = "functions"
DEFAULT_SCHEMA = "schema.py"
DEFAULT_DB = os.path.join(".prefmem", "data.sqlite3")
DB_ENV = "PREFMEM_DB"  # the database when --db is not given: one setting for every command of a deployment
DOCUMENTS_FILE = "documents.jsonl"  # a table's file in a snapshot zip: TABLE/documents.jsonl, as Convex lays it out
_SCAN_CHUNK = 1000
_PROGRESS_DELAY_S = 0.5  # progress bars appear only for runs longer than this


ACTION_TIMEOUT_ENV = "PREFMEM_ACTION_TIMEOUT_S"  # a slow external service may need longer actions than Convex's 600 s


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: the action time limit must be a positive number of seconds")
    return seconds


class CommandError(Exception):
    """A failure to report on stderr with exit status 1, without a traceback."""


def _documents_count(n: int) -> str:
    return f"{n} document{'' if n == 1 else 's'}"


def _dumps(value: Any, **kw: Any) -> str:
    from prefmem.values import to_json

    return json.dumps(to_json(value), ensure_ascii=False, **kw)


# ---------------------------------------------------------------------------- opening

def _functions_dir(args: argparse.Namespace) -> Path:
    functions = Path(args.functions)
    if not functions.is_dir():
        raise CommandError(f"functions directory {functions} does not exist (use --functions DIR)")
    return functions


@contextmanager
def _loading_application() -> Iterator[None]:
    """Failures to load the app's code or schema, as one-line command errors."""
    from prefmem.errors import PrefmemError

    try:
        yield
    except PrefmemError as err:
        raise CommandError(str(err)) from None
    except Exception as err:  # noqa: BLE001 — application code failing to import
        raise CommandError(f"could not load the application: {type(err).__name__}: {err}") from None


def _open_backend(args: argparse.Namespace, **options: Any):  # noqa: ANN202 — a Backend, imported lazily
    from prefmem.backend import Backend

    functions = _functions_dir(args)
    with _loading_application():
        return Backend(functions=functions, schema=Path(args.schema), db=args.db, **options).open()


def _open_storage(db: str):  # noqa: ANN202 — a Persistence, imported lazily
    from prefmem.persistence.engines import open_persistence

    try:
        return open_persistence(db, create=False)
    except LookupError as err:
        raise CommandError(f"{err} (use --db PATH or --db postgresql://...)") from None


def _table_indexes(storage: Any) -> dict[str, dict[str, int]]:
    """``table -> {index name: index id}`` for every stored table."""
    out: dict[str, dict[str, int]] = {}
    for (table, name), (index_id, _fields) in storage.index_ids().items():
        out.setdefault(table, {})[name] = index_id
    return dict(sorted(out.items()))


def _documents(snapshot: Any, index_id: int, *, reverse: bool = False) -> Iterator[dict]:
    """Every document of an index at one snapshot, in key order, fetched in chunks."""
    from prefmem.persistence.base import decode_document

    lo, hi = b"", b"\xff"
    while lo < hi:
        rows = snapshot.scan(index_id, lo, hi, reverse, _SCAN_CHUNK)
        for _key, value, _doc_id in rows:
            yield decode_document(value)
        if len(rows) < _SCAN_CHUNK:
            return
        if reverse:
            hi = rows[-1][0]
        else:
            lo = rows[-1][0] + b"\x00"


# ---------------------------------------------------------------------------- run

def cmd_run(args: argparse.Namespace) -> int:
    from prefmem.errors import PrefmemError
    from prefmem.values import from_json

    try:
        raw = json.loads(args.args_json) if args.args_json is not None else {}
    except json.JSONDecodeError as err:
        raise CommandError(f"ARGS_JSON is not valid JSON: {err}") from None
    try:
        fn_args = from_json(raw)
    except PrefmemError as err:
        raise CommandError(f"ARGS_JSON is not a Convex value: {err}") from None
    if not isinstance(fn_args, dict):
        raise CommandError(f"ARGS_JSON must be a JSON object, got {args.args_json}")
    url = args.url or _running_server(args.db)
    if url is not None:
        return _run_through_server(url, args.db, args.path, raw)
    backend = _open_backend(args)
    try:
        try:
            fn = backend.registry.get(args.path, allow_internal=True)
        except PrefmemError as err:
            raise CommandError(str(err)) from None

        async def call() -> Any:
            outcome = await backend.app.run(fn, fn_args, None)
            await backend.app.committer.drain()
            return outcome

        outcome = asyncio.run(call())
    finally:
        backend.close()
    for line in outcome.log_lines:
        print(line, file=sys.stderr)
    if not outcome.ok:
        message = outcome.error_message or ""
        if outcome.has_error_data:
            message += f"\n  data: {_dumps(outcome.error_data)}"
        raise CommandError(message)
    print(_dumps(outcome.value, indent=2))
    return 0


def _running_server(db: str) -> str | None:
    """The URL of a live ``prefmem dev`` serving this SQLite file, if one announced itself.
    (A PostgreSQL deployment has many nodes: there, commands that need one take ``--url``,
    and ``run`` without it runs in this process, whose commit every node sees.)"""
    from prefmem.persistence.engines import is_postgres

    if is_postgres(db):
        return None
    try:
        url = json.loads(Path(f"{db}.server.json").read_text())["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    import httpx

    try:
        httpx.get(f"{url}/version", timeout=1.0).raise_for_status()
    except httpx.HTTPError:
        return None
    return url


def _admin_key(db: str, url: str) -> str:
    from prefmem.auth.keys import ADMIN_KEY_FILE
    from prefmem.persistence.engines import is_postgres

    if is_postgres(db):  # the deployment's key is in its database
        storage = _open_storage(db)
        try:
            key = storage.stored_secret(ADMIN_KEY_FILE)  # type: ignore[attr-defined]
        finally:
            storage.close()
        if key is None:
            raise CommandError(f"the server at {url} needs the admin key, and the database has none yet")
        return key
    key_file = Path(db).resolve().parent / ADMIN_KEY_FILE
    try:
        return key_file.read_text(encoding="utf-8").strip()
    except OSError:
        raise CommandError(f"the server at {url} needs the admin key, but {key_file} cannot be read") from None


def _run_through_server(url: str, db: str, path: str, raw_args: Any) -> int:
    """Call the function through the server with the admin key, so subscribers see its effects."""
    import httpx

    key = _admin_key(db, url)
    try:
        reply = httpx.post(f"{url}/api/function", json={"path": path, "args": raw_args, "format": "convex_encoded_json"},
                           headers={"Authorization": f"Convex {key}"}, timeout=None)
    except httpx.HTTPError as err:
        raise CommandError(f"could not reach the server at {url}: {err}") from None
    try:
        body = reply.json()
    except ValueError:
        raise CommandError(f"the server at {url} answered {reply.status_code}: {reply.text}") from None
    for line in body.get("logLines", []):
        print(line, file=sys.stderr)
    if body.get("status") != "success":
        message = body.get("errorMessage") or body.get("message") or reply.text
        if "errorData" in body:
            message += f"\n  data: {json.dumps(body['errorData'], ensure_ascii=False)}"
        raise CommandError(message)
    print(json.dumps(body["value"], ensure_ascii=False, indent=2))
    return 0


# ---------------------------------------------------------------------------- logs

def _print_log_entry(entry: dict) -> None:
    stamp = time.strftime("%H:%M:%S", time.localtime(entry["timestamp"] / 1000.0))
    status = "ok" if entry["ok"] else "failed"
    print(f"{stamp} [{entry['kind']}] {entry['path']} {status} in {entry['durationMs']:.1f} ms", flush=True)
    for line in entry["logLines"]:
        print(f"    {line}", flush=True)
    if entry["error"]:
        print(f"    error: [Request ID: {entry.get('requestId')}] {entry['error']}", flush=True)


def cmd_logs(args: argparse.Namespace) -> int:
    import httpx

    url = args.url or _running_server(args.db)
    if url is None:
        raise CommandError("no running server for this database: start `prefmem dev`, or pass --url")
    # One connection, so one worker process answers while it lives: each numbers the
    # executions in a sequence of its own (the reply's "log").
    client = httpx.Client(headers={"Authorization": f"Convex {_admin_key(args.db, url)}"})

    def fetch(after: int, wait: float) -> dict:
        try:
            reply = client.get(f"{url}/api/logs", params={"after": after, "wait": wait}, timeout=wait + 10)
        except httpx.HTTPError as err:
            raise CommandError(f"lost the server at {url}: {err}") from None
        if reply.status_code != 200:
            raise CommandError(f"the server at {url} answered {reply.status_code}: {reply.text}")
        return reply.json()

    with client:
        first = fetch(0, 0)
        for entry in first["entries"][-args.history:] if args.history else []:
            _print_log_entry(entry)
        after, numbering = first["last"], first.get("log")
        newest = max((entry["timestamp"] for entry in first["entries"]), default=0.0)
        while args.follow:
            batch = fetch(after, 20)
            entries = batch["entries"]
            if batch.get("log") != numbering:  # another worker answered: its numbers mean other executions
                batch = fetch(0, 0)
                entries = [entry for entry in batch["entries"] if entry["timestamp"] > newest]
            for entry in entries:
                _print_log_entry(entry)
            newest = max((entry["timestamp"] for entry in entries), default=newest)
            after, numbering = batch["last"], batch.get("log")
    return 0


# ---------------------------------------------------------------------------- dashboard

def cmd_dashboard(args: argparse.Namespace) -> int:
    import httpx

    url = args.url or _running_server(args.db)
    if url is None:
        raise CommandError("no running server for this database: start `prefmem dev`, or pass --url")
    try:
        reply = httpx.post(f"{url}/api/dashboard/login_code",
                           headers={"Authorization": f"Convex {_admin_key(args.db, url)}"}, timeout=10)
    except httpx.HTTPError as err:
        raise CommandError(f"could not reach the server at {url}: {err}") from None
    if reply.status_code != 200:
        raise CommandError(f"the server at {url} answered {reply.status_code}: {reply.text}")
    print(f"{url}/_dashboard/#login={reply.json()['code']}")
    print("This link signs one browser in with the admin key, once, within 10 minutes. Anyone holding the admin "
          f"key can also open {url}/_dashboard/ and paste it.", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- data

def cmd_data(args: argparse.Namespace) -> int:
    storage = _open_storage(args.db)
    try:
        tables = _table_indexes(storage)
        if args.table is None:
            rows = [(t, storage.count_index(ix["by_id"])) for t, ix in tables.items()
                    if not t.startswith("_") and "by_id" in ix]
            if not rows:
                print("no tables", file=sys.stderr)
                return 0
            width = max(len("table"), *(len(t) for t, _ in rows))
            print(f"{'table':<{width}}  documents")
            for table, count in rows:
                print(f"{table:<{width}}  {count}")
            return 0
        indexes = tables.get(args.table)
        if indexes is None or "by_creation_time" not in indexes:
            known = ", ".join(t for t in tables if not t.startswith("_")) or "none"
            raise CommandError(f"table {args.table!r} does not exist (tables: {known})")
        with storage.snapshot() as snap:
            total = storage.count_index(indexes["by_id"])
            shown = 0
            for doc in _documents(snap, indexes["by_creation_time"], reverse=args.order == "desc"):
                if shown >= args.limit:
                    break
                print(_dumps(doc))
                shown += 1
        if shown < total:
            print(f"showing {shown} of {total} documents of {args.table!r} (--limit {args.limit}, "
                  f"--order {args.order})", file=sys.stderr)
        return 0
    finally:
        storage.close()


# ---------------------------------------------------------------------------- export

def _export_path(path: str | None, ts: int) -> Path:
    name = f"snapshot_{ts}.zip"
    if path is None:
        return Path(name)
    out = Path(path)
    if out.is_dir():
        return out / name
    if out.suffix != ".zip":
        raise CommandError(f"--path {path}: give a directory or a path ending in .zip")
    return out


def cmd_export(args: argparse.Namespace) -> int:
    storage = _open_storage(args.db)
    try:
        tables = {t: ix for t, ix in _table_indexes(storage).items()
                  if not t.startswith("_") and "by_creation_time" in ix}
        # One snapshot for every table: the export is one consistent point in time.
        with storage.snapshot() as snap:
            out = _export_path(args.path, snap.ts)
            if out.exists():
                raise CommandError(f"{out} already exists; export writes a new file")
            partial = out.with_name(out.name + ".partial")
            counts: dict[str, int] = {}
            total = sum(storage.count_index(ix["by_id"]) for ix in tables.values() if "by_id" in ix)
            try:
                with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf, \
                        tqdm(total=total, unit="doc", desc="export", file=sys.stderr, delay=_PROGRESS_DELAY_S,
                             leave=False) as progress:
                    for table, indexes in tables.items():
                        count = 0
                        member = zipfile.ZipInfo(f"{table}/{DOCUMENTS_FILE}", time.localtime()[:6])
                        member.compress_type = zipfile.ZIP_DEFLATED
                        with zf.open(member, "w") as raw:
                            stream = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
                            for doc in _documents(snap, indexes["by_creation_time"]):
                                stream.write(_dumps(doc) + "\n")
                                count += 1
                                progress.update()
                            stream.flush()
                            stream.detach()
                        counts[table] = count
                partial.replace(out)
            finally:
                partial.unlink(missing_ok=True)
    finally:
        storage.close()
    summary = ", ".join(f"{t} {n}" for t, n in counts.items()) or "no tables"
    print(f"exported {sum(counts.values())} documents to {out} ({summary})")
    return 0


# ---------------------------------------------------------------------------- import

def _snapshot_tables(zf: zipfile.ZipFile) -> tuple[dict[str, zipfile.ZipInfo], list[str]]:
    """``table -> member`` for ``TABLE/documents.jsonl`` (Convex's layout) or ``TABLE.jsonl``; skipped names."""
    tables: dict[str, zipfile.ZipInfo] = {}
    skipped: list[str] = []
    for info in zf.infolist():
        if info.is_dir():
            continue
        parts = PurePosixPath(info.filename).parts
        if len(parts) == 2 and parts[1] == DOCUMENTS_FILE:
            table = parts[0]
        elif len(parts) == 1 and parts[0].endswith(".jsonl"):
            table = parts[0][: -len(".jsonl")]
        else:
            skipped.append(info.filename)
            continue
        if table.startswith("_"):
            skipped.append(info.filename)  # system tables (_tables, _storage, ...) are not imported
            continue
        if table in tables:
            raise CommandError(f"the snapshot holds two files for table {table!r}: {tables[table].filename} and "
                               f"{info.filename}")
        tables[table] = info
    return tables, skipped


def cmd_import(args: argparse.Namespace) -> int:
    from prefmem.database.importer import DocumentImporter, ImportRefused
    from prefmem.errors import PrefmemError
    from prefmem.values import from_json

    source = Path(args.zip)
    if not source.is_file():
        raise CommandError(f"no snapshot at {source}")
    try:
        zf = zipfile.ZipFile(source)
    except zipfile.BadZipFile:
        raise CommandError(f"{source} is not a zip file") from None
    with zf:
        tables, skipped = _snapshot_tables(zf)
        if not tables:
            raise CommandError(f"{source} holds no table files (expected TABLE/{DOCUMENTS_FILE})")
        for name in skipped:
            print(f"skipped {name}: not a user table's documents", file=sys.stderr)
        backend = _open_backend(args)
        try:
            total_bytes = sum(info.file_size for info in tables.values())
            with DocumentImporter(backend.app, backend.limits, replace=args.replace) as importer, \
                    tqdm(total=total_bytes, unit="B", unit_scale=True, desc="import", file=sys.stderr,
                         delay=_PROGRESS_DELAY_S, leave=False) as progress:
                for table, info in tables.items():
                    if not importer.begin_table(table, info.filename):
                        progress.update(info.file_size)
                        continue
                    with zf.open(info) as raw:
                        for lineno, line in enumerate(raw, start=1):
                            progress.update(len(line))
                            if not line.strip():
                                continue
                            where = f"{info.filename} line {lineno}"
                            try:
                                doc = from_json(json.loads(line))
                            except json.JSONDecodeError as err:
                                importer.problem(f"{where}: not valid JSON: {err.msg} (column {err.colno})")
                                continue
                            except UnicodeDecodeError as err:
                                importer.problem(f"{where}: not UTF-8 text: {err}")
                                continue
                            except PrefmemError as err:
                                importer.problem(f"{where}: not a Convex value: {err}")
                                continue
                            importer.add(table, doc, where)
                try:
                    counts = asyncio.run(importer.commit())
                except ImportRefused as err:
                    raise CommandError(str(err)) from None
                replaced = dict(importer.replaced)
        finally:
            backend.close()
    summary = ", ".join(f"{t} {n}" for t, n in counts.items())
    print(f"imported {sum(counts.values())} documents from {source} ({summary})")
    if replaced:
        print("replaced " + ", ".join(f"{_documents_count(n)} of {t}" for t, n in replaced.items()))
    return 0


# ---------------------------------------------------------------------------- codegen

def _generated_dir(args: argparse.Namespace, out: str | None) -> Path:
    from prefmem.codegen import GENERATED_DIR

    return Path(out) if out is not None else Path(args.functions) / GENERATED_DIR


def cmd_codegen(args: argparse.Namespace) -> int:
    from prefmem import codegen
    from prefmem.functions import load_functions

    functions = _functions_dir(args)
    out = _generated_dir(args, args.out)
    with _loading_application():
        changed = codegen.regenerate(out, load_functions(functions), Path(args.schema))
    if changed:
        print(f"wrote {', '.join(changed)} in {out}")
    else:
        print(f"{out} is up to date")
    return 0


# ---------------------------------------------------------------------------- dev

def cmd_dev(args: argparse.Namespace) -> int:
    from prefmem.limits import DEFAULT_LIMITS
    from prefmem.server import serve
    from prefmem.static import default_web_dir

    web = None if args.no_web else Path(args.web) if args.web is not None else default_web_dir()
    if web is not None and not web.is_dir():
        raise CommandError(f"web directory {web} does not exist (build the page first: make run)")
    if args.workers < 1:
        raise CommandError(f"--workers must be at least 1, got {args.workers}")
    from prefmem.bounds import Bounds

    try:
        bounds = Bounds.from_env()
    except ValueError as err:
        raise CommandError(str(err)) from None
    seconds = args.action_timeout
    if seconds is None:
        try:
            seconds = _seconds(os.environ.get(ACTION_TIMEOUT_ENV, "600"))
        except argparse.ArgumentTypeError as err:
            raise CommandError(f"{ACTION_TIMEOUT_ENV}: {err}") from None
    limits = dataclasses.replace(DEFAULT_LIMITS, action_time_ms=seconds * 1000.0)
    backend = _open_backend(args, durability=args.durability, dev_mode=not args.production, limits=limits,
                            bounds=bounds)
    codegen_dir = None if args.no_codegen else _generated_dir(args, args.codegen_out)
    serve(backend, host=args.host, port=args.port, watch=not args.no_watch, web_dir=web, codegen_dir=codegen_dir,
          workers=args.workers)
    return 0


# ---------------------------------------------------------------------------- main

def _application_arguments(parser: argparse.ArgumentParser, *, db: bool) -> None:
    where = parser.add_argument_group("application")
    where.add_argument("--functions", default=DEFAULT_FUNCTIONS, metavar="DIR",
                       help=f"the functions directory (default ./{DEFAULT_FUNCTIONS})")
    where.add_argument("--schema", default=DEFAULT_SCHEMA, metavar="FILE",
                       help=f"the schema file; absent means no schema (default ./{DEFAULT_SCHEMA})")
    if db:
        where.add_argument("--db", default=os.environ.get(DB_ENV) or DEFAULT_DB, metavar="PATH|URL",
                           help=f"the database: a SQLite file, or postgresql://user@host:port/dbname, which any "
                           f"number of nodes may share (default ${DB_ENV}, else ./{DEFAULT_DB})")


def build_parser() -> argparse.ArgumentParser:
    app = argparse.ArgumentParser(add_help=False)
    _application_arguments(app, db=True)

    parser = argparse.ArgumentParser(prog="prefmem", description="prefmem: a reactive backend with Convex's "
                                     "function model. Commands work on the application in the current directory.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    dev = sub.add_parser("dev", parents=[app], help="serve the application, reloading on code changes",
                         description="Serve the application's functions to the official Convex clients (sync "
                         "websocket and HTTP API) and its HTTP actions, on one origin.")
    dev.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    dev.add_argument("--port", type=int, default=3210, help="port (default 3210)")
    dev.add_argument("--durability", choices=["normal", "full"], default="normal",
                     help="normal: survives a crash of the prefmem process (SQLite: WAL; PostgreSQL: "
                     "synchronous_commit off); full: also survives power loss or a crash of PostgreSQL (fsync per "
                     "commit batch; synchronous_commit on) (default normal)")
    dev.add_argument("--no-watch", action="store_true", help="do not reload when the code changes")
    dev.add_argument("--web", default=None, metavar="DIR",
                     help="serve this built web page for GET requests no route or HTTP action answers "
                     "(default ./web/dist if it exists)")
    dev.add_argument("--no-web", action="store_true", help="serve no web page")
    dev.add_argument("--production", action="store_true",
                     help="hide server internals in error messages sent to clients")
    dev.add_argument("--action-timeout", type=_seconds, default=None,
                     metavar="S", help=f"how long an action may run, in seconds (default ${ACTION_TIMEOUT_ENV} or "
                     "600, Convex's limit for Node actions)")
    dev.add_argument("--workers", type=int, default=1, metavar="N",
                     help="serve from N processes sharing the port and the database, one per core; on PostgreSQL "
                     "each is a node like any other (default 1)")
    # Where a frontend can import the generated API depends on its layout, so dev takes codegen's --out too.
    dev.add_argument("--codegen-out", default=None, metavar="DIR",
                     help="while watching, keep the TypeScript API (prefmem codegen) current in DIR "
                     "(default FUNCTIONS/_generated)")
    dev.add_argument("--no-codegen", action="store_true", help="do not write the TypeScript API")
    dev.set_defaults(handler=cmd_dev)

    codegen = sub.add_parser("codegen", help="write the app's typed API for the npm and Python convex clients",
                             description="Write _generated/api.d.ts, api.js and dataModel.d.ts from the validators "
                             "of the app's functions and schema: typed `api` and `internal` references for the npm "
                             "`convex` client, and `Id`, `Doc`, `TableNames` and `DataModel`; and api.py: each "
                             "function as a typed call on the Python `convex` client. Files whose text is "
                             "unchanged are not rewritten.")
    _application_arguments(codegen, db=False)
    codegen.add_argument("--out", default=None, metavar="DIR",
                         help="where to write the files (default FUNCTIONS/_generated)")
    codegen.set_defaults(handler=cmd_codegen)

    run = sub.add_parser("run", parents=[app], help="run a function (internal ones too) as the admin",
                         description="Run any query, mutation or action, internal ones included, as the admin, "
                         "and print its result as Convex JSON. Log lines go to stderr.")
    run.add_argument("path", metavar="PATH", help="the function path, e.g. messages:send")
    run.add_argument("args_json", metavar="ARGS_JSON", nargs="?", default=None,
                     help="the arguments as a JSON object in Convex JSON (default {})")
    run.add_argument("--url", default=None, help="call through the server at URL with the admin key (default: the "
                     "running `prefmem dev` of this database, if any; else run in-process)")
    run.set_defaults(handler=cmd_run)

    logs = sub.add_parser("logs", parents=[app], help="follow the function executions of the running server",
                          description="Print recent executions (path, outcome, time, log lines) of the `prefmem "
                          "dev` serving this database, then follow new ones until interrupted.")
    logs.add_argument("--url", default=None, help="the server (default: the one serving --db)")
    logs.add_argument("--history", type=int, default=10, metavar="N", help="show the last N first (default 10)")
    logs.add_argument("--no-follow", dest="follow", action="store_false", help="print the history and stop")
    logs.set_defaults(handler=cmd_logs)

    dashboard = sub.add_parser("dashboard", parents=[app], help="print a one-time login link to the dashboard",
                               description="Print a link that opens the dashboard of the `prefmem dev` serving this "
                               "database at /_dashboard, signed in with the admin key (the link works once, within "
                               "10 minutes).")
    dashboard.add_argument("--url", default=None, help="the server (default: the one serving --db)")
    dashboard.set_defaults(handler=cmd_dashboard)

    data = sub.add_parser("data", parents=[app], help="list tables, or print a table's documents",
                          description="Without TABLE: every table with its document count. With TABLE: its "
                          "documents as JSON lines, newest first.")
    data.add_argument("table", metavar="TABLE", nargs="?", default=None)
    data.add_argument("--limit", type=int, default=100, metavar="N", help="print at most N documents (default 100)")
    data.add_argument("--order", choices=["asc", "desc"], default="desc",
                      help="by creation time (default desc: newest first)")
    data.set_defaults(handler=cmd_data)

    export = sub.add_parser("export", parents=[app], help="write a snapshot zip of every table",
                            description=f"Write every table to a zip, one TABLE/{DOCUMENTS_FILE} file per table, "
                            "one document per line in Convex JSON, all at one point in time.")
    export.add_argument("--path", default=None, metavar="OUT",
                        help="a new .zip path or a directory (default ./snapshot_<timestamp>.zip)")
    export.set_defaults(handler=cmd_export)

    imp = sub.add_parser("import", parents=[app], help="load a snapshot zip made by export",
                         description="Load a snapshot zip, keeping every document's _id and _creationTime. Every "
                         "document is checked against the schema first; if any fails, nothing is imported and "
                         "each failure is named. Tables that already hold documents are refused unless --replace.")
    imp.add_argument("zip", metavar="ZIP")
    imp.add_argument("--replace", action="store_true",
                     help="delete the existing documents of every imported table first")
    imp.set_defaults(handler=cmd_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    if getattr(args, "limit", 0) < 0:
        parser.error("--limit must not be negative")
    try:
        return args.handler(args)
    except CommandError as err:
        print(f"prefmem {args.command}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
