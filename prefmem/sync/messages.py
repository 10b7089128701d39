"""Wire messages of the Convex sync protocol (the websocket at ``/api/sync``).

Every frame on the socket is one JSON object whose ``"type"`` field names the
message. This module declares each message as a ``msgspec.Struct`` so that one
decoder call both parses and validates an incoming frame, and one encoder call
produces an outgoing frame, with no per-field Python code on the hot path.

What this layer deliberately does *not* do: interpret function arguments,
query results, ``errorData`` or ``impersonating`` identities. Those travel as
"Convex encoded JSON" (plain JSON plus ``{"$integer": ...}``-style wrappers)
and are kept here exactly as JSON-decoded Python structures (dict, list, str,
int, float, bool, None). Converting them to and from Convex values belongs to
the values layer, which alone knows the type rules (for instance that a bare
JSON number is a float64 even when it is written without a decimal point, and
that int64 only ever arrives as ``{"$integer": ...}``). Keeping the two layers
apart means a malformed *value* is reported as a function-argument error,
while a malformed *message* is a protocol error that ends the socket.

Field presence matters to the official clients, so it is modelled exactly:

* Fields the clients need to see absent (never ``null``) default to
  ``msgspec.UNSET`` and are dropped on encode: ``errorData`` (present, even as
  ``null``, turns a failure into a ``ConvexError`` in both clients),
  ``MutationResponse.ts`` on failures, ``Transition.clientClockSkew`` /
  ``serverTs``.
* ``logLines`` is always written (both clients fail to parse a message without
  it) and ``journal`` is always written for query results (``null`` = none).

Timestamps (``ts``, ``maxObservedTimestamp``) travel as the standard base64 of
the 8-byte little-endian integer; structs keep that string form and
:func:`encode_ts` / :func:`decode_ts` convert. Real Convex timestamps are
nanoseconds that fit in a signed 64-bit integer (the npm client reads them as a
signed ``Long``), so keep them below ``2**63``.

See ``notes/protocol-findings.md`` for the observed behaviour of the real clients.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    # helpers
    "ProtocolError",
    "encode_ts",
    "decode_ts",
    "canonicalize_udf_path",
    "decode_client_message",
    "encode_client_message",
    "decode_server_message",
    "encode_server_message",
    # client -> server
    "Connect",
    "AddQuery",
    "RemoveQuery",
    "ModifyQuerySet",
    "Mutation",
    "Action",
    "Authenticate",
    "Event",
    "ClientMessage",
    # server -> client
    "StateVersion",
    "QueryUpdated",
    "QueryFailed",
    "QueryRemoved",
    "Transition",
    "TransitionChunk",
    "MutationResponse",
    "ActionResponse",
    "AuthError",
    "FatalError",
    "Ping",
    "ServerMessage",
    "UNSET",
]

U64_MAX = 2**64 - 1

# Non-negative integer (query ids, request ids, versions, counters).
NonNeg = Annotated[int, msgspec.Meta(ge=0)]


class ProtocolError(ValueError):
    """A frame that is not a valid protocol message; the text says what is wrong."""


# --------------------------------------------------------------------------
# Timestamps


@functools.lru_cache(maxsize=256, typed=True)  # typed: True must not hit 1's entry
def encode_ts(value: int) -> str:
    """Encode a U64 as the protocol does: base64 of its 8 little-endian bytes.

    Cached: a flush sends every session a Transition ending at the same ts, and each
    Transition starts where the session's last one ended."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"timestamp must be an int, got {type(value).__name__}")
    if not 0 <= value <= U64_MAX:
        raise ValueError(f"timestamp {value} is outside the unsigned 64-bit range")
    return base64.b64encode(value.to_bytes(8, "little")).decode("ascii")


def decode_ts(encoded: str) -> int:
    """Decode a protocol U64 string; raises ``ProtocolError`` if it is not 8 bytes of base64."""
    if not isinstance(encoded, str):
        raise ProtocolError(f"timestamp must be a base64 string, got {type(encoded).__name__}")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"timestamp {encoded!r} is not valid base64") from exc
    if len(raw) != 8:
        raise ProtocolError(f"timestamp {encoded!r} decodes to {len(raw)} bytes, expected 8")
    return int.from_bytes(raw, "little")


def canonicalize_udf_path(udf_path: str) -> str:
    """Normalise a function path the way the npm client does before sending.

    ``"tasks"`` -> ``"tasks:default"``; ``"tasks.js:add"`` -> ``"tasks:add"``.
    The Python client sends paths exactly as the user typed them on the first
    connection and as ``module.js:fn`` after a reconnect, so the server must
    apply this to every ``udfPath`` it receives.
    """
    module, sep, function = udf_path.rpartition(":")
    if not sep:
        module, function = udf_path, "default"
    if module.endswith(".js"):
        module = module[:-3]
    return f"{module}:{function}"


# --------------------------------------------------------------------------
# Client -> server


class Connect(msgspec.Struct, tag="Connect", tag_field="type"):
    """First message on every socket.

    ``sessionId`` is a UUID string. npm keeps it for the client's lifetime;
    the Python client makes a new one for every socket. ``connectionCount``
    counts earlier sockets of this client. ``lastCloseReason`` is
    ``"InitialConnect"`` on the first socket and may be ``null`` later.
    ``maxObservedTimestamp`` (encoded U64) is the highest ``ts`` the client
    has seen, absent until it has seen one. ``clientTs`` is the client's clock
    in ms (the Python client sends 0).
    """

    sessionId: str
    connectionCount: NonNeg
    lastCloseReason: str | None = None
    maxObservedTimestamp: str | UnsetType | None = UNSET
    clientTs: int | float | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        if isinstance(self.maxObservedTimestamp, str):
            try:
                decode_ts(self.maxObservedTimestamp)
            except ProtocolError as exc:
                raise ValueError(f"maxObservedTimestamp: {exc}") from None

    @property
    def max_observed_ts(self) -> int | None:
        """``maxObservedTimestamp`` as an int, or ``None`` when not sent."""
        if isinstance(self.maxObservedTimestamp, str):
            return decode_ts(self.maxObservedTimestamp)
        return None


class AddQuery(msgspec.Struct, tag="Add", tag_field="type"):
    """Subscribe ``queryId`` to ``udfPath`` called with ``args[0]``.

    ``journal`` is the opaque string the server returned with an earlier
    result of this query (only sent on reconnect or re-subscription), or null.
    """

    queryId: NonNeg
    udfPath: str
    args: list[Any]
    journal: str | UnsetType | None = UNSET
    componentPath: str | UnsetType | None = UNSET


class RemoveQuery(msgspec.Struct, tag="Remove", tag_field="type"):
    queryId: NonNeg


QuerySetModification = Union[AddQuery, RemoveQuery]


class ModifyQuerySet(msgspec.Struct, tag="ModifyQuerySet", tag_field="type"):
    """Apply ``modifications`` in order; moves the query set from ``baseVersion`` to ``newVersion``."""

    baseVersion: NonNeg
    newVersion: NonNeg
    modifications: list[QuerySetModification]


class Mutation(msgspec.Struct, tag="Mutation", tag_field="type"):
    requestId: NonNeg
    udfPath: str
    args: list[Any]
    componentPath: str | UnsetType | None = UNSET


class Action(msgspec.Struct, tag="Action", tag_field="type"):
    requestId: NonNeg
    udfPath: str
    args: list[Any]
    componentPath: str | UnsetType | None = UNSET


class Authenticate(msgspec.Struct, tag="Authenticate", tag_field="type"):
    """Change the socket's identity; ``baseVersion`` is the client's identity version before it.

    ``tokenType`` ``"User"`` carries a JWT in ``value``; ``"Admin"`` an admin
    key in ``value`` and optionally identity attributes to act as (npm sends
    them as ``impersonating``, the Rust core as ``acting_as``); ``"None"``
    clears the identity.
    """

    tokenType: Literal["User", "Admin", "None"]
    baseVersion: NonNeg
    value: str | UnsetType = UNSET
    impersonating: Any = UNSET
    acting_as: Any = UNSET

    def __post_init__(self) -> None:
        if self.tokenType in ("User", "Admin") and self.value is UNSET:
            raise ValueError(f"Authenticate with tokenType {self.tokenType!r} needs a `value`")


class Event(msgspec.Struct, tag="Event", tag_field="type"):
    """Client telemetry; accept and ignore."""

    eventType: str
    event: Any = None


ClientMessage = Union[Connect, ModifyQuerySet, Mutation, Action, Authenticate, Event]

_CLIENT_TYPES = ("Connect", "ModifyQuerySet", "Mutation", "Action", "Authenticate", "Event")


# --------------------------------------------------------------------------
# Server -> client


class StateVersion(msgspec.Struct):
    """A client's view of the server state: query-set version, identity version, timestamp.

    ``ts`` is kept in its wire form (base64 U64); build one with
    :meth:`make` and read the number with :attr:`ts_value`.
    """

    querySet: NonNeg
    identity: NonNeg
    ts: str

    @classmethod
    def make(cls, query_set: int, identity: int, ts: int) -> "StateVersion":
        return cls(querySet=query_set, identity=identity, ts=encode_ts(ts))

    @property
    def ts_value(self) -> int:
        return decode_ts(self.ts)


class QueryUpdated(msgspec.Struct, tag="QueryUpdated", tag_field="type"):
    queryId: NonNeg
    value: Any
    logLines: list[str] = msgspec.field(default_factory=list)
    journal: str | None = None


class QueryFailed(msgspec.Struct, tag="QueryFailed", tag_field="type"):
    """A query that threw. Set ``errorData`` only for a ``ConvexError``: its presence
    (even as ``null``) is what makes the clients raise ``ConvexError``."""

    queryId: NonNeg
    errorMessage: str
    logLines: list[str] = msgspec.field(default_factory=list)
    journal: str | None = None
    errorData: Any = UNSET


class QueryRemoved(msgspec.Struct, tag="QueryRemoved", tag_field="type"):
    queryId: NonNeg


StateModification = Union[QueryUpdated, QueryFailed, QueryRemoved]


class Transition(msgspec.Struct, tag="Transition", tag_field="type"):
    """Moves the client from ``startVersion`` (must equal its current version exactly)
    to ``endVersion``. ``serverTs`` is server wall time in ns and ``clientClockSkew``
    ms; the npm client only uses them for diagnostics and token-refresh timing."""

    startVersion: StateVersion
    endVersion: StateVersion
    modifications: list[StateModification] = msgspec.field(default_factory=list)
    clientClockSkew: int | UnsetType = UNSET
    serverTs: int | UnsetType = UNSET


class TransitionChunk(msgspec.Struct, tag="TransitionChunk", tag_field="type"):
    """One part of a Transition's JSON text split across frames (npm client only)."""

    chunk: str
    partNumber: NonNeg
    totalParts: NonNeg
    transitionId: str


class MutationResponse(msgspec.Struct, tag="MutationResponse", tag_field="type"):
    """Outcome of a mutation.

    Success: ``result`` is the return value and ``ts`` (required) the encoded
    commit timestamp; the clients resolve only after a Transition reaching
    ``ts``. Failure: ``result`` is the error message string, ``errorData``
    only for a ``ConvexError``.
    """

    requestId: NonNeg
    success: bool
    result: Any
    logLines: list[str] = msgspec.field(default_factory=list)
    ts: str | UnsetType | None = UNSET
    errorData: Any = UNSET

    def __post_init__(self) -> None:
        if self.success:
            if not isinstance(self.ts, str):
                raise ValueError("a successful MutationResponse needs `ts`")
            if self.errorData is not UNSET:
                raise ValueError("a successful MutationResponse cannot carry `errorData`")
        elif not isinstance(self.result, str):
            raise ValueError("a failed MutationResponse needs the error message string as `result`")
        if isinstance(self.ts, str):
            _check_ts(self.ts)

    @property
    def ts_value(self) -> int | None:
        return decode_ts(self.ts) if isinstance(self.ts, str) else None


@functools.lru_cache(maxsize=64)
def _check_ts(encoded: str) -> None:
    """Raise ValueError unless ``encoded`` is a protocol timestamp. Cached: every
    response of a committed batch carries the same one."""
    try:
        decode_ts(encoded)
    except ProtocolError as exc:
        raise ValueError(f"ts: {exc}") from None


class ActionResponse(msgspec.Struct, tag="ActionResponse", tag_field="type"):
    """Outcome of an action; same ``result``/``errorData`` rules as MutationResponse, no ``ts``."""

    requestId: NonNeg
    success: bool
    result: Any
    logLines: list[str] = msgspec.field(default_factory=list)
    errorData: Any = UNSET

    def __post_init__(self) -> None:
        if self.success and self.errorData is not UNSET:
            raise ValueError("a successful ActionResponse cannot carry `errorData`")
        if not self.success and not isinstance(self.result, str):
            raise ValueError("a failed ActionResponse needs the error message string as `result`")


class AuthError(msgspec.Struct, tag="AuthError", tag_field="type"):
    """Authentication failed. ``baseVersion`` is the identity version the server is
    still at; ``authUpdateAttempted`` is true when answering an ``Authenticate``."""

    error: str
    baseVersion: NonNeg
    authUpdateAttempted: bool = True


class FatalError(msgspec.Struct, tag="FatalError", tag_field="type"):
    """Unrecoverable protocol error; the server closes the socket after sending it."""

    error: str


class Ping(msgspec.Struct, tag="Ping", tag_field="type"):
    """Keep-alive; resets the npm client's 60 s server-inactivity timer."""


ServerMessage = Union[
    Transition,
    TransitionChunk,
    MutationResponse,
    ActionResponse,
    AuthError,
    FatalError,
    Ping,
]

_SERVER_TYPES = (
    "Transition",
    "TransitionChunk",
    "MutationResponse",
    "ActionResponse",
    "AuthError",
    "FatalError",
    "Ping",
)


# --------------------------------------------------------------------------
# Encoding / decoding

_client_decoder = msgspec.json.Decoder(ClientMessage)
_server_decoder = msgspec.json.Decoder(ServerMessage)
_encoder = msgspec.json.Encoder()


def _explain(data: bytes | str, exc: Exception, direction: str, known: tuple[str, ...]) -> ProtocolError:
    """Turn a msgspec failure into a message that names what is wrong."""
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError as err:
        return ProtocolError(f"malformed {direction} message: not valid JSON ({err})")
    if not isinstance(raw, dict):
        return ProtocolError(
            f"malformed {direction} message: expected a JSON object, got {type(raw).__name__}"
        )
    kind = raw.get("type")
    if kind is None:
        return ProtocolError(f"malformed {direction} message: missing the `type` field")
    if not isinstance(kind, str) or kind not in known:
        return ProtocolError(
            f"unknown {direction} message type {kind!r} (expected one of {', '.join(known)})"
        )
    return ProtocolError(f"malformed {kind} message: {exc}")


def decode_client_message(data: bytes | str) -> ClientMessage:
    """Parse and validate one client frame; raises ``ProtocolError`` naming the problem."""
    try:
        return _client_decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _explain(data, exc, "client", _CLIENT_TYPES) from None
    except RecursionError:  # msgspec's parser stops at about 1,000 levels of nesting
        raise ProtocolError("malformed client message: JSON nested too deeply") from None


def encode_client_message(msg: ClientMessage) -> bytes:
    """Encode a client message (for test clients and tools)."""
    return _encoder.encode(msg)


def decode_server_message(data: bytes | str) -> ServerMessage:
    """Parse and validate one server frame (for test clients and tools)."""
    try:
        return _server_decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _explain(data, exc, "server", _SERVER_TYPES) from None


def encode_server_message(msg: ServerMessage) -> bytes:
    """Encode a server message to the UTF-8 JSON of one websocket frame.

    Send it as a *text* frame (``ws.send(data.decode())``, or Starlette's
    ``send_text``): the Python client silently drops binary frames, and a
    browser would hand the npm client a Blob it cannot parse. Values inside (query results, return values, ``errorData``) must already
    be Convex encoded JSON made of builtins; anything else raises ``TypeError``.
    """
    if not isinstance(msg, (Transition, TransitionChunk, MutationResponse, ActionResponse, AuthError, FatalError, Ping)):
        raise TypeError(f"not a server message: {type(msg).__name__}")
    return _encoder.encode(msg)
