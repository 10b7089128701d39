"""The ``prefmem`` command line, run as a subprocess (``python -m prefmem``) on real databases:
SQLite files and PostgreSQL schemas, and across the two (export from one, import into the other)."""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from prefmem.values import from_json

pytestmark = pytest.mark.engines

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "tests" / "apps" / "chat"


class Cli:
    """``prefmem`` against one application and a database of choice, in a temp directory.

    Databases are named as files (``db="fresh.sqlite3"``); ``databases`` maps a name to
    another database (a PostgreSQL URL), made on first use by ``new_database``."""

    def __init__(self, cwd: Path, functions: Path, schema: Path, new_database: Any = None) -> None:
        self.cwd = cwd
        self.functions = functions
        self.schema = schema
        self._new_database = new_database
        self._databases: dict[str, str] = {}
        self._stack = contextlib.ExitStack()

    def database(self, name: str) -> str:
        if self._new_database is None or name == "absent.sqlite3":
            return str(self.cwd / name)
        if name not in self._databases:
            self._databases[name] = str(self._stack.enter_context(self._new_database()))
        return self._databases[name]

    def close(self) -> None:
        self._stack.close()

    def __call__(self, *args: str, db: str = "data.sqlite3", ok: bool = True) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "prefmem", *args, "--functions", str(self.functions),
               "--schema", str(self.schema), "--db", self.database(db)]
        proc = subprocess.run(cmd, cwd=self.cwd, capture_output=True, text=True, timeout=60)
        if ok:
            assert proc.returncode == 0, f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
        return proc

    def run(self, path: str, args: dict | None = None, **kw: str) -> object:
        proc = self("run", path, json.dumps(args or {}), **kw)
        return from_json(json.loads(proc.stdout))

    def documents(self, table: str, **kw: str) -> list[dict]:
        out = self("data", table, "--limit", "100000", "--order", "asc", **kw).stdout
        return [from_json(json.loads(line)) for line in out.splitlines()]


@pytest.fixture
def cli(tmp_path: Path, engine: str, new_database: Any) -> Iterator[Cli]:
    cli = Cli(tmp_path, CHAT / "functions", CHAT / "schema.py", new_database if engine == "postgresql" else None)
    yield cli
    cli.close()


def _populate(cli: Cli) -> str:
    channel = cli.run("messages:create_channel", {"name": "general"})
    cli.run("messages:create_channel", {"name": "random"})
    for body in ("hello", "world", "again"):
        cli.run("messages:send", {"channel": channel, "body": body, "author": "ann"})
    first = cli.documents("messages")[0]["_id"]
    cli.run("messages:set_likes", {"id": first, "likes": 3})
    return channel


def test_run_mutation_query_and_internal_function(cli: Cli) -> None:
    channel = cli.run("messages:create_channel", {"name": "general"})
    assert isinstance(channel, str)
    sent = cli("run", "messages:send", json.dumps({"channel": channel, "body": "hi"}))
    assert json.loads(sent.stdout).startswith("s")  # the new message's id, as JSON
    assert "[LOG] sending hi" in sent.stderr  # the function's print, on stderr
    recent = cli.run("messages:recent", {"channel": channel})
    assert [m["body"] for m in recent] == ["hi"] and recent[0]["channel"] == channel
    # Internal functions run too: the CLI is the admin.
    assert cli("run", "messages:wipe").stdout.strip() == "null"
    assert cli.run("messages:recent", {"channel": channel}) == []
    # ARGS_JSON is optional.
    assert cli.run("messages:ping") == "pong"


@pytest.mark.sqlite_only
def test_run_creates_the_database_and_its_directory_on_a_fresh_checkout(tmp_path: Path) -> None:
    """As ``make run`` does first on a clean clone: ``./.prefmem`` does not exist yet."""
    cli = Cli(tmp_path, CHAT / "functions", CHAT / "schema.py")
    channel = cli.run("messages:create_channel", {"name": "general"}, db=".prefmem/data.sqlite3")
    assert isinstance(channel, str) and (tmp_path / ".prefmem" / "data.sqlite3").is_file()


def test_run_failures_go_to_stderr_with_status_1(cli: Cli) -> None:
    channel = cli.run("messages:create_channel", {"name": "general"})
    cases = [
        # The admin is told of any function, public or not, in Convex's words for `npx convex run`.
        (("run", "messages:nope"), "Could not find function for 'messages:nope'. Did you forget to run `npx convex dev`?"),
        (("run", "messages:send", json.dumps({"channel": channel, "body": 3})),
         "ArgumentValidationError: Value does not match validator.\nPath: .body\nValue: 3.0\nValidator: v.string()"),
        (("run", "messages:send", json.dumps({"channel": channel, "body": " "})), '"code": "EMPTY"'),
        (("run", "messages:send", "{not json"), "ARGS_JSON is not valid JSON"),
        (("run", "messages:send_then_fail", json.dumps({"channel": channel, "body": "x"})), "boom after writing"),
    ]
    for args, expected in cases:
        proc = cli(*args, ok=False)
        assert proc.returncode == 1, args
        assert expected in proc.stderr, (args, proc.stderr)
        assert proc.stdout == ""
    assert cli.documents("messages") == []  # the failed mutation wrote nothing


def test_data_lists_tables_and_prints_documents(cli: Cli) -> None:
    _populate(cli)
    listing = cli("data").stdout.splitlines()
    assert listing[0].split() == ["table", "documents"]
    assert [line.split() for line in listing[1:]] == [["channels", "2"], ["messages", "3"]]

    newest = cli("data", "messages", "--limit", "1")
    lines = newest.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["body"] == "again"  # newest first, as Convex
    assert "showing 1 of 3" in newest.stderr
    assert [d["body"] for d in cli.documents("messages")] == ["hello", "world", "again"]

    missing = cli("data", "nope", ok=False)
    assert missing.returncode == 1 and "'nope' does not exist" in missing.stderr
    no_db = cli("data", db="absent.sqlite3", ok=False)
    assert no_db.returncode == 1 and "no database at" in no_db.stderr


def test_export_then_import_into_a_fresh_database_round_trips(cli: Cli) -> None:
    channel = _populate(cli)
    out = cli("export", "--path", "snap.zip")
    assert "exported 5 documents" in out.stdout
    with zipfile.ZipFile(cli.cwd / "snap.zip") as zf:
        assert sorted(zf.namelist()) == ["channels/documents.jsonl", "messages/documents.jsonl"]
        first = json.loads(zf.read("messages/documents.jsonl").decode().splitlines()[0])
        assert set(first) >= {"_id", "_creationTime", "channel", "body", "author", "likes"}

    imported = cli("import", "snap.zip", db="fresh.sqlite3")
    assert "imported 5 documents" in imported.stdout
    for table in ("channels", "messages"):
        before, after = cli.documents(table), cli.documents(table, db="fresh.sqlite3")
        assert before == after and len(after) > 0  # _id and _creationTime included
    # The imported documents are in the user indexes, not only in the table.
    assert cli.run("messages:recent", {"channel": channel}, db="fresh.sqlite3") == \
        cli.run("messages:recent", {"channel": channel})
    # New documents still get later creation times than every imported one.
    cli.run("messages:send", {"channel": channel, "body": "after"}, db="fresh.sqlite3")
    times = [d["_creationTime"] for d in cli.documents("messages", db="fresh.sqlite3")]
    assert times == sorted(times) and len(set(times)) == 4

    # A second import into the same tables is refused unless --replace.
    again = cli("import", "snap.zip", db="fresh.sqlite3", ok=False)
    assert again.returncode == 1 and "already holds" in again.stderr and "--replace" in again.stderr
    cli("import", "snap.zip", "--replace", db="fresh.sqlite3")
    assert cli.documents("messages", db="fresh.sqlite3") == cli.documents("messages")


def test_import_refuses_a_document_that_fails_the_schema_and_imports_nothing(cli: Cli) -> None:
    channel = _populate(cli)
    cli("export", "--path", "snap.zip")
    with zipfile.ZipFile(cli.cwd / "snap.zip") as zf:
        channels = zf.read("channels/documents.jsonl")
        messages = zf.read("messages/documents.jsonl").decode().splitlines()
    bad = json.loads(messages[1])
    bad["body"] = {"$integer": "AQAAAAAAAAA="}  # an int64 where the schema wants a string
    messages[1] = json.dumps(bad)
    with zipfile.ZipFile(cli.cwd / "bad.zip", "w") as zf:
        zf.writestr("channels/documents.jsonl", channels)
        zf.writestr("messages/documents.jsonl", "\n".join(messages) + "\n")

    proc = cli("import", "bad.zip", db="fresh.sqlite3", ok=False)
    assert proc.returncode == 1
    assert "nothing was imported" in proc.stderr
    assert f"messages/documents.jsonl line 2, document {bad['_id']}" in proc.stderr
    assert "Path: .body\nValue: 1\nValidator: v.string()" in proc.stderr  # an int64 1
    # Not even the valid documents (and not the other table) were written.
    listing = [line.split() for line in cli("data", db="fresh.sqlite3").stdout.splitlines()[1:]]
    assert listing == [["channels", "0"], ["messages", "0"]]
    assert cli.run("messages:recent", {"channel": channel}, db="fresh.sqlite3") == []


def test_export_import_keeps_convex_types_in_a_schemaless_app(tmp_path: Path, engine: str, new_database: Any) -> None:
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "kv.py").write_text(
        "from prefmem import mutation, v\n\n"
        "@mutation(args={'value': v.any()})\n"
        "async def put(ctx, args):\n"
        "    return await ctx.db.insert('kv', {'value': args['value']})\n")
    cli = Cli(tmp_path, functions, tmp_path / "no_schema.py", new_database if engine == "postgresql" else None)
    try:
        _keeps_convex_types(cli)
    finally:
        cli.close()


def _keeps_convex_types(cli: Cli) -> None:
    value = {"int": {"$integer": "KgAAAAAAAAA="}, "bytes": {"$bytes": "AAEC/w=="}, "neg0": {"$float": "AAAAAAAAAIA="},
             "nan": {"$float": "AAAAAAAA+H8="}, "list": [1.5, None, True, "x"]}
    cli("run", "kv:put", json.dumps({"value": value}))
    cli("export", "--path", "snap.zip")
    cli("import", "snap.zip", db="fresh.sqlite3")
    # Wire JSON is compared as text: NaN is not equal to itself as a float.
    assert cli("data", "kv", db="fresh.sqlite3").stdout == cli("data", "kv").stdout
    (doc,) = cli.documents("kv", db="fresh.sqlite3")
    stored = doc["value"]
    assert stored["int"] == 42 and isinstance(stored["int"], int)
    assert stored["bytes"] == b"\x00\x01\x02\xff"
    assert stored["neg0"] == 0.0 and math.copysign(1.0, stored["neg0"]) < 0
    assert math.isnan(stored["nan"]) and stored["list"] == [1.5, None, True, "x"]


@pytest.mark.sqlite_only
def test_an_app_moves_from_sqlite_to_postgresql_and_back_losslessly(cli: Cli, request) -> None:
    """Export from SQLite, import into PostgreSQL, export from there, import into a new
    SQLite file: every document keeps its _id, _creationTime and values, in every index,
    and the exports from both engines are the same documents."""
    from prefmem.testing import fresh_schema

    channel = _populate(cli)
    cli.run("messages:send", {"channel": channel, "body": "\u00e9t\u00e9 \U0001f600", "author": "z\x00z"})
    cli("export", "--path", "from_sqlite.zip")
    url, drop = fresh_schema(request.getfixturevalue("postgres_url"))
    try:
        cli._databases["pg"] = url
        assert "imported 6 documents" in cli("import", "from_sqlite.zip", db="pg").stdout
        for table in ("channels", "messages"):
            assert cli.documents(table, db="pg") == cli.documents(table)
        assert cli.run("messages:recent", {"channel": channel}, db="pg") == cli.run("messages:recent",
                                                                                  {"channel": channel})
        cli("export", "--path", "from_postgres.zip", db="pg")
        cli("import", "from_postgres.zip", db="back.sqlite3")
        for table in ("channels", "messages"):
            assert cli.documents(table, db="back.sqlite3") == cli.documents(table)
        with zipfile.ZipFile(cli.cwd / "from_sqlite.zip") as a, zipfile.ZipFile(cli.cwd / "from_postgres.zip") as b:
            assert sorted(a.namelist()) == sorted(b.namelist())
            for name in a.namelist():
                assert a.read(name) == b.read(name)
        # New documents on PostgreSQL get later creation times than every imported one.
        cli.run("messages:send", {"channel": channel, "body": "later"}, db="pg")
        times = [d["_creationTime"] for d in cli.documents("messages", db="pg")]
        assert times == sorted(times) and len(set(times)) == len(times) == 5
    finally:
        drop()
