"""The dashboard's system functions against a real server, over HTTP and the sync protocol.

Only the admin key opens them: every one is refused, with nothing in the reply but the
refusal, to a caller with no credentials, with a user's token, or with a wrong key.
As the admin they show and change the app's data (writes checked by the schema as any
mutation's), run its functions, follow its execution log live, cancel scheduled work,
and upload and delete files. The browser side is tests/web/test_dashboard.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from prefmem.backend import Backend
from prefmem.dashboard import Dashboard
from prefmem.server import Server
from prefmem.values import from_json
from tests.e2e.conftest import APPS, ROOT, RunningServer

BOARD = APPS / "board"
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    server = RunningServer("board", tmp_path_factory.mktemp("board") / "data.sqlite3").start()
    yield server
    server.stop()


@pytest.fixture
def fresh_board(tmp_path):
    server = RunningServer("board", tmp_path / "data.sqlite3").start()
    yield server
    server.stop()


def admin_key(server: RunningServer) -> str:
    return (server.db.parent / "admin_key").read_text().strip()


def system_paths(tmp_path: Path) -> dict[str, str]:
    """Every system function of the dashboard, path -> kind, as a real server registers them."""
    backend = Backend(functions=BOARD / "functions", schema=BOARD / "schema.py", db=tmp_path / "paths.sqlite3").open()
    try:
        return {fn.path: fn.kind for fn in Dashboard(Server(backend)).functions}
    finally:
        backend.close()


_http = httpx.Client(timeout=20)  # one connection pool: dozens of calls per test


def http_call(server: RunningServer, kind: str, path: str, args: Any, auth: str | None = None) -> httpx.Response:
    headers = {"Authorization": auth} if auth else {}
    return _http.post(f"{server.url}/api/{kind}", json={"path": path, "args": [args], "format": "convex_encoded_json"},
                      headers=headers)


def admin(server: RunningServer, kind: str, path: str, args: Any | None = None) -> Any:
    """Call as the admin; the value, or AssertionError with the error message."""
    reply = http_call(server, kind, path, args or {}, f"Convex {admin_key(server)}")
    body = reply.json()
    assert reply.status_code == 200, f"{path}: {reply.status_code} {body}"
    return from_json(body["value"])


def admin_error(server: RunningServer, kind: str, path: str, args: Any) -> str:
    reply = http_call(server, kind, path, args, f"Convex {admin_key(server)}")
    assert reply.status_code == 560, reply.text
    return reply.json()["errorMessage"]


def user_token(server: RunningServer) -> str:
    """A signed-up user's token (a new user each time)."""
    email = f"eve-{uuid.uuid4().hex[:8]}@example.com"
    reply = httpx.post(f"{server.url}/api/auth/signup", json={"email": email, "password": "correct horse battery"})
    assert reply.status_code == 200, reply.text
    return reply.json()["token"]


class Sync:
    """One websocket speaking the sync protocol as the official clients do."""

    def __init__(self, url: str) -> None:
        self.url = url.replace("http", "ws") + "/api/sync"
        self.query_set = 0
        self.identity = 0
        self.request = 0
        self.pending: list[dict] = []

    async def __aenter__(self) -> "Sync":
        self.ws = await websockets.connect(self.url)
        await self.send({"type": "Connect", "sessionId": "dashboard-test", "connectionCount": 0,
                         "lastCloseReason": "InitialConnect", "clientTs": 0})
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def send(self, msg: dict) -> None:
        await self.ws.send(json.dumps(msg))

    async def receive(self, predicate, timeout: float = 15.0) -> dict:
        """The first message (kept ones first) matching ``predicate``; the rest are kept."""
        for i, msg in enumerate(self.pending):
            if predicate(msg):
                return self.pending.pop(i)

        async def read() -> dict:
            while True:
                msg = json.loads(await self.ws.recv())
                if predicate(msg):
                    return msg
                self.pending.append(msg)

        return await asyncio.wait_for(read(), timeout)

    async def authenticate(self, token_type: str, value: str) -> dict:
        await self.send({"type": "Authenticate", "tokenType": token_type, "value": value, "baseVersion": self.identity})
        reply = await self.receive(lambda m: m["type"] == "AuthError" or (
            m["type"] == "Transition" and m["endVersion"]["identity"] == self.identity + 1))
        if reply["type"] == "Transition":
            self.identity += 1
        return reply

    async def subscribe(self, query_id: int, path: str, args: dict) -> dict:
        """The query's first result: its ``QueryUpdated`` or ``QueryFailed``."""
        self.query_set += 1
        await self.send({"type": "ModifyQuerySet", "baseVersion": self.query_set - 1, "newVersion": self.query_set,
                         "modifications": [{"type": "Add", "queryId": query_id, "udfPath": path, "args": [args]}]})
        transition = await self.receive(lambda m: m["type"] == "Transition" and m["endVersion"]["querySet"] == self.query_set)
        return next(mod for mod in transition["modifications"] if mod.get("queryId") == query_id)

    async def update(self, query_id: int, predicate=lambda value: True, timeout: float = 15.0) -> Any:
        """The value of the next update of ``query_id`` that satisfies ``predicate``."""

        def wanted(msg: dict) -> bool:
            return msg["type"] == "Transition" and any(
                mod.get("queryId") == query_id and mod["type"] == "QueryUpdated" and predicate(from_json(mod["value"]))
                for mod in msg["modifications"])

        transition = await self.receive(wanted, timeout)
        return from_json(next(mod["value"] for mod in transition["modifications"] if mod.get("queryId") == query_id))

    async def call(self, kind: str, path: str, args: dict) -> dict:
        self.request += 1
        request_id = self.request
        await self.send({"type": kind, "requestId": request_id, "udfPath": path, "args": [args]})
        return await self.receive(lambda m: m["type"] == f"{kind}Response" and m["requestId"] == request_id)


# ---------------------------------------------------------------------------- admin only

def test_no_system_function_answers_without_the_admin_key_over_http(board, tmp_path):
    paths = system_paths(tmp_path)
    assert len(paths) >= 18 and all(p.startswith("_system/dashboard/") for p in paths)
    token = user_token(board)
    for path, kind in paths.items():
        for auth in (None, f"Bearer {token}"):
            reply = http_call(board, kind, path, {}, auth)
            body = reply.json()
            assert reply.status_code == 560 and "value" not in body, (path, auth, body)
            assert "could not find" in body["errorMessage"].lower(), (path, body)
        wrong = http_call(board, kind, path, {}, "Convex prefmem-admin|" + "0" * 64)
        assert wrong.status_code == 401 and "value" not in wrong.json(), (path, wrong.text)
        # The admin reaches every one of them (some then refuse these empty arguments).
        reached = http_call(board, kind, path, {}, f"Convex {admin_key(board)}")
        assert "could not find" not in reached.text.lower(), (path, reached.text)
    assert admin(board, "query", "_system/dashboard/data:tables")


async def test_no_system_function_answers_without_the_admin_key_over_sync(board, tmp_path):
    paths = system_paths(tmp_path)
    token = user_token(board)
    async with Sync(board.url) as sync:  # a forged admin key ends the socket that sent it
        reply = await sync.authenticate("Admin", "prefmem-admin|" + "0" * 64)
        assert reply["type"] == "AuthError", reply
    for credentials in (None, ("User", token)):
        async with Sync(board.url) as sync:
            if credentials is not None:
                reply = await sync.authenticate(*credentials)
                assert reply["type"] == "Transition", reply
            for query_id, (path, kind) in enumerate(paths.items()):
                if kind == "query":
                    result = await sync.subscribe(query_id, path, {})
                    assert result["type"] == "QueryFailed" and "value" not in result, (path, result)
                    assert "could not find" in result["errorMessage"].lower()
                else:
                    reply = await sync.call(kind.capitalize(), path, {})
                    assert reply["success"] is False and "could not find" in reply["result"].lower(), (path, reply)
    async with Sync(board.url) as sync:
        await sync.authenticate("Admin", admin_key(board))
        result = await sync.subscribe(0, "_system/dashboard/data:tables", {})
        assert result["type"] == "QueryUpdated"
        assert "notes" in [t["name"] for t in from_json(result["value"])]


# ---------------------------------------------------------------------------- data

def page(server: RunningServer, **args: Any) -> dict:
    args.setdefault("paginationOpts", {"numItems": 10, "cursor": None})
    return admin(server, "query", "_system/dashboard/data:page", {"table": "notes", **args})


def test_tables_list_counts_schemas_and_indexes(board):
    def tables() -> dict[str, dict]:
        return {t["name"]: t for t in admin(board, "query", "_system/dashboard/data:tables")}

    before = tables()["notes"]["count"]
    admin(board, "mutation", "notes:add_many", {"count": 7})
    found = tables()
    assert set(found) == {"notes", "_scheduled_functions", "_storage"}
    notes = found["notes"]
    assert notes["count"] == before + 7 and not notes["system"] and found["_storage"]["system"]
    assert [ix["name"] for ix in notes["indexes"]] == ["by_creation_time", "by_id", "by_priority"]
    assert notes["indexes"][2]["fields"] == ["priority"]
    assert notes["searchIndexes"] == [{"name": "search_title", "searchField": "title", "filterFields": ["priority"]}]
    assert notes["vectorIndexes"] == [{"name": "by_embedding", "vectorField": "embedding", "dimensions": 3,
                                       "filterFields": []}]
    assert notes["validator"]["value"]["tags"] == {"fieldType": {"type": "array", "value": {"type": "string"}},
                                                   "optional": True}


def test_pages_follow_the_chosen_index_and_filters(fresh_board):
    admin(fresh_board, "mutation", "notes:add_many", {"count": 30})
    titles, cursor, pages = [], None, 0
    while True:
        result = page(fresh_board, paginationOpts={"numItems": 10, "cursor": cursor})
        titles += [d["title"] for d in result["page"]]
        pages += 1
        if result["isDone"]:
            break
        cursor = result["continueCursor"]
    assert titles == [f"note {i:03d}" for i in range(29, -1, -1)] and pages == 3
    by_priority = page(fresh_board, index="by_priority", order="asc", paginationOpts={"numItems": 30, "cursor": None})
    assert [d["priority"] for d in by_priority["page"]] == sorted(d["priority"] for d in by_priority["page"])
    threes = page(fresh_board, index="by_priority", filters=[{"field": "priority", "op": "eq", "value": 3}],
                  paginationOpts={"numItems": 30, "cursor": None})
    assert len(threes["page"]) == 6 and {d["priority"] for d in threes["page"]} == {3}
    upper = page(fresh_board, index="by_priority", order="asc", filters=[
        {"field": "priority", "op": "gte", "value": 3}, {"field": "title", "op": "lt", "value": "note 010"}])
    assert sorted(d["title"] for d in upper["page"]) == ["note 003", "note 004", "note 008", "note 009"]
    one = page(fresh_board, filters=[{"field": "title", "op": "eq", "value": "note 007"}])
    assert [d["title"] for d in one["page"]] == ["note 007"]
    for path, args in [("data:page", {"table": "notes"}), ("schedules:list", {}), ("files:list", {})]:
        for wrong in (0, 2.5, 5000):
            message = admin_error(fresh_board, "query", f"_system/dashboard/{path}",
                                  {**args, "paginationOpts": {"numItems": wrong, "cursor": None}})
            assert "numItems must be a whole number from 1 to 200" in message, (path, wrong, message)


def test_edits_are_checked_by_the_schema_as_a_mutations_writes_are(board):
    note = admin(board, "mutation", "_system/dashboard/data:insert",
                 {"table": "notes", "document": {"title": "first", "priority": 1}})
    bad = admin_error(board, "mutation", "_system/dashboard/data:patch", {"id": note, "fields": {"title": 5}})
    assert 'in table "notes" because it does not match the schema' in bad and "Path: .title" in bad, bad
    missing = admin_error(board, "mutation", "_system/dashboard/data:patch",
                          {"id": note, "fields": {}, "remove": ["priority"]})
    assert "priority" in missing, missing
    refused = admin_error(board, "mutation", "_system/dashboard/data:insert",
                          {"table": "notes", "document": {"title": "no priority"}})
    assert "does not match the schema" in refused
    assert admin(board, "query", "_system/dashboard/data:document", {"id": note})["title"] == "first"
    admin(board, "mutation", "_system/dashboard/data:patch",
          {"id": note, "fields": {"title": "renamed", "tags": ["a"]}})
    doc = admin(board, "query", "_system/dashboard/data:document", {"id": note})
    assert doc["title"] == "renamed" and doc["tags"] == ["a"]
    admin(board, "mutation", "_system/dashboard/data:patch", {"id": note, "fields": {}, "remove": ["tags"]})
    admin(board, "mutation", "_system/dashboard/data:replace",
          {"id": note, "document": {"title": "replaced", "priority": 2}})
    doc = admin(board, "query", "_system/dashboard/data:document", {"id": note})
    assert doc == {"_id": note, "_creationTime": doc["_creationTime"], "title": "replaced", "priority": 2}
    assert "replaced" in admin(board, "query", "notes:titles")
    assert admin(board, "mutation", "_system/dashboard/data:delete", {"ids": [note]}) == 1
    assert admin(board, "query", "_system/dashboard/data:document", {"id": note}) is None


def test_system_tables_are_read_only(board):
    upload = admin(board, "mutation", "_system/dashboard/files:upload_url")
    storage_id = httpx.post(board.url + upload, content=b"bytes").json()["storageId"]
    files = page(board, table="_storage")["page"]
    assert files[0]["_id"] == storage_id
    for path, args in [("data:patch", {"id": storage_id, "fields": {"size": 1}}),
                       ("data:delete", {"ids": [storage_id]}),
                       ("data:replace", {"id": storage_id, "document": {}}),
                       ("data:insert", {"table": "_storage", "document": {"sha256": "x", "size": 1}})]:
        message = admin_error(board, "mutation", f"_system/dashboard/{path}", args)
        assert "system table, read-only" in message, (path, message)
    assert "not shown" in admin_error(board, "query", "_system/dashboard/data:page",
                                      {"table": "_upload_tokens", "paginationOpts": {"numItems": 5, "cursor": None}})


# ---------------------------------------------------------------------------- functions

def test_functions_are_listed_with_kind_visibility_and_arguments(board):
    functions = {f["path"]: f for f in admin(board, "query", "_system/dashboard/functions:list")}
    assert not [p for p in functions if p.startswith("_system/")]
    add = functions["notes:add"]
    assert add["kind"] == "mutation" and add["visibility"] == "public"
    assert add["args"]["value"]["title"] == {"fieldType": {"type": "string"}, "optional": False}
    assert functions["notes:add_later"]["visibility"] == "internal"
    assert functions["notes:shout"]["kind"] == "action" and functions["notes:titles"]["kind"] == "query"
    assert functions["GET /ping"]["kind"] == "httpAction"


def test_running_a_function_shows_its_value_logs_and_time(board):
    run = admin(board, "action", "_system/dashboard/functions:run",
                {"path": "notes:add", "args": {"title": "from the dashboard", "priority": 1}})
    assert run["ok"] and isinstance(run["value"], str) and run["logLines"] == ["[LOG] adding from the dashboard"]
    assert run["durationMs"] > 0
    assert admin(board, "query", "_system/dashboard/data:document", {"id": run["value"]})["title"] == "from the dashboard"
    shout = admin(board, "action", "_system/dashboard/functions:run", {"path": "notes:shout", "args": {"text": "hi"}})
    assert shout["value"] == "HI" and shout["logLines"] == ["[WARN] shouting hi"]
    refused = admin(board, "action", "_system/dashboard/functions:run", {"path": "notes:refuse", "args": {"reason": "no"}})
    assert not refused["ok"] and refused["errorData"] == {"reason": "no"} and refused["logLines"] == ["[LOG] about to refuse"]
    invalid = admin(board, "action", "_system/dashboard/functions:run", {"path": "notes:add", "args": {"title": 1}})
    assert not invalid["ok"] and "title" in invalid["error"]
    internal = admin(board, "action", "_system/dashboard/functions:run",
                     {"path": "notes:add_later", "args": {"title": "internal too"}})
    assert internal["ok"]
    assert "dashboard's own" in admin_error(board, "action", "_system/dashboard/functions:run",
                                            {"path": "_system/dashboard/data:tables", "args": {}})


def test_running_as_a_chosen_identity(board):
    def whoami(identity: Any = None) -> Any:
        args = {"path": "notes:whoami", "args": {}, **({"identity": identity} if identity is not None else {})}
        return admin(board, "action", "_system/dashboard/functions:run", args)["value"]

    assert whoami() is None
    assert whoami({"subject": "ada", "issuer": "https://issuer.example", "email": "ada@example.com"}) == "ada"
    assert whoami({"tokenIdentifier": "https://issuer.example|grace"}) == "grace"
    assert "subject" in admin_error(board, "action", "_system/dashboard/functions:run",
                                    {"path": "notes:whoami", "args": {}, "identity": {"name": "nobody"}})


# ---------------------------------------------------------------------------- logs

async def test_new_executions_reach_an_open_logs_view_live(board):
    async with Sync(board.url) as sync:
        await sync.authenticate("Admin", admin_key(board))
        first = await sync.subscribe(1, "_system/dashboard/logs:recent", {})
        assert first["type"] == "QueryUpdated"
        warnings = await sync.subscribe(2, "_system/dashboard/logs:recent", {"level": "WARN", "text": "LIVE"})
        before = from_json(warnings["value"])["entries"]
        http_call(board, "mutation", "notes:add", {"title": "live one", "priority": 2})
        entries = (await sync.update(1, lambda v: any(e["path"] == "notes:add" and "[LOG] adding live one" in e["logLines"]
                                                      for e in v["entries"])))["entries"]
        entry = next(e for e in entries if "[LOG] adding live one" in e["logLines"])
        assert entry["ok"] and entry["kind"] == "mutation" and entry["durationMs"] >= 0
        assert not [e for e in entries if e["path"].startswith("_system/")]
        http_call(board, "action", "notes:shout", {"text": "live"})
        shouted = (await sync.update(2, lambda v: len(v["entries"]) > len(before)))["entries"]
        assert shouted[0]["path"] == "notes:shout" and shouted[0]["logLines"] == ["[WARN] shouting live"]
        assert all(e["path"] == "notes:shout" for e in shouted)
        seq = shouted[0]["seq"]
    execution = admin(board, "query", "_system/dashboard/logs:execution", {"seq": seq})
    assert execution["logLines"] == ["[WARN] shouting live"]
    failures = admin(board, "query", "_system/dashboard/logs:recent", {"level": "ERROR"})["entries"]
    http_call(board, "mutation", "notes:refuse", {"reason": "for the log"})
    after = admin(board, "query", "_system/dashboard/logs:recent", {"level": "ERROR"})["entries"]
    assert len(after) == len(failures) + 1 and not after[0]["ok"] and "for the log" in after[0]["error"]


async def test_function_counters_run_only_while_a_dashboard_is_open(fresh_board):
    for i in range(5):
        http_call(fresh_board, "mutation", "notes:add", {"title": f"n{i}", "priority": 1})
    http_call(fresh_board, "mutation", "notes:add", {"title": 5, "priority": 1})
    # Asked once over HTTP, nobody watching: nothing has been counted, and nothing will be.
    stats = admin(fresh_board, "query", "_system/dashboard/functions:stats")
    assert stats["counted"] == 0 and stats["functions"] == []
    async with Sync(fresh_board.url) as sync:
        await sync.authenticate("Admin", admin_key(fresh_board))
        await sync.subscribe(1, "_system/dashboard/functions:stats", {})
        counted = await sync.update(1, lambda v: v["counted"] >= 6)
        add = next(f for f in counted["functions"] if f["path"] == "notes:add")
        assert add["calls"] == 6 and add["errors"] == 1 and add["p50"] > 0 and add["p99"] >= add["p50"]
        assert len(add["series"]) == 60 and sum(p["calls"] for p in add["series"]) == 6
        http_call(fresh_board, "mutation", "notes:add", {"title": "one more", "priority": 1})
        again = await sync.update(1, lambda v: v["counted"] >= 7)
        assert next(f for f in again["functions"] if f["path"] == "notes:add")["calls"] == 7


# ---------------------------------------------------------------------------- schedules, files, health

def test_scheduled_functions_by_state_and_cancelling_one(board):
    job = admin(board, "mutation", "notes:schedule", {"title": "later", "delay": 3_600_000})
    pending = admin(board, "query", "_system/dashboard/schedules:list",
                    {"state": "pending", "paginationOpts": {"numItems": 10, "cursor": None}})["page"]
    assert [j["_id"] for j in pending] == [job] and pending[0]["args"] == [{"title": "later"}]
    assert pending[0]["name"] == "notes:add_later"
    admin(board, "mutation", "_system/dashboard/schedules:cancel", {"id": job})
    canceled = admin(board, "query", "_system/dashboard/schedules:list",
                     {"state": "canceled", "paginationOpts": {"numItems": 10, "cursor": None}})["page"]
    assert [j["_id"] for j in canceled] == [job] and canceled[0]["completedTime"] > 0
    assert admin(board, "query", "_system/dashboard/schedules:list",
                 {"state": "pending", "paginationOpts": {"numItems": 10, "cursor": None}})["page"] == []
    everything = admin(board, "query", "_system/dashboard/schedules:list",
                       {"paginationOpts": {"numItems": 10, "cursor": None}})["page"]
    assert everything[0]["_id"] == job
    assert "not a scheduled function" in admin_error(board, "mutation", "_system/dashboard/schedules:cancel",
                                                     {"id": "nonsense"})


def test_scheduling_a_function_to_run_later(board):
    job = admin(board, "mutation", "_system/dashboard/functions:schedule",
                {"path": "notes:add_later", "args": {"title": "from the dashboard"}, "delayMs": 3_600_000})
    (found,) = [j for j in admin(board, "query", "_system/dashboard/schedules:list", {
        "state": "pending", "paginationOpts": {"numItems": 50, "cursor": None}})["page"] if j["_id"] == job]
    assert found["name"] == "notes:add_later" and found["args"] == [{"title": "from the dashboard"}]
    admin(board, "mutation", "_system/dashboard/schedules:cancel", {"id": job})
    for path, wrong in [("notes:titles", "only mutations and actions"), ("notes:nothing", "Could not find function"),
                        ("_system/dashboard/data:delete", "dashboard's own")]:
        message = admin_error(board, "mutation", "_system/dashboard/functions:schedule",
                              {"path": path, "args": {}, "delayMs": 0})
        assert wrong in message, (path, message)
    assert "delayMs" in admin_error(board, "mutation", "_system/dashboard/functions:schedule",
                                    {"path": "notes:add_later", "args": {}, "delayMs": -1})


def test_crons_with_schedule_and_next_run(board):
    (tidy,) = admin(board, "query", "_system/dashboard/schedules:crons")
    assert tidy["name"] == "tidy" and tidy["function"] == "notes:add_later" and tidy["schedule"] == "every 1 hours"
    assert tidy["args"] == {"title": "tidied"} and tidy["lastRun"] is None
    health = admin(board, "query", "_system/dashboard/health:overview")
    assert 0 < tidy["nextRun"] - health["startedAt"] <= 3_600_000 + 60_000


def test_files_upload_list_and_delete(board):
    upload = admin(board, "mutation", "_system/dashboard/files:upload_url")
    assert upload.startswith("/api/storage/upload?token=")
    stored = httpx.post(board.url + upload, content=PNG, headers={"Content-Type": "image/png"}).json()["storageId"]
    listed = admin(board, "query", "_system/dashboard/files:list",
                   {"paginationOpts": {"numItems": 10, "cursor": None}})["page"][0]
    assert listed["_id"] == stored and listed["size"] == len(PNG) and listed["contentType"] == "image/png"
    assert httpx.get(board.url + listed["url"]).content == PNG
    admin(board, "action", "_system/dashboard/files:delete", {"id": stored})
    left = admin(board, "query", "_system/dashboard/files:list", {"paginationOpts": {"numItems": 10, "cursor": None}})
    assert stored not in [f["_id"] for f in left["page"]]
    assert httpx.get(board.url + listed["url"]).status_code == 404
    assert not (board.db.parent / f"{board.db.name}.files" / stored).exists()


def test_health_counters_and_series(board):
    http_call(board, "mutation", "notes:add", {"title": "counted", "priority": 1})
    health = admin(board, "query", "_system/dashboard/health:overview")
    now = health["now"]
    assert now["commits"] >= 1 and now["mutations"] >= 1 and now["databaseBytes"] > 0
    assert now["connections"] >= 0 and now["liveQueries"] >= 0 and now["walBytes"] >= 0
    assert health["sampleEveryS"] == 5 and isinstance(health["series"], list)


async def test_a_code_reload_keeps_the_system_functions_and_shows_the_new_code(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(BOARD, app)
    server = RunningServer(app, tmp_path / "data.sqlite3", watch=True).start()
    try:
        async with Sync(server.url) as sync:
            await sync.authenticate("Admin", admin_key(server))
            first = await sync.subscribe(1, "_system/dashboard/functions:list", {})
            assert "extra:hello" not in [f["path"] for f in from_json(first["value"])]
            await asyncio.to_thread(server.edit, app / "functions" / "extra.py",
                                    "from prefmem import query\n\n\n@query\ndef hello(ctx, args):\n    return 'hi'\n")
            listed = await sync.update(1, lambda fns: "extra:hello" in [f["path"] for f in fns])
            assert "notes:add" in [f["path"] for f in listed]
        assert admin(server, "query", "_system/dashboard/data:tables")
    finally:
        server.stop()


# ---------------------------------------------------------------------------- the login link

def test_a_login_link_signs_in_once(board):
    out = subprocess.run([sys.executable, "-m", "prefmem", "dashboard", "--db", str(board.db)], cwd=ROOT,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    link = out.stdout.strip()
    assert link.startswith(f"{board.url}/_dashboard/#login=")
    code = link.split("#login=", 1)[1]
    login = f"{board.url}/api/dashboard/login"
    first = httpx.post(login, json={"code": code})
    assert first.status_code == 200 and first.json() == {"adminKey": admin_key(board)}
    again = httpx.post(login, json={"code": code})
    assert again.status_code == 401 and "adminKey" not in again.text and "already used" in again.json()["message"]
    assert httpx.post(login, json={"code": "guessed"}).status_code == 401
    assert httpx.post(login, content=b"not json").status_code == 400
    assert httpx.post(login, content=b"{" + b" " * 4096 + b"}").status_code == 413
    assert httpx.post(f"{board.url}/api/dashboard/login_code").status_code == 401
    assert httpx.post(f"{board.url}/api/dashboard/login_code",
                      headers={"Authorization": "Convex not-the-key"}).status_code == 401
