"""Function output reaches callers as log lines; error detail depends on dev vs production."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
import websockets

from tests.e2e.conftest import RunningServer

pytestmark = pytest.mark.engines


async def _exchange(url: str, messages: list[dict], wanted: int) -> list[dict]:
    """Send ``messages`` on a fresh socket; collect replies until ``wanted`` non-Transition/answering ones arrived."""
    async with websockets.connect(url.replace("http", "ws") + "/api/sync") as ws:
        await ws.send(json.dumps({"type": "Connect", "sessionId": "logs", "connectionCount": 0,
                                  "lastCloseReason": "InitialConnect", "clientTs": 0}))
        for msg in messages:
            await ws.send(json.dumps(msg))
        replies: list[dict] = []
        while sum(1 for r in replies if r["type"] != "Transition" or r["modifications"]) < wanted:
            replies.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        return replies


def _call(server, kind: str, path: str, args: dict) -> httpx.Response:
    return httpx.post(f"{server.url}/api/{kind}", json={"path": path, "args": [args], "format": "convex_encoded_json"})


async def test_log_lines_reach_the_sync_protocol(feed_server):
    replies = await _exchange(feed_server.url, [
        {"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
            {"type": "Add", "queryId": 0, "udfPath": "items:labels", "args": [{"list": "logs"}]}]},
        {"type": "Mutation", "requestId": 0, "udfPath": "items:noisy_add", "args": [{"list": "logs", "label": "x"}]},
        {"type": "Action", "requestId": 1, "udfPath": "items:shout", "args": [{"text": "hey"}]},
    ], wanted=4)
    query = next(r for r in replies if r["type"] == "Transition")["modifications"][0]
    assert query["logLines"] == ["[LOG] reading logs"]
    mutation = next(r for r in replies if r["type"] == "MutationResponse")
    assert mutation["logLines"] == ["[LOG] adding x", "[WARN] warned about x"]
    action = next(r for r in replies if r["type"] == "ActionResponse")
    assert action["logLines"] == ["[LOG] shouting hey"] and action["result"]["text"] == "HEY"


def test_log_lines_reach_the_http_api(feed_server):
    reply = _call(feed_server, "mutation", "items:noisy_add", {"list": "h", "label": "y"})
    assert reply.json()["logLines"] == ["[LOG] adding y", "[WARN] warned about y"]
    assert _call(feed_server, "query", "items:labels", {"list": "h"}).json()["logLines"] == ["[LOG] reading h"]
    assert _call(feed_server, "action", "items:shout", {"text": "z"}).json()["logLines"] == ["[LOG] shouting z"]


def test_the_python_client_prints_log_lines(feed_server, py_driver):
    py = py_driver(feed_server.url)
    py.send(op="mutation", key="m", path="items:noisy_add", args={"list": "p", "label": "printed"})
    assert py.wait(lambda e: e.get("key") == "m")["ev"] == "result"
    py.close()  # its console output is complete once it has exited
    assert any("adding printed" in line for line in py.console), py.console


@pytest.fixture
def production_server(tmp_path):
    server = RunningServer("feed", tmp_path / "prod.sqlite3", extra=["--production"]).start()
    yield server
    server.stop()


async def test_error_detail_in_dev_mode_only(feed_server, production_server):
    for server, shown in ((feed_server, True), (production_server, False)):
        http = _call(server, "mutation", "items:explode", {}).json()
        assert http["status"] == "error" and "errorData" not in http
        assert ("secret internal detail 42" in http["errorMessage"]) is shown, http
        assert ("RuntimeError" in http["errorMessage"]) is shown, http
        replies = await _exchange(server.url, [
            {"type": "Mutation", "requestId": 0, "udfPath": "items:explode", "args": [{}]},
            {"type": "Mutation", "requestId": 1, "udfPath": "items:reject", "args": [{"label": "d"}]}], wanted=2)
        exploded, rejected = [r for r in replies if r["type"] == "MutationResponse"]
        assert exploded["success"] is False and "errorData" not in exploded
        assert ("secret internal detail 42" in exploded["result"]) is shown, exploded
        # As Convex: "[Request ID: <16 hex>] Server Error", then in dev mode what was raised.
        head, _, rest = exploded["result"].partition("\n")
        assert re.fullmatch(r"\[Request ID: [0-9a-f]{16}\] Server Error", head), exploded
        assert rest == ("Uncaught RuntimeError: secret internal detail 42" if shown else ""), exploded
        # ConvexError data is for clients: it arrives in both modes.
        assert rejected["errorData"] == {"code": "REJECTED", "label": "d"}
