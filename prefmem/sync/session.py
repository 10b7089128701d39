"""One websocket connection speaking the Convex sync protocol.

The session's life is an explicit state machine (``SessionState``): it waits for
``Connect``, then serves; any protocol violation sends ``FatalError`` and closes this
socket only. Incoming messages are handled strictly in arrival order. Mutations are handed
to the committer at once (so a client can pipeline them) and their responses go out in
request order from one responder task; actions run concurrently.

Every Transition a session sends moves its version ``(querySet, identity, ts)`` forward
from exactly the version the client holds, and all results in it are valid at its end
``ts``: new results are computed at a snapshot at which the subscription manager has made
every live query current (``Subscriptions.current``), and flush results all come from one
snapshot.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from prefmem.application import Application
from prefmem.auth.identity import Identity
from prefmem.auth.authenticator import Authenticator
from prefmem.auth.providers import CLOCK_SKEW_S
from prefmem.database.replies import ReplayKey
from prefmem.errors import AuthFailed, PrefmemError
from prefmem.functions import FunctionDef
from prefmem.persistence.base import Snapshot
from prefmem.reactivity import LiveQuery, Subscriptions
from prefmem.runner import Outcome
from prefmem.sync import messages as m
from prefmem.values import from_json, to_json

log = logging.getLogger("prefmem.sync")

PING_INTERVAL_S = 15.0


class SessionState(enum.Enum):
    AWAITING_CONNECT = "awaiting Connect"
    CONNECTED = "connected"
    CLOSED = "closed"


class Transport(Protocol):
    async def send_bytes(self, data: bytes) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


@dataclass
class _Subscription:
    query_id: int
    live: LiveQuery | None  # None when the query failed before it could subscribe
    sent_version: int
    failure: Outcome | None = None


class FatalProtocolError(Exception):
    pass


class SyncSession:
    def __init__(self, transport: Transport, app: Application, subscriptions: Subscriptions,
                 authenticator: Authenticator) -> None:
        self.transport = transport
        self.app = app
        self.subs = subscriptions
        self.authenticator = authenticator
        self.state = SessionState.AWAITING_CONNECT
        self.session_id: str | None = None
        self.identity: Identity | None = None
        self.admin = False  # authenticated with the admin key: internal functions allowed
        self.query_set_version = 0
        self.identity_version = 0
        self.ts = 0
        self._queries: dict[int, _Subscription] = {}
        # Frames for the writer task, None to close. A deque and an event rather than an
        # asyncio.Queue: each Queue.put_nowait and get is a few Python calls, per frame.
        self._outbox: deque[bytes | None] = deque()
        self._outbox_ready = asyncio.Event()
        self._mutations: deque[tuple[int, asyncio.Future]] = deque()
        self._mutation_wake = asyncio.Event()
        self._wanted_ts = 0
        self._transition_owed = False  # a mutation was answered: a Transition must follow it
        self._tasks: set[asyncio.Task] = set()
        self._last_send = time.monotonic()
        self._functions: dict[tuple[str, str, bool], tuple[Any, FunctionDef]] = {}
        self._expiry: asyncio.TimerHandle | None = None  # when the identity's token expires
        self._reconnected = False

    # -- lifecycle ----------------------------------------------------------------------

    async def run(self, frames: "asyncio.Queue[str | bytes | None] | Any") -> None:
        """Serve until the peer goes away; ``frames`` yields incoming text frames, None at close."""
        writer = asyncio.create_task(self._write_loop(), name="sync-writer")
        responder = asyncio.create_task(self._respond_loop(), name="sync-mutation-responses")
        pinger = asyncio.create_task(self._ping_loop(), name="sync-ping")
        try:
            async for frame in frames:
                if self.state is SessionState.CLOSED:
                    break
                try:
                    await self.handle(frame)
                except FatalProtocolError as err:
                    await self._fatal(str(err))
                    break
        finally:
            self.state = SessionState.CLOSED
            self._cleanup()
            for task in (responder, pinger, *self._tasks):
                task.cancel()
            self._post(None)
            try:
                await asyncio.wait_for(writer, 2.0)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 — the socket is gone
                writer.cancel()

    def _cleanup(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        for sub in self._queries.values():
            if sub.live is not None:
                self.subs.unsubscribe(sub.live, self)
        self._queries.clear()
        self.subs.forget_subscriber(self)

    async def _fatal(self, error: str) -> None:
        log.info("sync session %s: protocol error: %s", self.session_id, error)
        self._send(m.FatalError(error=error))
        self.state = SessionState.CLOSED
        self._post(None)

    # -- outgoing -----------------------------------------------------------------------

    def _send(self, msg: Any) -> None:
        if self.state is not SessionState.CLOSED:
            self._post(m.encode_server_message(msg))

    def _post(self, data: bytes | None) -> None:
        self._outbox.append(data)
        self._outbox_ready.set()

    async def _write_loop(self) -> None:
        outbox, ready = self._outbox, self._outbox_ready
        while True:
            if not outbox:
                ready.clear()
                await ready.wait()
                continue
            data = outbox.popleft()
            if data is None:
                await self.transport.close(1000, "")
                return
            self._last_send = time.monotonic()
            await self.transport.send_bytes(data)

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(PING_INTERVAL_S / 3)
            if time.monotonic() - self._last_send >= PING_INTERVAL_S:
                self._send(m.Ping())

    def _version(self) -> m.StateVersion:
        return m.StateVersion.make(self.query_set_version, self.identity_version, self.ts)

    def _transition(self, modifications: list, *, query_set: int, identity: int, ts: int) -> None:
        start = self._version()
        self.query_set_version, self.identity_version, self.ts = query_set, identity, max(ts, self.ts)
        self._send(m.Transition(startVersion=start, endVersion=self._version(), modifications=modifications,
                                serverTs=time.time_ns()))

    def _modification(self, sub: _Subscription) -> Any:
        outcome = sub.failure if sub.live is None else sub.live.outcome
        assert outcome is not None
        if sub.live is not None:
            sub.sent_version = sub.live.version
        if outcome.ok:
            value = sub.live.wire_value() if sub.live is not None else to_json(outcome.value)
            return m.QueryUpdated(queryId=sub.query_id, value=value, logLines=outcome.log_lines,
                                  journal=outcome.journal)
        failed = m.QueryFailed(queryId=sub.query_id, errorMessage=outcome.error_message or "", logLines=outcome.log_lines,
                               journal=outcome.journal)
        if outcome.has_error_data:
            failed.errorData = to_json(outcome.error_data)
        return failed

    # -- incoming -----------------------------------------------------------------------

    async def handle(self, frame: str | bytes) -> None:
        try:
            msg = m.decode_client_message(frame)
        except m.ProtocolError as err:
            raise FatalProtocolError(str(err)) from None
        if self.state is SessionState.AWAITING_CONNECT:
            if not isinstance(msg, m.Connect):
                raise FatalProtocolError(f"the first message on a socket must be Connect, got {type(msg).__name__}")
            self.session_id = msg.sessionId
            self._reconnected = msg.connectionCount > 0  # a client's later socket may replay mutations
            self.state = SessionState.CONNECTED
            return
        if isinstance(msg, m.Connect):
            raise FatalProtocolError("Connect may only be the first message on a socket")
        if isinstance(msg, m.ModifyQuerySet):
            await self._modify_query_set(msg)
        elif isinstance(msg, m.Mutation):
            self._mutation(msg)
        elif isinstance(msg, m.Action):
            self._spawn(self._action(msg))
        elif isinstance(msg, m.Authenticate):
            await self._authenticate(msg)
        # Event: client telemetry, accepted and ignored.

    def _function(self, path: str, kind: str) -> FunctionDef:
        # Looked up once per spelling: a pipelining client names the same function each time.
        registry = self.app.registry
        key = (path, kind, self.admin)
        found = self._functions.get(key)
        if found is not None and found[0] is registry:  # a code reload makes a new registry
            return found[1]
        fn = registry.get(m.canonicalize_udf_path(path), kind=kind, allow_internal=self.admin)
        self._functions[key] = (registry, fn)
        return fn

    @staticmethod
    def _args(args: list[Any]) -> Any:
        if len(args) != 1:
            raise PrefmemError(f"expected one argument object in `args`, got {len(args)} items")
        return from_json(args[0])

    async def _modify_query_set(self, msg: m.ModifyQuerySet) -> None:
        if msg.baseVersion != self.query_set_version:
            raise FatalProtocolError(f"ModifyQuerySet baseVersion {msg.baseVersion} does not match the query set "
                                     f"version {self.query_set_version}")
        if msg.newVersion <= msg.baseVersion:
            raise FatalProtocolError(f"ModifyQuerySet newVersion {msg.newVersion} must be greater than baseVersion "
                                     f"{msg.baseVersion}")
        async with self.subs.current() as snapshot:
            # From here to the Transition nothing awaits: every result is valid at the snapshot.
            mods: list[Any] = []
            for change in msg.modifications:
                if isinstance(change, m.AddQuery):
                    if change.queryId in self._queries:
                        raise FatalProtocolError(f"query id {change.queryId} is already in the query set")
                    sub = self._subscribe(change, snapshot)
                    self._queries[change.queryId] = sub
                    mods.append(self._modification(sub))
                else:
                    sub = self._queries.pop(change.queryId, None)
                    if sub is None:
                        raise FatalProtocolError(f"query id {change.queryId} is not in the query set")
                    if sub.live is not None:
                        self.subs.unsubscribe(sub.live, self)
                    mods.append(m.QueryRemoved(queryId=change.queryId))
            self._transition(mods, query_set=msg.newVersion, identity=self.identity_version, ts=snapshot.ts)

    def _subscribe(self, add: m.AddQuery, snapshot: Snapshot) -> _Subscription:
        try:
            fn = self._function(add.udfPath, "query")
            args = self._args(add.args)
        except PrefmemError as err:
            return _Subscription(add.queryId, None, 0, Outcome(error=str(err)))
        journal = add.journal if isinstance(add.journal, str) else None
        live = self.subs.subscribe(fn, args, self.identity, journal, self, snapshot)
        return _Subscription(add.queryId, live, 0)

    def on_flush(self, ts: int, changed: set[LiveQuery]) -> None:
        """Subscription manager callback: results changed at ``ts`` (or a ts was wanted)."""
        if self.state is not SessionState.CONNECTED:
            return
        mods = [self._modification(sub) for sub in self._queries.values()
                if sub.live is not None and sub.live in changed and sub.live.version != sub.sent_version]
        if mods or self._wanted_ts > self.ts or self._transition_owed:
            self._transition_owed = False
            self._transition(mods, query_set=self.query_set_version, identity=self.identity_version, ts=ts)

    def on_moved(self, old: LiveQuery, new: LiveQuery) -> None:
        for sub in self._queries.values():
            if sub.live is old:
                sub.live = new
                sub.sent_version = -1  # resend: the new live query's result is this user's own

    # -- mutations and actions ----------------------------------------------------------

    def _mutation(self, msg: m.Mutation) -> None:
        try:
            fn = self._function(msg.udfPath, "mutation")
            args = self._args(msg.args)
        except PrefmemError as err:
            future: asyncio.Future = asyncio.get_running_loop().create_future()
            future.set_result(Outcome(error=str(err)))
        else:
            replay = None
            if self.session_id is not None:
                replay = ReplayKey(self.session_id, msg.requestId, self._caller_key(), fn.path or "", args)
            # Only a later socket of a session replays: its first socket's requests are new.
            # A future, not a task per mutation.
            future = self.app.committer.submit(fn, args, self.identity, replay,  # type: ignore[assignment]
                                               lookup=self._reconnected)
        self._mutations.append((msg.requestId, future))
        self._mutation_wake.set()

    def _caller_key(self) -> str:
        """Who a stored reply belongs to: the user (across token refreshes), or the admin."""
        if self.identity is not None:
            return self.identity.token_identifier
        return "admin" if self.admin else ""

    async def _respond_loop(self) -> None:
        encoded_ts: tuple[int, str] = (-1, "")
        while True:
            if not self._mutations:
                self._mutation_wake.clear()
                await self._mutation_wake.wait()
                continue
            request_id, future = self._mutations[0]
            # A whole committed batch is answered in one pass; only an unfinished head waits.
            if not future.done():
                await future
            outcome: Outcome = future.result()
            self._mutations.popleft()
            # Clients resolve a mutation on the first Transition after its response (the
            # Python client even a failed one), so one is owed either way.
            if not self._transition_owed:
                self._transition_owed = True
                self.subs.want_ts(self)
            if outcome.ok:
                if outcome.ts != encoded_ts[0]:  # a batch's mutations share one commit ts
                    encoded_ts = (outcome.ts, m.encode_ts(outcome.ts))
                self._send(m.MutationResponse(requestId=request_id, success=True, result=to_json(outcome.value),
                                              logLines=outcome.log_lines, ts=encoded_ts[1]))
                self._wanted_ts = max(self._wanted_ts, outcome.ts)
            else:
                response = m.MutationResponse(requestId=request_id, success=False, result=outcome.error_message or "",
                                              logLines=outcome.log_lines)
                if outcome.has_error_data:
                    response.errorData = to_json(outcome.error_data)
                self._send(response)

    async def _action(self, msg: m.Action) -> None:
        try:
            fn = self._function(msg.udfPath, "action")
            args = self._args(msg.args)
        except PrefmemError as err:
            outcome = Outcome(error=str(err))
        else:
            outcome = await self.app.run(fn, args, self.identity)
        if outcome.ok:
            self._send(m.ActionResponse(requestId=msg.requestId, success=True, result=to_json(outcome.value),
                                        logLines=outcome.log_lines))
        else:
            response = m.ActionResponse(requestId=msg.requestId, success=False, result=outcome.error_message or "",
                                        logLines=outcome.log_lines)
            if outcome.has_error_data:
                response.errorData = to_json(outcome.error_data)
            self._send(response)

    # -- authentication -----------------------------------------------------------------

    async def _authenticate(self, msg: m.Authenticate) -> None:
        if msg.baseVersion != self.identity_version:
            raise FatalProtocolError(f"Authenticate baseVersion {msg.baseVersion} does not match the identity "
                                     f"version {self.identity_version}")
        try:
            impersonating = msg.impersonating if msg.impersonating is not m.UNSET else msg.acting_as
            principal = await self.authenticator.principal_for_message(
                msg.tokenType, msg.value if isinstance(msg.value, str) else None,
                None if impersonating is m.UNSET else impersonating)
        except AuthFailed as err:
            self._send(m.AuthError(error=str(err), baseVersion=self.identity_version, authUpdateAttempted=True))
            return
        async with self.subs.current() as snapshot:
            self.identity, self.admin = principal.identity, principal.admin
            mods = self._resubscribe(snapshot)
            self._transition(mods, query_set=self.query_set_version, identity=msg.baseVersion + 1, ts=snapshot.ts)
        self._watch_expiry()

    def _resubscribe(self, snapshot: Snapshot) -> list[Any]:
        """Move every query of the socket to the current identity; the modifications to send."""
        mods = []
        for sub in list(self._queries.values()):
            if sub.live is None:
                continue
            old = sub.live
            sub.live = self.subs.subscribe(old.fn, old.args, self.identity, old.journal, self, snapshot)
            self.subs.unsubscribe(old, self)
            sub.sent_version = -1
            mods.append(self._modification(sub))
        return mods

    def _watch_expiry(self) -> None:
        """Stop acting as a user when their token expires (with the verifier's clock leeway).

        Clients refresh tokens ahead of expiry and re-authenticate; one that does not must
        not keep the identity on an open socket forever. At expiry the session sends an
        ``AuthError`` (``authUpdateAttempted: false``: npm then fetches a new token) and
        carries on without identity: queries rerun as nobody, later calls run as nobody.
        """
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        exp = self.identity.expires_at if self.identity is not None and not self.admin else None
        if exp is not None:
            delay = max(0.0, exp + CLOCK_SKEW_S - time.time())
            version = self.identity_version
            self._expiry = asyncio.get_running_loop().call_later(
                delay, lambda: self._spawn(self._expire(version)))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _expire(self, identity_version: int) -> None:
        async with self.subs.current() as snapshot:
            if self.state is not SessionState.CONNECTED or identity_version != self.identity_version:
                return  # re-authenticated meanwhile
            self._send(m.AuthError(error="the token expired; authenticate again with a fresh one",
                                   baseVersion=self.identity_version, authUpdateAttempted=False))
            self.identity, self._expiry = None, None
            mods = self._resubscribe(snapshot)
            self._transition(mods, query_set=self.query_set_version, identity=self.identity_version, ts=snapshot.ts)
