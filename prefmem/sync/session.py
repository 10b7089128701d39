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
from typing import Any, AsyncIterable, Protocol

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
# A batch of query executions (a ModifyQuerySet, a change of identity) gives the other
# connections a turn after this long: long enough that small batches never pause, short
# enough that no socket waits on another's batch for more than this plus one query.
BATCH_SLICE_S = 0.01
# The turn: a millisecond rather than one pass of the event loop, so that another client's
# request goes all the way through (read, commit, reply, write: a pass each) in one turn.
GIVE_WAY_S = 0.001


class SessionState(enum.Enum):
    AWAITING_CONNECT = "awaiting Connect"
    CONNECTED = "connected"
    CLOSED = "closed"


class Transport(Protocol):
    async def send(self, frames: list[bytes]) -> None:
        """Send ``frames`` in order, together (in one write, where it can)."""

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
        self.bounds = app.bounds
        # Unsent frames and their bytes. Past a quarter of the bound query updates are held
        # back (``_behind``) and sent as one Transition once the client reads; past the bound
        # the socket is dropped. ``_holding``: a batch is running whose Transition will carry
        # every update, so none goes out meanwhile.
        self._queued_bytes = 0
        self._behind = False
        self._catch_up_asked = False
        self._holding = 0
        self._sending_since: float | None = None  # when the frame being written started waiting
        # Queries subscribed by a batch still running, by query id: in the query set once the
        # batch's Transition is sent. Batches and identity changes take turns (the lock).
        self._staged: dict[int, _Subscription] = {}
        self._query_set_lock = asyncio.Lock()
        self._revoked: Identity | None = None  # an identity ended elsewhere, its queries not yet rerun
        # The sign-in behind the identity, followed (``Authenticator.sign_in_check``): when it
        # ends (a commit, from any process), the socket stops acting for it.
        self._sign_in: LiveQuery | None = None
        self._dropped: str | None = None  # why the server ended this session itself
        self._reader: asyncio.Task | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def run(self, frames: AsyncIterable[str | bytes]) -> None:
        """Serve until the peer goes away, when ``frames`` (the incoming frames) ends."""
        writer = asyncio.create_task(self._write_loop(), name="sync-writer")
        responder = asyncio.create_task(self._respond_loop(), name="sync-mutation-responses")
        pinger = asyncio.create_task(self._ping_loop(), name="sync-ping")
        self._reader = asyncio.current_task()
        try:
            async for frame in frames:
                if self.state is SessionState.CLOSED:
                    break
                try:
                    await self.handle(frame)
                except FatalProtocolError as err:
                    await self._fatal(str(err))
                    break
        except asyncio.CancelledError:
            if self._dropped is None:
                raise
            if self._reader is not None:
                self._reader.uncancel()  # our own doing (``_drop``): end quietly
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
        self._unstage()
        if self._sign_in is not None:
            self.subs.unsubscribe(self._sign_in, self)
            self._sign_in = None
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
        if data is not None:
            self._queued_bytes += len(data)
            if self._queued_bytes > self.bounds.socket_buffer_bytes and self._outbox:
                # What is queued now is replies to its own requests: it is not reading them.
                self._drop(f"the client is not reading: over {self.bounds.socket_buffer_bytes} bytes are "
                           f"waiting to be sent to it")
                return
        if not self._outbox:  # the writer waits only on an empty outbox: waking it once is enough
            self._outbox_ready.set()
        self._outbox.append(data)

    def _drop(self, reason: str) -> None:
        """End this session now, from the server's side: a client that stopped reading."""
        if self._dropped is not None:
            return
        log.warning("sync session %s closed: %s", self.session_id, reason)
        self._dropped = reason
        self.state = SessionState.CLOSED
        self._outbox.clear()
        self._queued_bytes = 0
        self._outbox.append(None)
        self._outbox_ready.set()
        if self._reader is not None:
            self._reader.cancel()  # it may be waiting for a frame that never comes

    async def _write_loop(self) -> None:
        """Everything queued goes out in one send: a committed batch's replies to this
        client, and the Transition after them when it is already queued, leave together."""
        outbox, ready, transport = self._outbox, self._outbox_ready, self.transport
        while True:
            if not outbox:
                ready.clear()
                await ready.wait()
                continue
            frames = []
            while outbox and (data := outbox.popleft()) is not None:
                frames.append(data)
            if frames:
                self._last_send = self._sending_since = time.monotonic()
                await transport.send(frames)
                self._sending_since = None
                self._queued_bytes -= sum(map(len, frames))
            if data is None:
                # Close codes: 1008 (policy) when the server dropped the client; reasons fit 123 bytes.
                await transport.close(1008 if self._dropped else 1000, (self._dropped or "")[:120])
                return
            if self._behind and not self._catch_up_asked and not self._holding \
                    and self._queued_bytes <= self._hold_back_at:
                self._catch_up_asked = True  # reading again: one Transition with all it missed
                self.subs.want_ts(self)

    @property
    def _hold_back_at(self) -> int:
        return self.bounds.socket_buffer_bytes // 4

    async def _ping_loop(self) -> None:
        stuck_after = self.bounds.ping_interval_s + self.bounds.ping_timeout_s
        while True:
            await asyncio.sleep(min(PING_INTERVAL_S, stuck_after) / 3)
            now = time.monotonic()
            if self._sending_since is not None and now - self._sending_since > stuck_after:
                # A frame has waited this long for the client to read: it would not answer a ping either.
                self._drop(f"the client read nothing for {stuck_after:g} s")
                return
            if now - self._last_send >= PING_INTERVAL_S:
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
        self._check_query_limits(msg)
        async with self._query_set_lock:
            self._holding += 1
            try:
                await self._modify_query_set_held(msg)
            finally:
                self._holding -= 1
                self._unstage()

    def _check_query_limits(self, msg: m.ModifyQuerySet) -> None:
        """Refuse, before running anything, a message that would take the socket past its bound."""
        most = self.bounds.queries_per_socket
        if len(msg.modifications) > 2 * most:
            raise FatalProtocolError(f"TooManyQueries: a ModifyQuerySet may carry at most {2 * most} changes, this "
                                     f"one has {len(msg.modifications)} (PREFMEM_QUERIES_PER_SOCKET is {most})")
        ids = set(self._queries)
        for change in msg.modifications:
            if isinstance(change, m.AddQuery):
                ids.add(change.queryId)
            else:
                ids.discard(change.queryId)
        if len(ids) > most:
            raise FatalProtocolError(f"TooManyQueries: this ModifyQuerySet would leave {len(ids)} queries on the "
                                     f"socket, over the limit of {most} (PREFMEM_QUERIES_PER_SOCKET)")

    async def _modify_query_set_held(self, msg: m.ModifyQuerySet) -> None:
        """The changes a slice at a time, each slice at a current snapshot; the added queries
        wait staged (kept current by the subscription manager) until the last slice, whose
        snapshot every result of the Transition is valid at."""
        identity = self.identity
        changes = msg.modifications
        done: list[tuple[Any, _Subscription | None]] = []  # each change, with the query it added
        sub: _Subscription | None
        while True:
            async with self.subs.current() as snapshot:
                # Nothing awaits inside: every result is valid at the snapshot.
                slice_end, first = time.perf_counter() + BATCH_SLICE_S, True
                while len(done) < len(changes) and (first or time.perf_counter() < slice_end):
                    first = False
                    change = changes[len(done)]
                    if isinstance(change, m.AddQuery):
                        if change.queryId in self._queries or change.queryId in self._staged:
                            raise FatalProtocolError(f"query id {change.queryId} is already in the query set")
                        sub = self._staged[change.queryId] = self._subscribe(change, snapshot)
                        done.append((change, sub))
                    else:
                        sub = self._staged.pop(change.queryId, None) or self._queries.pop(change.queryId, None)
                        if sub is None:
                            raise FatalProtocolError(f"query id {change.queryId} is not in the query set")
                        if sub.live is not None:
                            self.subs.unsubscribe(sub.live, self)
                        done.append((change, None))
                if len(done) == len(changes):
                    if self.identity is not identity:
                        self._restage(snapshot)
                    mods = self._missed_updates()
                    for change, sub in done:
                        if sub is None:
                            mods.append(m.QueryRemoved(queryId=change.queryId))
                        elif self._staged.get(change.queryId) is sub:  # not removed again later in the message
                            del self._staged[change.queryId]
                            self._queries[change.queryId] = sub
                            mods.append(self._modification(sub))
                    self._transition(mods, query_set=msg.newVersion, identity=self.identity_version, ts=snapshot.ts)
                    return
            await asyncio.sleep(GIVE_WAY_S)  # other connections' turn

    def _restage(self, snapshot: Snapshot) -> None:
        """The identity ended while a batch ran (``end_identity``): what the batch staged runs
        again, at once, as the identity the socket has now."""
        for sub in self._staged.values():
            if sub.live is not None:
                ran = sub.live
                sub.live = self.subs.subscribe(ran.fn, ran.args, self.identity, ran.journal, self, snapshot)
                self.subs.unsubscribe(ran, self)

    def _unstage(self) -> None:
        for sub in self._staged.values():
            if sub.live is not None:
                self.subs.unsubscribe(sub.live, self)
        self._staged.clear()

    def _missed_updates(self) -> list[Any]:
        """Updates of the socket's queries held back meanwhile (``_behind``), to send now."""
        self._behind = False
        return [self._modification(sub) for sub in self._queries.values()
                if sub.live is not None and sub.live.version != sub.sent_version]

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
        if self._sign_in is not None and self._sign_in in changed and self._sign_in.outcome.value is False:
            self._sign_in_ended()
        self._catch_up_asked = False
        if self._holding or self._queued_bytes > self._hold_back_at:
            self._behind = True  # sent later in one Transition with the latest results
            return
        if self._behind:
            mods = self._missed_updates()
        else:
            mods = [self._modification(sub) for sub in self._queries.values()
                    if sub.live is not None and sub.live in changed and sub.live.version != sub.sent_version]
        if mods or self._wanted_ts > self.ts or self._transition_owed:
            self._transition_owed = False
            self._transition(mods, query_set=self.query_set_version, identity=self.identity_version, ts=ts)

    def on_moved(self, old: LiveQuery, new: LiveQuery) -> None:
        for sub in (*self._queries.values(), *self._staged.values()):
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
                # The reply belongs to the user (across token refreshes), or the admin.
                identity = self.identity
                caller = identity.token_identifier if identity is not None else "admin" if self.admin else ""
                replay = ReplayKey(self.session_id, msg.requestId, caller, fn.path or "", args)
            # Only a later socket of a session replays: its first socket's requests are new.
            # A future, not a task per mutation.
            future = self.app.committer.submit(fn, args, self.identity, replay,  # type: ignore[assignment]
                                               lookup=self._reconnected)
        if not self._mutations:  # the responder waits only when none is queued
            self._mutation_wake.set()
        self._mutations.append((msg.requestId, future))

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
            if outcome.error is None:
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
            self._end_with_auth_error(str(err), attempted=True)
            return
        async with self._query_set_lock:
            self.identity, self.admin, self._revoked = principal.identity, principal.admin, None
            await self._rerun_queries(msg.baseVersion + 1)
        self._watch_expiry()

    async def _rerun_queries(self, identity_version: int) -> None:
        """Move every query of the socket to the current identity and send the Transition to
        ``identity_version``. Call holding ``_query_set_lock``.

        The queries run again under the new identity a slice at a time (other connections
        run in between), while the socket keeps its old results and is sent no update; then,
        at one snapshot, each takes its new result.
        """
        self._holding += 1
        try:
            identity = self.identity
            pending = [(query_id, sub.live) for query_id, sub in self._queries.items() if sub.live is not None]
            while True:
                async with self.subs.current() as snapshot:
                    # Nothing awaits inside: every result is valid at the snapshot.
                    slice_end, first = time.perf_counter() + BATCH_SLICE_S, True
                    while pending and (first or time.perf_counter() < slice_end):
                        first = False
                        query_id, old = pending.pop()
                        self._staged[query_id] = _Subscription(query_id, self.subs.subscribe(
                            old.fn, old.args, identity, old.journal, self, snapshot), -1)
                    if not pending:
                        if self.identity is not identity:
                            self._restage(snapshot)
                        mods = []
                        for query_id, staged in self._staged.items():
                            sub = self._queries[query_id]
                            assert sub.live is not None and staged.live is not None
                            self.subs.unsubscribe(sub.live, self)
                            sub.live, sub.sent_version = staged.live, -1
                            mods.append(self._modification(sub))
                        self._staged.clear()
                        self._behind = False  # every query is in ``mods``
                        self._transition(mods, query_set=self.query_set_version, identity=identity_version,
                                         ts=snapshot.ts)
                        self._follow_sign_in(snapshot)
                        return
                await asyncio.sleep(GIVE_WAY_S)  # other connections' turn
        finally:
            self._holding -= 1
            self._unstage()

    def _watch_expiry(self) -> None:
        """Stop acting as a user when their token expires (with the verifier's clock leeway).

        Clients refresh tokens ahead of expiry and re-authenticate; one that does not must
        not keep the identity on an open socket forever. At expiry the session sends an
        ``AuthError`` (``authUpdateAttempted: false``: npm then fetches a new token) and
        closes the socket, as Convex does.
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
        async with self._query_set_lock:
            if self.state is not SessionState.CONNECTED or identity_version != self.identity_version:
                return  # re-authenticated meanwhile
            self._expiry = None
            self._end_with_auth_error("the token expired; authenticate again with a fresh one", attempted=False)

    def _follow_sign_in(self, snapshot: Snapshot) -> None:
        """Follow the sign-in of the identity the socket has now (none: stop following)."""
        if self._sign_in is not None:
            self.subs.unsubscribe(self._sign_in, self)
            self._sign_in = None
        check = self.authenticator.sign_in_check(self.identity)
        if check is not None and not self.admin:
            fn, args = check
            self._sign_in = self.subs.subscribe(fn, args, None, None, self, snapshot)
            if self._sign_in.outcome.value is False:  # ended since its token was verified
                self._sign_in_ended()

    def _sign_in_ended(self) -> None:
        """The sign-in behind the socket's identity ended elsewhere (signed out, revoked, the
        account deleted): from now on the socket acts for nobody, and it ends as when the
        token expires."""
        if self.identity is None:
            return
        self._revoked, self.identity = self.identity, None  # at once: the next mutation runs as nobody
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self._spawn(self._end_revoked("this sign-in has ended (signed out, revoked, or the account deleted); "
                                     "sign in again"))

    async def _end_revoked(self, message: str) -> None:
        async with self._query_set_lock:
            if self.state is not SessionState.CONNECTED or self._revoked is None:
                return  # re-authenticated meanwhile
            self._revoked = None
            self._end_with_auth_error(message, attempted=False)

    def _end_with_auth_error(self, message: str, *, attempted: bool) -> None:
        """Send an ``AuthError`` as the socket's last message and close it, as Convex does.

        The clients count on it: npm increments its identity version when it sends an
        ``Authenticate``, and after repeated refusals clears its auth with the next version on
        the same socket, which a session kept open (its version unchanged) would refuse as a
        protocol error, ending that client for good. A new socket starts both sides at
        version 0; npm fetches a fresh token (or none) for it, Python resends its token.
        Nothing more runs on the socket, for that identity or any other."""
        self.identity = None
        self._send(m.AuthError(error=message, baseVersion=self.identity_version, authUpdateAttempted=attempted))
        self.state = SessionState.CLOSED
        self._post(None)
