"""A hand-written protocol client: errors end only the offending connection."""

from __future__ import annotations

import pytest

import asyncio
import base64
import json

import websockets

pytestmark = pytest.mark.engines


def _connect_msg(session: str = "s") -> str:
    return json.dumps({"type": "Connect", "sessionId": session, "connectionCount": 0,
                       "lastCloseReason": "InitialConnect", "clientTs": 0})


def _add(base: int, query_id: int, path: str, args: dict) -> str:
    return json.dumps({"type": "ModifyQuerySet", "baseVersion": base, "newVersion": base + 1,
                       "modifications": [{"type": "Add", "queryId": query_id, "udfPath": path, "args": [args]}]})


async def _recv(ws, timeout: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def _recv_type(ws, kind: str) -> dict:
    while True:
        msg = await _recv(ws)
        if msg["type"] == kind:
            return msg


async def _recv_query_set(ws, query_set: int) -> dict:
    """The Transition that answers a ModifyQuerySet (empty ones that follow mutations are skipped)."""
    while True:
        msg = await _recv_type(ws, "Transition")
        if msg["endVersion"]["querySet"] == query_set:
            return msg


async def _assert_fatal_and_closed(ws, needle: str) -> None:
    msg = await _recv_type(ws, "FatalError")
    assert needle in msg["error"], msg
    try:
        await asyncio.wait_for(ws.recv(), 5)
        raise AssertionError("socket stayed open after a FatalError")
    except websockets.ConnectionClosed:
        pass


async def _healthy_roundtrip(url: str) -> None:
    async with websockets.connect(url) as ws:
        await ws.send(_connect_msg("healthy"))
        await ws.send(_add(0, 0, "messages:ping", {}))
        msg = await _recv_type(ws, "Transition")
        assert msg["modifications"][0]["value"] == "pong"


async def test_protocol_errors_end_only_that_connection(chat_server):
    url = chat_server.url.replace("http", "ws") + "/api/sync"
    async with websockets.connect(url) as bystander:
        await bystander.send(_connect_msg("bystander"))
        await bystander.send(_add(0, 0, "messages:ping", {}))
        assert (await _recv_type(bystander, "Transition"))["endVersion"]["querySet"] == 1

        async with websockets.connect(url) as ws:  # not JSON at all
            await ws.send(_connect_msg())
            await ws.send("{not json")
            await _assert_fatal_and_closed(ws, "not valid JSON")

        async with websockets.connect(url) as ws:  # an unknown message type
            await ws.send(_connect_msg())
            await ws.send(json.dumps({"type": "Teleport"}))
            await _assert_fatal_and_closed(ws, "unknown client message type 'Teleport'")

        async with websockets.connect(url) as ws:  # the wrong baseVersion
            await ws.send(_connect_msg())
            await ws.send(_add(3, 0, "messages:ping", {}))
            await _assert_fatal_and_closed(ws, "baseVersion 3 does not match")

        async with websockets.connect(url) as ws:  # anything before Connect
            await ws.send(_add(0, 0, "messages:ping", {}))
            await _assert_fatal_and_closed(ws, "first message on a socket must be Connect")

        # The bystander is still served.
        await bystander.send(json.dumps({"type": "Mutation", "requestId": 0, "udfPath": "messages:create_channel",
                                         "args": [{"name": "still here"}]}))
        response = await _recv_type(bystander, "MutationResponse")
        assert response["success"] is True
        await _healthy_roundtrip(url)


async def test_unknown_function_and_invalid_arguments_are_function_errors(chat_server):
    url = chat_server.url.replace("http", "ws") + "/api/sync"
    async with websockets.connect(url) as ws:
        await ws.send(_connect_msg())
        await ws.send(_add(0, 0, "messages:nope", {}))
        transition = await _recv_type(ws, "Transition")
        failed = transition["modifications"][0]
        assert failed["type"] == "QueryFailed"
        assert failed["errorMessage"].split("\n", 1)[1] == \
            "Could not find public function for 'messages:nope'. Did you forget to run `npx convex dev`?"

        await ws.send(json.dumps({"type": "Mutation", "requestId": 0, "udfPath": "messages:create_channel",
                                  "args": [{"name": 12}]}))
        response = await _recv_type(ws, "MutationResponse")
        assert response["success"] is False
        assert response["result"].endswith("\nArgumentValidationError: Value does not match validator.\nPath: .name\n"
                                           "Value: 12.0\nValidator: v.string()")

        await ws.send(json.dumps({"type": "Mutation", "requestId": 1, "udfPath": "nowhere:fn", "args": [{}]}))
        response = await _recv_type(ws, "MutationResponse")
        assert response["success"] is False and "nowhere:fn" in response["result"]

        # The connection keeps working after function errors.
        await ws.send(_add(1, 1, "messages:ping", {}))
        transition = await _recv_query_set(ws, 2)
        assert transition["modifications"][0]["value"] == "pong"


async def test_mutation_response_is_followed_by_a_transition_reaching_its_ts(chat_server):
    url = chat_server.url.replace("http", "ws") + "/api/sync"
    async with websockets.connect(url) as ws:
        await ws.send(_connect_msg())
        await ws.send(_add(0, 0, "messages:ping", {}))
        await _recv_type(ws, "Transition")
        for request_id in range(5):
            await ws.send(json.dumps({"type": "Mutation", "requestId": request_id,
                                      "udfPath": "messages:create_channel", "args": [{"name": f"c{request_id}"}]}))
        seen_ids, max_ts = [], 0
        while True:
            msg = await _recv(ws)
            if msg["type"] == "MutationResponse":
                seen_ids.append(msg["requestId"])
                max_ts = max(max_ts, int.from_bytes(base64.b64decode(msg["ts"]), "little"))
            elif msg["type"] == "Transition":
                end = int.from_bytes(base64.b64decode(msg["endVersion"]["ts"]), "little")
                if len(seen_ids) == 5 and end >= max_ts:
                    break
        assert seen_ids == [0, 1, 2, 3, 4]  # responses in request order
