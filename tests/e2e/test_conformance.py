"""What a Convex user meets on day one, through the official clients: numbers, failures,
argument errors, missing functions, unsupported types, the environment, action time
limits, staged indexes. Where Convex defines the text a client reads, the test asserts it
word for word (issue #16).
"""

from __future__ import annotations

import base64
import json
import re

import httpx
import pytest
from convex import ConvexClient, ConvexInt64

from tests.e2e.conftest import RunningServer

pytestmark = pytest.mark.engines

REQUEST = r"\[Request ID: ([0-9a-f]{16})\] Server Error"


@pytest.fixture
def server(database):
    server = RunningServer("conformance", database).start()
    yield server
    server.stop()


def _npm(message: str, kind: str, path: str) -> tuple[str, str]:
    """The npm client's ``[CONVEX M(path)] <server message>\\n  Called by client``: (request id, body)."""
    match = re.fullmatch(rf"\[CONVEX {kind}\({re.escape(path)}\)\] {REQUEST}\n(.*)\n  Called by client", message,
                         re.S)
    assert match, message
    return match.group(1), match.group(2)


def _server(message: str) -> tuple[str, str]:
    """A server message as the HTTP client passes it on: (request id, body)."""
    match = re.fullmatch(rf"{REQUEST}\n(.*)", message, re.S)
    assert match, message
    return match.group(1), match.group(2)


# ----------------------------------------------------------------------------- numbers

def test_a_python_int_is_a_number_for_the_npm_clients(server, node_driver):
    node = node_driver(server.url)
    node.call("mutation", "numbers:add", {"label": "a"})
    node.call("mutation", "numbers:add", {"label": "b"})
    # `return len(rows)` is a JS number: JSON.stringify works, count + 1 is 3 (a BigInt would
    # come through the driver as {"$bigint": ...}).
    assert node.call("mutation", "errors:typed_mutation", {"name": "x"})["value"] == "x"
    assert node.call("http", "numbers:count", method="query")["value"] == 2
    node.send(op="subscribe", key="count", path="numbers:count", args={})
    assert node.wait(lambda e: e.get("key") == "count" and e["ev"] == "update")["value"] == 2
    # Stored: a plain int stays a number, an Int64 an int64 (a BigInt in JS).
    assert node.call("http", "numbers:stored", {"label": "a"}, method="query")["value"] == {
        "n": 3, "nType": "int", "big": {"$bigint": str(2**62)}, "bigType": "Int64"}


def test_int64_is_explicit_for_the_python_client(server):
    client = ConvexClient(server.url)
    client.mutation("numbers:add", {"label": "p"})
    assert client.query("numbers:count", {}) == 1.0
    stored = client.query("numbers:stored", {"label": "p"})
    assert stored["big"] == ConvexInt64(2**62) and stored["n"] == 3
    # A number where v.int64() is declared is refused, as in Convex; ConvexInt64 is accepted.
    echoed = client.query("numbers:echo", {"n": ConvexInt64(5), "x": 2})
    assert echoed == {"n": ConvexInt64(5), "x": 2.0, "nType": "Int64", "xType": "int"}
    with pytest.raises(Exception) as info:
        client.query("numbers:echo", {"n": 5, "x": 2})
    assert "ArgumentValidationError: Value does not match validator.\nPath: .n\nValue: 5.0\nValidator: v.int64()" \
        in str(info.value)


# ----------------------------------------------------------------------------- failures

def _log_entry(server: RunningServer, request_id: str) -> dict:
    admin_key = server.admin_key()
    entries = httpx.get(server.url + "/api/logs", headers={"Authorization": f"Convex {admin_key}"}).json()["entries"]
    return next(e for e in entries if e["requestId"] == request_id)


def test_failures_read_as_convex_reports_them(server, node_driver):
    node = node_driver(server.url)
    foo = node.call("mutation", "errors:raise_foo", {})
    request_id, body = _npm(foo["message"], "M", "errors:raise_foo")
    # The raised class, the data as JavaScript prints it (a bigint as "123n"), the data itself.
    assert body == 'Uncaught FooError: {"code":"FOO","n":"123n"}'
    assert foo["convexError"] is True and foo["data"] == {"code": "FOO", "n": {"$bigint": "123"}}
    # The same request id names the execution in the log.
    entry = _log_entry(server, request_id)
    assert entry["path"] == "errors:raise_foo" and entry["error"] == body

    plain = node.call("http", "errors:raise_value_error", method="query")
    assert plain["convexError"] is False
    assert _server(plain["message"])[1] == "Uncaught ValueError: plain failure"

    # Through ctx.run_*: raised again with the inner message; the data stays the original.
    nested = node.call("action", "errors:nested", {})
    assert _npm(nested["message"], "A", "errors:nested")[1] == "Uncaught ConvexError: Uncaught ConvexError: inner"
    assert nested["convexError"] is True and nested["data"] == "inner"
    nested_plain = node.call("http", "errors:nested_plain", method="action")
    assert _server(nested_plain["message"])[1] == "Uncaught Error: Uncaught ValueError: plain failure"


def test_the_python_client_reads_the_same_failures(server, py_driver):
    py = py_driver(server.url)
    foo = py.call("mutation", "errors:raise_foo")
    assert foo["convexError"] is True and foo["data"]["code"] == "FOO"
    assert 'Uncaught FooError: {"code":"FOO","n":"123n"}' in foo["message"]
    nested = py.call("action", "errors:nested")
    assert nested["data"] == "inner" and "Uncaught ConvexError: Uncaught ConvexError: inner" in nested["message"]


def test_http_actions_that_raise_answer_code_and_data(server):
    failed = httpx.post(server.url + "/fail")
    assert failed.status_code == 500
    request_id, body = _server(failed.json()["code"])
    assert body == 'Uncaught ConvexError: {"code":"teapot","n":"5n"}'
    assert failed.json()["data"] == {"code": "teapot", "n": {"$integer": base64.b64encode((5).to_bytes(8, "little"))
                                                                  .decode()}}
    assert _log_entry(server, request_id)["error"] == body
    crashed = httpx.get(server.url + "/crash")
    assert crashed.status_code == 500 and "data" not in crashed.json()
    assert _server(crashed.json()["code"])[1] == "Uncaught RuntimeError: http action broke"
    assert httpx.get(server.url + "/ok").json() == {"ok": True}


# ----------------------------------------------------------------------------- arguments and paths

WRONG = "ArgumentValidationError: Value does not match validator.\nPath: .name\nValue: 123.0\nValidator: v.string()"
MISSING = ("ArgumentValidationError: Object is missing the required field `name`. Consider wrapping the field "
           "validator in `v.optional(...)` if this is expected.\n\nObject: {}\nValidator: v.object({name: v.string()})")
EXTRA = ('ArgumentValidationError: Object contains extra field `bogus` that is not in the validator.\n\n'
         'Object: {bogus: true, name: "x"}\nValidator: v.object({name: v.string()})')


@pytest.mark.parametrize("args, text", [({"name": 123}, WRONG), ({}, MISSING), ({"name": "x", "bogus": True}, EXTRA)],
                         ids=["wrong", "missing", "extra"])
def test_argument_errors_are_convexs_over_websocket_and_http(server, node_driver, args, text):
    node = node_driver(server.url)
    for kind, letter in (("mutation", "M"), ("action", "A")):
        over_ws = node.call(kind, f"errors:typed_{kind}", args)
        assert _npm(over_ws["message"], letter, f"errors:typed_{kind}")[1] == text
    node.send(op="subscribe", key="q", path="errors:typed_query", args=args)
    failed_query = node.wait(lambda e: e.get("key") == "q" and e["ev"] == "queryError")
    assert _npm(failed_query["message"], "Q", "errors:typed_query")[1] == text
    for kind in ("query", "mutation", "action"):
        over_http = node.call("http", f"errors:typed_{kind}", args, method=kind)
        assert _server(over_http["message"])[1] == text


def test_unknown_and_internal_functions_read_alike(server, node_driver):
    node = node_driver(server.url)
    for path in ("errors:nope", "errors:hidden", "nowhere:fn"):
        failed = node.call("http", path, method="query")
        assert _server(failed["message"])[1] == \
            f"Could not find public function for '{path}'. Did you forget to run `npx convex dev`?"
        over_ws = node.call("mutation", path, {})
        assert _npm(over_ws["message"], "M", path)[1] == \
            f"Could not find public function for '{path}'. Did you forget to run `npx convex dev`?"


def test_sets_and_maps_are_refused_in_convexs_words(server, node_driver):
    node = node_driver(server.url)
    returned = node.call("http", "errors:return_set", method="query")
    assert _server(returned["message"])[1] == (
        'Uncaught Error: Set["a"] is not a supported Convex type (present at path .tags in original object '
        '{"tags":{}}). To learn about Convex\'s supported types, see https://docs.convex.dev/using/types.')
    mapped = node.call("http", "errors:return_map", method="query")
    assert _server(mapped["message"])[1] == 'Uncaught Error: Map[[1,"one"]] is not a supported Convex type.'
    stored = node.call("mutation", "errors:store_set", {})
    assert _npm(stored["message"], "M", "errors:store_set")[1].startswith(
        'Uncaught Error: Set["x"] is not a supported Convex type (present at path .tags in original object')


# ----------------------------------------------------------------------------- environment, time, schema

def test_functions_see_the_deployment_urls(server, node_driver):
    node = node_driver(server.url)
    assert node.call("http", "env:urls", method="query")["value"] == {"cloud": server.url, "site": server.url}


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_the_action_time_limit_is_a_setting(tmp_path, node_driver, how):
    extra, env = (["--action-timeout", "0.5"], {}) if how == "flag" else ([], {"PREFMEM_ACTION_TIMEOUT_S": "0.5"})
    server = RunningServer("conformance", tmp_path / "data.sqlite3", extra=extra, env=env).start()
    try:
        node = node_driver(server.url)
        assert node.call("action", "env:slow", {"seconds": 0})["value"] == "finished"
        timed_out = node.call("action", "env:slow", {"seconds": 60}, timeout=30)
        assert _npm(timed_out["message"], "A", "env:slow")[1] == \
            "Action `slow` execution timed out (maximum duration 0.5s)"
    finally:
        server.stop()


def test_a_bad_action_time_limit_is_refused_at_start(tmp_path):
    server = RunningServer("conformance", tmp_path / "data.sqlite3", env={"PREFMEM_ACTION_TIMEOUT_S": "soon"})
    with pytest.raises(RuntimeError, match="PREFMEM_ACTION_TIMEOUT_S: 'soon' is not a number of seconds"):
        server.start()


def test_any_documents_and_a_staged_index(server, node_driver):
    node = node_driver(server.url)
    node.call("mutation", "numbers:add", {"label": "s"})
    failed = node.call("http", "numbers:on_staged", method="query")
    assert _server(failed["message"])[1] == \
        "Uncaught Error: Index things.by_n is currently staged and not available to query until it is enabled."


def test_the_admin_acts_as_a_user_over_http(server, node_driver):
    """ConvexHttpClient.setAdminAuth(adminKey, identity) sends `Convex <key>:<base64 JSON>`."""
    admin_key = server.admin_key()
    node = node_driver(server.url)
    node.call("httpAdminAuth", "", adminKey=admin_key, identity={"subject": "ada", "issuer": "https://acting.test",
                                                                 "name": "Ada"})
    assert node.call("http", "env:whoami", method="query")["value"] == {"tokenIdentifier": "https://acting.test|ada",
                                                                          "name": "Ada"}
    assert node.call("http", "errors:hidden", method="query")["value"] == "internal"  # still the admin
    header = "Convex " + admin_key + ":" + base64.b64encode(json.dumps({"subject": "x", "issuer": "y"}).encode()).decode()
    assert httpx.post(server.url + "/api/query", json={"path": "env:whoami", "args": [{}], "format": "json"},
                      headers={"Authorization": header}).json()["value"] == {"tokenIdentifier": "y|x", "name": None}
