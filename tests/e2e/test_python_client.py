"""The official Python `convex` client against a real `prefmem dev`."""

from __future__ import annotations

import subprocess
import sys

import pytest
from convex import ConvexClient, ConvexError

from tests.e2e.conftest import next_different

pytestmark = pytest.mark.engines


def test_subscription_sees_another_clients_mutation(chat_server):
    reader = ConvexClient(chat_server.url)
    channel = reader.mutation("messages:create_channel", {"name": "general"})
    updates = iter(reader.subscribe("messages:recent", {"channel": channel}))
    assert next(updates) == []
    # Another client, in another process, writes.
    code = ("import sys; from convex import ConvexClient; "
            "c = ConvexClient(sys.argv[1]); c.mutation('messages:send', {'channel': sys.argv[2], 'body': 'hello'})")
    subprocess.run([sys.executable, "-c", code, chat_server.url, channel], check=True, timeout=30)
    latest = next_different(updates, [])
    assert [m["body"] for m in latest] == ["hello"]


def test_own_mutation_then_query(chat_server):
    client = ConvexClient(chat_server.url)
    channel = client.mutation("messages:create_channel", {"name": "c"})
    for body in ("a", "b", "c"):
        client.mutation("messages:send", {"channel": channel, "body": body})
    assert [m["body"] for m in client.query("messages:recent", {"channel": channel})] == ["c", "b", "a"]
    assert client.query("messages:ping") == "pong"


def test_convex_error_data_reaches_the_client(chat_server):
    client = ConvexClient(chat_server.url)
    channel = client.mutation("messages:create_channel", {"name": "c"})
    with pytest.raises(ConvexError) as info:
        client.mutation("messages:send", {"channel": channel, "body": "   "})
    assert info.value.data == {"code": "EMPTY", "message": "a message needs a body"}


def test_failed_mutation_writes_nothing_and_says_why(chat_server):
    client = ConvexClient(chat_server.url)
    channel = client.mutation("messages:create_channel", {"name": "c"})
    with pytest.raises(Exception) as info:
        client.mutation("messages:send_then_fail", {"channel": channel, "body": "x"})
    assert "boom after writing" in str(info.value)
    with pytest.raises(Exception) as info:
        client.mutation("messages:send", {"channel": channel, "body": 5})
    assert ("ArgumentValidationError: Value does not match validator.\nPath: .body\nValue: 5.0\n"
            "Validator: v.string()") in str(info.value)
    assert client.query("messages:recent", {"channel": channel}) == []
