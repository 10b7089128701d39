"""The official npm `convex` clients (ConvexClient, ConvexHttpClient), run by node, against `prefmem dev`."""

from __future__ import annotations

import pytest

import httpx

pytestmark = pytest.mark.engines


def _update(driver, key: str, pred=lambda value: True, timeout: float = 10.0):
    return driver.wait(lambda e: e["ev"] == "update" and e["key"] == key and pred(e["value"]), timeout)["value"]


def test_on_update_after_own_and_other_clients_mutations(feed_server, node_driver):
    node = node_driver(feed_server.url)
    node.send(op="subscribe", client="a", key="labels", path="items:labels", args={"list": "l"})
    assert _update(node, "labels") == []

    # Its own mutation: the result and the update both arrive.
    result = node.call("mutation", "items:add", {"list": "l", "rank": 1, "label": "own"})
    assert result["ev"] == "result" and isinstance(result["value"], str)
    assert _update(node, "labels", lambda v: v == ["own"]) == ["own"]

    # Another npm ConvexClient (its own websocket) writes.
    assert node.call("mutation", "items:add", {"list": "l", "rank": 2, "label": "other"}, client="b")["ev"] == "result"
    _update(node, "labels", lambda v: v == ["own", "other"])

    # A plain HTTP caller writes.
    httpx.post(feed_server.url + "/api/mutation",
               json={"path": "items:add", "args": [{"list": "l", "rank": 3, "label": "http"}]}).raise_for_status()
    _update(node, "labels", lambda v: v == ["own", "other", "http"])


def test_convex_error_data_action_and_log_lines(feed_server, node_driver):
    node = node_driver(feed_server.url)
    rejected = node.call("mutation", "items:reject", {"label": "nope"})
    assert rejected["ev"] == "error" and rejected["convexError"] is True
    assert rejected["data"] == {"code": "REJECTED", "label": "nope"}

    failed = node.call("mutation", "items:explode")
    assert failed["ev"] == "error" and failed["convexError"] is False
    assert "secret internal detail 42" in failed["message"]  # dev mode shows the error text

    shouted = node.call("action", "items:shout", {"text": "hi"})
    assert shouted == {**shouted, "ev": "result", "value": {"text": "HI", "count": 0}}

    # The npm client prints a function's log lines on its console.
    assert node.call("mutation", "items:noisy_add", {"list": "l", "label": "loud"})["ev"] == "result"
    console = "\n".join(node.console)
    assert "adding loud" in console and "warned about loud" in console
    assert "shouting hi" in console


def test_http_client(feed_server, node_driver):
    node = node_driver(feed_server.url)
    added = node.call("http", "items:add", {"list": "default", "rank": 1, "label": "one"}, method="mutation")
    assert added["ev"] == "result"
    assert node.call("http", "items:labels", {"list": "default"}, method="query")["value"] == ["one"]
    assert node.call("http", "items:labels", {"list": "default"}, method="consistentQuery")["value"] == ["one"]
    assert node.call("http", "items:shout", {"text": "x"}, method="action")["value"] == {"text": "X", "count": 1}

    rejected = node.call("http", "items:reject", {"label": "h"}, method="mutation")
    assert rejected["ev"] == "error" and rejected["convexError"] is True
    assert rejected["data"] == {"code": "REJECTED", "label": "h"}
    failed = node.call("http", "items:explode", {}, method="mutation")
    assert failed["ev"] == "error" and failed["convexError"] is False
    assert "secret internal detail 42" in failed["message"]
