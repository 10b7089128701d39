"""Tests for prefmem.sync.messages: round trips, exact wire shapes, malformed input,
and one end-to-end check that the official Python client accepts what we encode."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import json
import threading

import msgspec
import pytest

from prefmem.sync.messages import (
    UNSET,
    Action,
    ActionResponse,
    AddQuery,
    Authenticate,
    AuthError,
    Connect,
    Event,
    FatalError,
    ModifyQuerySet,
    Mutation,
    MutationResponse,
    Ping,
    ProtocolError,
    QueryFailed,
    QueryRemoved,
    QueryUpdated,
    RemoveQuery,
    StateVersion,
    Transition,
    TransitionChunk,
    canonicalize_udf_path,
    decode_client_message,
    decode_server_message,
    decode_ts,
    encode_client_message,
    encode_server_message,
    encode_ts,
)

# ---------------------------------------------------------------- timestamps


@pytest.mark.parametrize("n", [0, 1, 1000, 2**53 + 1, 2**63 - 1, 2**64 - 1])
def test_ts_round_trip(n):
    assert decode_ts(encode_ts(n)) == n


def test_ts_known_values():
    # Values observed on the wire from the real clients.
    assert encode_ts(0) == "AAAAAAAAAAA="
    assert encode_ts(1000) == "6AMAAAAAAAA="
    assert decode_ts("8gMAAAAAAAA=") == 1010


@pytest.mark.parametrize("bad", ["", "AAA=", "not base64!", "AAAAAAAAAAAAAAAA", 5])
def test_ts_decode_rejects(bad):
    with pytest.raises(ProtocolError):
        decode_ts(bad)


@pytest.mark.parametrize("bad", [-1, 2**64, True, 1.5])
def test_ts_encode_rejects(bad):
    with pytest.raises((ValueError, TypeError)):
        encode_ts(bad)


def test_canonicalize_udf_path():
    assert canonicalize_udf_path("tasks") == "tasks:default"
    assert canonicalize_udf_path("tasks:add") == "tasks:add"
    assert canonicalize_udf_path("tasks.js:watch") == "tasks:watch"
    assert canonicalize_udf_path("dir/mod.js:fn") == "dir/mod:fn"
    assert canonicalize_udf_path("tasks.js") == "tasks:default"


# ---------------------------------------------------------------- client messages

# Frames exactly as captured from the real clients.
NPM_FRAMES = [
    '{"connectionCount":0,"lastCloseReason":"InitialConnect","clientTs":1795592744047,'
    '"type":"Connect","sessionId":"73bb2583-1abc-4c85-8f87-f89afd50afc6"}',
    '{"connectionCount":1,"lastCloseReason":null,"clientTs":1795592781475,"type":"Connect",'
    '"sessionId":"9a2cc31c-c1af-4e52-a1c7-73b8510155a1","maxObservedTimestamp":"8gMAAAAAAAA="}',
    '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Add",'
    '"queryId":0,"udfPath":"msgs:list","args":[{"ch":"a","paginationOpts":{"cursor":null,"id":1,'
    '"numItems":3}}],"journal":"{\\"end\\": 3}"}]}',
    '{"type":"ModifyQuerySet","baseVersion":1,"newVersion":2,"modifications":[{"type":"Remove","queryId":0}]}',
    '{"type":"Mutation","requestId":0,"udfPath":"tasks:add","args":[{"x":1}]}',
    '{"type":"Action","requestId":1,"udfPath":"tasks:act","args":[{"y":"z"}]}',
    '{"type":"Authenticate","baseVersion":0,"tokenType":"User","value":"tok123"}',
    '{"type":"Authenticate","tokenType":"None","baseVersion":1}',
    '{"type":"Authenticate","baseVersion":2,"tokenType":"Admin","value":"adminkey",'
    '"impersonating":{"subject":"u1","issuer":"iss"}}',
    '{"type":"Event","eventType":"ClientConnect","event":{"marks":[]}}',
]
PY_FRAMES = [
    '{"type": "Connect", "sessionId": "149da5c3-0e7a-46d1-9e71-e28ce4bafd49", "connectionCount": 0,'
    ' "lastCloseReason": "InitialConnect", "clientTs": 0}',
    '{"modifications": [{"args": [{"a": 1.0, "c": {"$integer": "BQAAAAAAAAA="}}], "type": "Add",'
    ' "queryId": 0, "udfPath": "tasks:list"}], "type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1}',
    '{"args": [{"x": 1.0}], "type": "Mutation", "requestId": 0, "udfPath": "tasks:add"}',
    '{"args": [{"y": "z"}], "type": "Action", "requestId": 1, "udfPath": "tasks:act"}',
    '{"type": "Authenticate", "baseVersion": 2, "tokenType": "Admin", "value": "adminkey"}',
]


@pytest.mark.parametrize("frame", NPM_FRAMES + PY_FRAMES)
def test_real_client_frames_decode_and_round_trip(frame):
    msg = decode_client_message(frame)
    again = decode_client_message(encode_client_message(msg))
    assert again == msg
    # Nothing the client sent is lost, and nothing is invented.
    assert json.loads(encode_client_message(msg)) == json.loads(frame)


def test_bytes_and_str_inputs():
    frame = PY_FRAMES[2]
    assert decode_client_message(frame) == decode_client_message(frame.encode())


def test_decoded_shapes():
    c = decode_client_message(NPM_FRAMES[1])
    assert isinstance(c, Connect)
    assert c.lastCloseReason is None
    assert c.max_observed_ts == 1010
    assert decode_client_message(NPM_FRAMES[0]).max_observed_ts is None

    m = decode_client_message(NPM_FRAMES[2])
    assert isinstance(m, ModifyQuerySet)
    (add,) = m.modifications
    assert isinstance(add, AddQuery)
    assert add.journal == '{"end": 3}'
    assert add.componentPath is UNSET
    assert add.args == [{"ch": "a", "paginationOpts": {"cursor": None, "id": 1, "numItems": 3}}]

    r = decode_client_message(NPM_FRAMES[3]).modifications[0]
    assert r == RemoveQuery(queryId=0)

    a = decode_client_message(NPM_FRAMES[8])
    assert isinstance(a, Authenticate) and a.tokenType == "Admin"
    assert a.impersonating == {"subject": "u1", "issuer": "iss"}
    assert decode_client_message(NPM_FRAMES[7]).value is UNSET

    # Values inside args stay plain JSON: wrappers untouched, 1.0 stays a float.
    py_add = decode_client_message(PY_FRAMES[1]).modifications[0]
    assert py_add.args[0]["c"] == {"$integer": "BQAAAAAAAAA="}
    assert isinstance(py_add.args[0]["a"], float)


def test_unknown_fields_are_ignored():
    msg = decode_client_message(
        '{"type":"Mutation","requestId":3,"udfPath":"a:b","args":[{}],"futureField":[1,2]}'
    )
    assert msg == Mutation(requestId=3, udfPath="a:b", args=[{}])


def test_journal_null_vs_missing():
    base = '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[%s]}'
    missing = decode_client_message(base % '{"type":"Add","queryId":0,"udfPath":"a:b","args":[{}]}')
    null = decode_client_message(
        base % '{"type":"Add","queryId":0,"udfPath":"a:b","args":[{}],"journal":null}'
    )
    assert missing.modifications[0].journal is UNSET
    assert null.modifications[0].journal is None


@pytest.mark.parametrize(
    "frame, fragment",
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ("[1,2]", "expected a JSON object, got list"),
        ('"Connect"', "expected a JSON object, got str"),
        ("{}", "missing the `type` field"),
        ('{"type":"Bogus"}', "unknown client message type 'Bogus'"),
        ('{"type":7}', "unknown client message type 7"),
        ('{"type":"Transition"}', "unknown client message type 'Transition'"),
        ('{"type":"Connect","connectionCount":0}', "Connect message: Object missing required field `sessionId`"),
        ('{"type":"Connect","sessionId":"s","connectionCount":-1}', "connectionCount"),
        (
            '{"type":"Connect","sessionId":"s","connectionCount":0,"maxObservedTimestamp":"AA=="}',
            "maxObservedTimestamp",
        ),
        ('{"type":"Mutation","requestId":"1","udfPath":"a:b","args":[]}', "`$.requestId`"),
        ('{"type":"Mutation","requestId":1,"udfPath":"a:b"}', "missing required field `args`"),
        ('{"type":"Action","requestId":1,"udfPath":"a:b","args":{}}', "`$.args`"),
        (
            '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Nope"}]}',
            "`$.modifications[0].type`",
        ),
        (
            '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,'
            '"modifications":[{"type":"Add","queryId":0,"args":[]}]}',
            "`udfPath`",
        ),
        ('{"type":"Authenticate","tokenType":"User","baseVersion":0}', "needs a `value`"),
        ('{"type":"Authenticate","tokenType":"Magic","baseVersion":0}', "`$.tokenType`"),
        ('{"type":"Event","event":{}}', "`eventType`"),
    ],
)
def test_malformed_client_messages(frame, fragment):
    with pytest.raises(ProtocolError) as info:
        decode_client_message(frame)
    assert fragment in str(info.value)


def test_protocol_error_is_value_error():
    with pytest.raises(ValueError):
        decode_client_message("nope")


# ---------------------------------------------------------------- server messages


def _wire(msg):
    return json.loads(encode_server_message(msg))


def test_transition_wire_shape():
    t = Transition(
        startVersion=StateVersion.make(0, 0, 0),
        endVersion=StateVersion.make(1, 0, 1000),
        modifications=[
            QueryUpdated(queryId=0, value={"n": 1}, logLines=["[LOG] 'hi'"], journal='{"end":3}'),
            QueryUpdated(queryId=1, value=None),
            QueryFailed(queryId=2, errorMessage="boom"),
            QueryFailed(queryId=3, errorMessage="boom", errorData={"code": 7}),
            QueryFailed(queryId=4, errorMessage="boom", errorData=None),
            QueryRemoved(queryId=5),
        ],
    )
    assert _wire(t) == {
        "type": "Transition",
        "startVersion": {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="},
        "endVersion": {"querySet": 1, "identity": 0, "ts": "6AMAAAAAAAA="},
        "modifications": [
            {"type": "QueryUpdated", "queryId": 0, "value": {"n": 1}, "logLines": ["[LOG] 'hi'"], "journal": '{"end":3}'},
            {"type": "QueryUpdated", "queryId": 1, "value": None, "logLines": [], "journal": None},
            {"type": "QueryFailed", "queryId": 2, "errorMessage": "boom", "logLines": [], "journal": None},
            {"type": "QueryFailed", "queryId": 3, "errorMessage": "boom", "logLines": [], "journal": None, "errorData": {"code": 7}},
            {"type": "QueryFailed", "queryId": 4, "errorMessage": "boom", "logLines": [], "journal": None, "errorData": None},
            {"type": "QueryRemoved", "queryId": 5},
        ],
    }
    assert t.endVersion.ts_value == 1000
    with_clock = Transition(t.startVersion, t.endVersion, [], clientClockSkew=-3, serverTs=1_700_000_000_000_000_000)
    assert _wire(with_clock)["clientClockSkew"] == -3
    assert _wire(with_clock)["serverTs"] == 1_700_000_000_000_000_000


def test_mutation_response_wire_shapes():
    ok = MutationResponse(requestId=0, success=True, result={"a": 1}, ts=encode_ts(1010), logLines=["[LOG] 'x'"])
    assert _wire(ok) == {
        "type": "MutationResponse", "requestId": 0, "success": True, "result": {"a": 1},
        "logLines": ["[LOG] 'x'"], "ts": "8gMAAAAAAAA=",
    }
    assert ok.ts_value == 1010
    plain = MutationResponse(requestId=1, success=False, result="Uncaught Error: no")
    assert _wire(plain) == {
        "type": "MutationResponse", "requestId": 1, "success": False, "result": "Uncaught Error: no", "logLines": [],
    }
    data = MutationResponse(requestId=2, success=False, result="Uncaught ConvexError: x", errorData={"k": 1})
    assert _wire(data)["errorData"] == {"k": 1}
    assert "ts" not in _wire(data)
    assert plain.ts_value is None


def test_mutation_response_invariants():
    with pytest.raises(ValueError, match="needs `ts`"):
        MutationResponse(requestId=0, success=True, result=None)
    with pytest.raises(ValueError, match="error message string"):
        MutationResponse(requestId=0, success=False, result={"not": "a string"})
    with pytest.raises(ValueError, match="errorData"):
        MutationResponse(requestId=0, success=True, result=1, ts=encode_ts(1), errorData=1)
    with pytest.raises(ValueError, match="ts"):
        MutationResponse(requestId=0, success=True, result=1, ts="AA==")
    with pytest.raises(ValueError, match="error message string"):
        ActionResponse(requestId=0, success=False, result=3)


def test_other_server_messages_wire_shapes():
    assert _wire(ActionResponse(requestId=4, success=True, result=[1, 2])) == {
        "type": "ActionResponse", "requestId": 4, "success": True, "result": [1, 2], "logLines": [],
    }
    assert _wire(ActionResponse(requestId=5, success=False, result="bad", errorData="s"))["errorData"] == "s"
    assert _wire(AuthError(error="bad token", baseVersion=0)) == {
        "type": "AuthError", "error": "bad token", "baseVersion": 0, "authUpdateAttempted": True,
    }
    assert _wire(FatalError(error="Base version 3 does not match 2")) == {
        "type": "FatalError", "error": "Base version 3 does not match 2",
    }
    assert _wire(Ping()) == {"type": "Ping"}
    assert _wire(TransitionChunk(chunk="{", partNumber=0, totalParts=2, transitionId="t1")) == {
        "type": "TransitionChunk", "chunk": "{", "partNumber": 0, "totalParts": 2, "transitionId": "t1",
    }


SERVER_SAMPLES = [
    Transition(StateVersion.make(0, 0, 0), StateVersion.make(1, 1, 5), [QueryUpdated(0, 1.5), QueryRemoved(2)]),
    Transition(StateVersion.make(1, 1, 5), StateVersion.make(1, 1, 6), [], clientClockSkew=0, serverTs=9),
    MutationResponse(0, True, {"$integer": "AQAAAAAAAAA="}, ts=encode_ts(6)),
    MutationResponse(1, False, "err", errorData=None),
    ActionResponse(2, True, None, ["[LOG] 'a'"]),
    AuthError("expired", 3, False),
    FatalError("bye"),
    Ping(),
    TransitionChunk("abc", 1, 3, "x"),
]


@pytest.mark.parametrize("msg", SERVER_SAMPLES, ids=lambda m: type(m).__name__)
def test_server_round_trip(msg):
    assert decode_server_message(encode_server_message(msg)) == msg


def test_encode_server_message_rejects_client_messages_and_bad_values():
    with pytest.raises(TypeError):
        encode_server_message(Mutation(requestId=0, udfPath="a:b", args=[{}]))
    with pytest.raises(TypeError):
        encode_server_message(QueryUpdated(0, value=object()))
    with pytest.raises(TypeError):
        encode_server_message(
            Transition(StateVersion.make(0, 0, 0), StateVersion.make(0, 0, 0), [QueryUpdated(0, value={"x": object()})])
        )


def test_decode_server_message_errors():
    with pytest.raises(ProtocolError, match="unknown server message type 'Connect'"):
        decode_server_message('{"type":"Connect"}')
    with pytest.raises(ProtocolError, match="MutationResponse"):
        decode_server_message('{"type":"MutationResponse","requestId":0,"success":true,"result":1,"logLines":[]}')


def test_client_message_construction_round_trip():
    msgs = [
        Connect(sessionId="s", connectionCount=2, lastCloseReason=None, maxObservedTimestamp=encode_ts(9), clientTs=5),
        ModifyQuerySet(0, 2, [AddQuery(0, "a:b", [{}], journal=None), AddQuery(1, "a:c", [{}]), RemoveQuery(0)]),
        Action(requestId=9, udfPath="a:b", args=[{}], componentPath="comp"),
        Authenticate(tokenType="None", baseVersion=4),
        Event(eventType="x", event=None),
    ]
    for m in msgs:
        assert decode_client_message(encode_client_message(m)) == m


def test_constructing_invalid_client_message_raises():
    with pytest.raises(ValueError):
        Authenticate(tokenType="Admin", baseVersion=0)
    with pytest.raises(ValueError):
        Connect(sessionId="s", connectionCount=0, maxObservedTimestamp="xx")


# ---------------------------------------------------------------- the real Python client

convex = pytest.importorskip("convex")
websockets = pytest.importorskip("websockets")


class _MiniServer:
    """Just enough of a sync server, built only from this module, to serve the
    official Python client: one query result, one mutation, one action, errors."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.received: list = []
        self.port = None
        self._ready = threading.Event()
        self._stop = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self):
        self._stop = asyncio.Event()
        async with websockets.serve(self._handler, "127.0.0.1", 0) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    async def _handler(self, ws):
        version = StateVersion.make(0, 0, 0)
        ts = 100

        # Frames go out as text (str): the Python client ignores binary frames.
        async def transition(mods=(), **change):
            nonlocal version
            new = StateVersion(
                querySet=change.get("querySet", version.querySet),
                identity=change.get("identity", version.identity),
                ts=encode_ts(change.get("ts", version.ts_value)),
            )
            await ws.send(encode_server_message(Transition(version, new, list(mods))).decode())
            version = new

        try:
            async for frame in ws:
                msg = decode_client_message(frame)
                self.received.append(msg)
                if isinstance(msg, ModifyQuerySet):
                    mods = []
                    for mod in msg.modifications:
                        if isinstance(mod, AddQuery):
                            path = canonicalize_udf_path(mod.udfPath)
                            if path == "q:fails":
                                mods.append(QueryFailed(mod.queryId, "query broke", errorData={"why": "x"}))
                            else:
                                mods.append(QueryUpdated(mod.queryId, {"path": path, "args": mod.args[0]}))
                        else:
                            mods.append(QueryRemoved(mod.queryId))
                    await transition(mods, querySet=msg.newVersion, ts=ts)
                elif isinstance(msg, Mutation):
                    path = canonicalize_udf_path(msg.udfPath)
                    if path == "m:fails":
                        resp = MutationResponse(msg.requestId, False, "Uncaught ConvexError: no", errorData={"n": 2})
                    else:
                        ts += 10
                        resp = MutationResponse(msg.requestId, True, {"echo": msg.args[0]}, ts=encode_ts(ts))
                    await ws.send(encode_server_message(resp).decode())
                    # The Python client resolves a mutation (even a failed one) only
                    # once a Transition follows the response.
                    await transition((), ts=ts)
                elif isinstance(msg, Action):
                    await ws.send(encode_server_message(ActionResponse(msg.requestId, True, "did it")).decode())
                elif isinstance(msg, Authenticate):
                    await transition((), identity=msg.baseVersion + 1)
        except websockets.ConnectionClosed:
            pass

    def __enter__(self):
        self.thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)


# The official client runs in a child process: its blocking calls hold the GIL
# while they wait for the server, so a server in this process would starve.
_CLIENT_SCRIPT = r"""
import json, sys
import convex
client = convex.ConvexClient("http://127.0.0.1:" + sys.argv[1])
out = {"query": client.query("tasks:list", {"k": 1})}
out["mutation"] = client.mutation("tasks:add", {"x": 2})
out["action"] = client.action("tasks:act", {})
try:
    client.mutation("m:fails", {})
except convex.ConvexError as e:
    out["mutation_error"] = [str(e), e.data]
try:
    client.query("q:fails", {})
except convex.ConvexError as e:
    out["query_error"] = [str(e), e.data]
client.set_auth("header.payload.sig")
out["after_auth"] = client.query("tasks", {})
print(json.dumps(out), flush=True)
"""


def test_official_python_client_accepts_our_messages():
    with _MiniServer() as server:
        proc = subprocess.run(
            [sys.executable, "-c", _CLIENT_SCRIPT, str(server.port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["query"] == {"path": "tasks:list", "args": {"k": 1.0}}
    assert out["mutation"] == {"echo": {"x": 2.0}}
    assert out["action"] == "did it"
    assert out["mutation_error"] == ["Uncaught ConvexError: no", {"n": 2.0}]
    assert out["query_error"] == ["query broke", {"why": "x"}]
    assert out["after_auth"] == {"path": "tasks:default", "args": {}}
    kinds = [type(m).__name__ for m in server.received]
    assert kinds[0] == "Connect"
    assert "Authenticate" in kinds


def test_a_cached_timestamp_encoding_still_refuses_a_bool():
    from prefmem.sync.messages import encode_ts

    assert encode_ts(1) == encode_ts(1)  # 1 is now cached; True == 1 must not find it
    with pytest.raises(TypeError):
        encode_ts(True)
