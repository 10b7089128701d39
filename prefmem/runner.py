"""Runs queries, mutations and actions with the right ctx, validation and guards.

Queries and mutations execute synchronously on the event loop thread: their ctx.db
operations are coroutines that never suspend, so the runner drives the handler's
coroutine by hand and a handler that suspends has awaited something outside ctx. That is
the determinism guard, and it also means nothing else runs in the middle of a query or
mutation, so each is trivially isolated. Mutations go through the ``Committer``, the
single serial writer, which runs queued mutations in one SQLite transaction (a savepoint
each) and commits them together.
"""

from __future__ import annotations

import asyncio
import ctypes
import inspect
import logging
import random
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import msgspec

from prefmem import logs
from prefmem.auth.identity import Identity
from prefmem.bounds import Bounds
from prefmem.database import vector
from prefmem.database import Catalog, DatabaseReader, DatabaseWriter, ReadSet, Transaction, WriteSet
from prefmem.errors import ConvexError, LimitExceeded, NonDeterministic, PrefmemError, ValidationError
from prefmem.functions import FunctionDef, Registry
from prefmem.files.context import ActionStorage, MutationStorage, QueryStorage
from prefmem.files.store import FileStore
from prefmem.limits import Limits
from prefmem.scheduler.context import ActionScheduler, MutationScheduler
from prefmem.values import to_json
from prefmem.storage import Durability, Snapshot, Storage, WriteBatch

log = logging.getLogger("prefmem.runner")

_msgpack_encoder = msgspec.msgpack.Encoder()
_msgpack_decoder = msgspec.msgpack.Decoder()


class Clock:
    """Wall-clock milliseconds; the test harness swaps in a controllable one."""

    def now_ms(self) -> float:
        return time.time() * 1000.0


@dataclass
class Outcome:
    """What one execution produced, for every caller (sync session, HTTP API, tests)."""

    value: Any = None
    error: str | None = None
    error_data: Any = None
    has_error_data: bool = False
    log_lines: list[str] = field(default_factory=list)
    read_set: ReadSet | None = None
    write_set: WriteSet | None = None
    ts: int = 0
    journal: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @staticmethod
    def encode_replies(replies: list[tuple[int, "Outcome"]]) -> bytes:
        """Committed replies of one session's requests, as stored for replays (the ts is
        stored beside them): one value per session and batch, not one per mutation."""
        return _msgpack_encoder.encode([(request_id, o.value, o.log_lines) for request_id, o in replies])

    @classmethod
    def from_replies(cls, data: bytes, ts: int, request_id: int) -> "Outcome | None":
        """The stored reply to ``request_id`` among ``encode_replies``' output, if there."""
        for stored_id, value, log_lines in _msgpack_decoder.decode(data):
            if stored_id == request_id:
                return cls(value=value, log_lines=log_lines, ts=ts)
        return None

    def unwrap(self) -> Any:
        """The value, or the error re-raised (``ConvexError`` keeps its data)."""
        if self.error is None:
            return self.value
        if self.has_error_data:
            raise ConvexError(self.error_data)
        raise FunctionFailed(self.error)


class FunctionFailed(Exception):
    """A function call failed; the message is what the client would see."""


# ---------------------------------------------------------------------------- contexts

class Auth:
    def __init__(self, identity: Identity | None, read_set: ReadSet | None = None) -> None:
        self._identity = identity
        self._read_set = read_set

    async def get_user_identity(self) -> Identity | None:
        if self._read_set is not None:
            self._read_set.reads_identity = True
        return self._identity


class QueryCtx:
    """ctx of a query. ``now`` is frozen at the start; ``random`` is seeded per execution,
    so a rerun at the same snapshot draws the same numbers."""

    def __init__(self, tx: Transaction, identity: Identity | None, seed: int) -> None:
        self.db = self._database(tx)
        self.auth = Auth(identity, tx.read_set)
        self.now = tx.now_ms
        self._seed = seed
        self._random: random.Random | None = None

    @staticmethod
    def _database(tx: Transaction) -> DatabaseReader:
        return DatabaseReader(tx)

    @property
    def random(self) -> random.Random:
        if self._random is None:  # made on first use: most functions never draw
            self._random = random.Random(self._seed)
        return self._random


class MutationCtx(QueryCtx):
    """ctx of a mutation. ``scheduler`` and ``storage`` are made on first use: most
    mutations touch neither, and every mutation builds a ctx."""

    def __init__(self, tx: Transaction, identity: Identity | None, seed: int, runner: "Runner") -> None:
        super().__init__(tx, identity, seed)
        self._runner = runner
        self._identity = identity
        self._scheduler: MutationScheduler | None = None
        self._storage: MutationStorage | None = None

    @staticmethod
    def _database(tx: Transaction) -> DatabaseReader:
        return DatabaseWriter(tx)

    @property
    def scheduler(self) -> MutationScheduler:
        if self._scheduler is None:
            self._scheduler = MutationScheduler(self.db, self._runner, self.now)
        return self._scheduler

    @property
    def storage(self) -> MutationStorage:
        if self._storage is None:
            self._storage = MutationStorage(self.db, self._runner, self.now, self._identity)
        return self._storage


class ActionCtx:
    def __init__(self, runner: "Runner", identity: Identity | None) -> None:
        self._runner = runner
        self._identity = identity
        self.auth = Auth(identity)
        self.now = runner.clock.now_ms()

    async def run_query(self, ref: Any, args: dict | None = None) -> Any:
        fn = self._runner.registry.resolve(ref)
        outcome = await self._runner.run(fn, args or {}, self._identity, expect="query")
        return outcome.unwrap()

    async def run_mutation(self, ref: Any, args: dict | None = None) -> Any:
        fn = self._runner.registry.resolve(ref)
        outcome = await self._runner.run(fn, args or {}, self._identity, expect="mutation")
        return outcome.unwrap()

    async def run_action(self, ref: Any, args: dict | None = None) -> Any:
        fn = self._runner.registry.resolve(ref)
        outcome = await self._runner.run(fn, args or {}, self._identity, expect="action")
        return outcome.unwrap()

    async def vector_search(self, table: str, index: str, request: dict) -> list[dict]:
        """Nearest documents by cosine similarity: ``[{"_id", "_score"}]``, best first."""
        await self._runner.committer.visible.wait()
        return vector.search(self._runner, table, index, request)


# ---------------------------------------------------------------------------- guards

def _drive(result: Any, fn: FunctionDef) -> Any:
    """Finish a handler's coroutine without an event loop; suspending is non-determinism."""
    if not inspect.iscoroutine(result):
        if inspect.isawaitable(result):
            raise NonDeterministic(f"{fn.path}: a {fn.kind} returned an awaitable instead of a value")
        return result
    try:
        awaited = result.send(None)
    except StopIteration as stop:
        return stop.value
    result.close()
    what = "a bare yield (e.g. asyncio.sleep)" if awaited is None else type(awaited).__name__
    raise NonDeterministic(
        f"{fn.path}: a {fn.kind} must be deterministic and may only await ctx operations, but it awaited "
        f"{what}; do network I/O, sleeps and other waiting in an action")


_guard_active = threading.local()
_BLOCKED_EVENTS = ("socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto", "subprocess.Popen",
                   "os.system", "os.exec", "os.posix_spawn", "os.fork", "urllib.Request")


def _audit(event: str, args: tuple) -> None:
    if not getattr(_guard_active, "on", False):
        return
    if event in _BLOCKED_EVENTS or (event == "open" and _is_write_or_data_open(args)):
        # The guard stays on and the refusal is remembered: a handler that catches this
        # error must neither get I/O afterwards nor succeed (see ``_execute_sync``).
        message = f"{_guard_active.path}: queries and mutations may not do I/O ({event}); use an action"
        _guard_active.violation = message
        raise NonDeterministic(message)


def _is_write_or_data_open(args: tuple) -> bool:
    path = args[0] if args else ""
    mode = args[1] if len(args) > 1 else "r"
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    # Reading code is how lazy imports (and tracebacks) work; reading anything else is data I/O.
    return not str(path).endswith((".py", ".pyc", ".so", ".pth"))


sys.addaudithook(_audit)


class _Watchdog:
    """Stops a query or mutation that runs past its time limit even in a pure-Python loop.

    ctx operations check the deadline themselves; this thread covers code that never calls
    ctx, by raising an exception inside the event-loop thread.
    """

    def __init__(self) -> None:
        self._start_lock = threading.Lock()
        # (token, thread id, deadline) of the running execution. Written without a lock:
        # a tuple store is atomic, and arm/disarm run on every mutation.
        self._current: tuple[int, int, float] | None = None
        self._token = 0
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float) -> int:
        self._token += 1
        self._current = (self._token, threading.get_ident(), deadline)
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._watch, name="prefmem-watchdog", daemon=True)
                    self._thread.start()
        return self._token

    def disarm(self, token: int) -> None:
        current = self._current
        if current is not None and current[0] == token:
            self._current = None

    def _watch(self) -> None:
        while True:
            time.sleep(0.05)
            current = self._current
            if current is None or time.monotonic() < current[2] + 0.05:
                continue
            # Only the execution that overran: a later one has armed a new tuple.
            if self._current is current:
                self._current = None
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(current[1]),
                                                           ctypes.py_object(_ExecutionTimeout))


class _ExecutionTimeout(BaseException):
    """Raised asynchronously into a function that overran its time limit."""


_watchdog = _Watchdog()


# ---------------------------------------------------------------------------- runner

CommitListener = Callable[[int, WriteSet], None]


class Runner:
    """Executes functions of one application against one storage file."""

    def __init__(self, registry: Registry, storage: Storage, catalog: Catalog, limits: Limits,
                 clock: Clock | None = None, *, dev_mode: bool = True) -> None:
        self.registry = registry
        self.storage = storage
        self.catalog = catalog
        self.limits = limits
        self.clock = clock or Clock()
        self.dev_mode = dev_mode
        self.committer = Committer(self)
        self.execution_log = logs.ExecutionLog()  # what `prefmem logs` follows
        self.site_url = "http://127.0.0.1:3210"  # where clients reach this server; the server sets it
        self.files: FileStore | None = None
        self.bounds = Bounds()  # the backend sets its own
        logs.install()

    # -- entry points -------------------------------------------------------------------

    async def run(self, fn: FunctionDef, args: Any, identity: Identity | None, *, expect: str | None = None,
                  journal: str | None = None) -> Outcome:
        if expect is not None and fn.kind != expect:
            return Outcome(error=f"{fn.path} is a {fn.kind}, not a {expect}")
        if fn.kind == "query":
            await self.committer.visible.wait()
            return self.execute_query(fn, args, identity, journal=journal)
        if fn.kind == "mutation":
            return await self.committer.submit(fn, args, identity)
        if fn.kind == "action":
            return await self.execute_action(fn, args, identity)
        return Outcome(error=f"{fn.path} is an HTTP action; call it over HTTP")

    async def call(self, path: str, args: Any, identity: Identity | None = None, *, kind: str | None = None,
                   allow_internal: bool = False, journal: str | None = None) -> Outcome:
        """Resolve a client-supplied path and run it; unknown paths become error outcomes."""
        try:
            fn = self.registry.get(path, kind=kind, allow_internal=allow_internal)
        except PrefmemError as err:
            return Outcome(error=str(err))
        return await self.run(fn, args, identity, journal=journal)

    # -- shared steps -------------------------------------------------------------------

    def _check_args(self, fn: FunctionDef, args: Any) -> Any:
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ValidationError(f"{fn.path}: arguments must be an object, got {type(args).__name__}")
        limits = self.limits
        if not limits.covers(fn.args):
            limits.check_shape(args)
        if fn.args is not None:
            try:
                args = fn.args.check(args, "")
            except ValidationError as err:
                raise ValidationError(f"{fn.path}: invalid argument: {err}") from None
        # Measured once the arguments are known to be Convex values (encodable).
        size = len(_msgpack_encoder.encode(args))
        if size > limits.arguments_size:
            raise LimitExceeded("arguments_size", f"{fn.path}: arguments are {size} bytes, over {limits.arguments_size}")
        return args

    def _check_result(self, fn: FunctionDef, value: Any) -> Any:
        if value is None and fn.returns is None:
            return None  # most mutations return nothing: no shape, size or validator to check
        limits = self.limits
        try:
            limits.check_shape(value)
        except PrefmemError as err:
            raise ValidationError(f"{fn.path}: the return value is not a Convex value: {err}") from None
        size = len(_msgpack_encoder.encode(value))
        if size > limits.return_value_size:
            raise LimitExceeded("return_value_size", f"{fn.path}: return value is {size} bytes, over "
                                f"{limits.return_value_size}")
        if fn.returns is not None:
            try:
                value = fn.returns.check(value, "")
            except ValidationError as err:
                raise ValidationError(f"{fn.path}: invalid return value: {err}") from None
        return value

    def failure(self, fn: FunctionDef, err: BaseException) -> Outcome:
        if isinstance(err, ConvexError):
            try:
                self.limits.check_shape(err.data)
            except PrefmemError as bad:
                return Outcome(error=f"[{fn.path}] ConvexError data must be a Convex value: {bad}")
            # As Convex does, the message carries the data itself (as JSON) when it is not text.
            message = err.data if isinstance(err.data, str) else msgspec.json.encode(to_json(err.data)).decode()
            return Outcome(error=f"[{fn.path}] Uncaught ConvexError: {message}", error_data=err.data,
                           has_error_data=True)
        if isinstance(err, PrefmemError):
            return Outcome(error=str(err))
        if isinstance(err, _ExecutionTimeout):
            return Outcome(error=str(LimitExceeded("query_mutation_time_ms", f"{fn.path} ran longer than "
                                                   f"{self.limits.query_mutation_time_ms:g} ms")))
        if self.dev_mode:
            detail = "".join(traceback.format_exception_only(type(err), err)).strip()
            return Outcome(error=f"[{fn.path}] Uncaught {detail}")
        return Outcome(error=f"[{fn.path}] Server Error")

    def _seed(self, fn: FunctionDef, ts: int) -> int:
        return hash((fn.path, ts)) & 0xFFFFFFFF

    def _execute_sync(self, fn: FunctionDef, args: Any, tx: Transaction, ctx: Any) -> Outcome:
        """Validate, run the handler to completion, validate its result; never raises."""
        started = time.perf_counter()
        collector, token = logs.start(self.limits.log_lines)
        guard_token = _watchdog.arm(tx.deadline) if tx.deadline is not None else None
        _guard_active.on, _guard_active.path, _guard_active.violation = True, fn.path, None
        try:
            args = self._check_args(fn, args)
            value = _drive(fn.handler(ctx, args), fn)
            if _guard_active.violation is not None:
                raise NonDeterministic(_guard_active.violation)
            value = self._check_result(fn, value)
            outcome = Outcome(value=value)
        except BaseException as err:  # noqa: BLE001 — every failure becomes an outcome
            if isinstance(err, (KeyboardInterrupt, SystemExit)):
                raise
            outcome = self.failure(fn, err)
        finally:
            _guard_active.on = False
            if guard_token is not None:
                _watchdog.disarm(guard_token)
            logs.stop(token)
        outcome.log_lines = collector.finish()
        outcome.read_set = tx.read_set
        outcome.journal = tx.journal_out
        self.execution_log.add(fn.path or "", fn.kind, outcome.error, outcome.log_lines, started)
        return outcome

    def _deadline(self) -> float:
        return time.monotonic() + self.limits.query_mutation_time_ms / 1000.0

    # -- queries ------------------------------------------------------------------------

    def execute_query(self, fn: FunctionDef, args: Any, identity: Identity | None, *,
                      journal: str | None = None, snapshot: Snapshot | None = None) -> Outcome:
        """Run a query synchronously at ``snapshot`` (default: a fresh one at the latest commit)."""
        if snapshot is None:
            with self.storage.snapshot() as fresh:
                return self.execute_query(fn, args, identity, journal=journal, snapshot=fresh)
        tx = Transaction(self.catalog, snapshot, self.limits, now_ms=self.clock.now_ms(), deadline=self._deadline())
        tx.journal_in = journal
        ctx = QueryCtx(tx, identity, self._seed(fn, snapshot.ts))
        ctx.storage = QueryStorage(ctx.db, self)
        outcome = self._execute_sync(fn, args, tx, ctx)
        outcome.ts = snapshot.ts
        return outcome

    # -- mutations ----------------------------------------------------------------------

    def execute_mutation(self, fn: FunctionDef, args: Any, identity: Identity | None, batch: WriteBatch, *,
                         isolated: bool) -> Outcome:
        """Run one mutation inside the committer's batch (in a savepoint if ``isolated``).

        A failed mutation that was not isolated leaves its partial writes in the batch:
        the caller must restart the batch (the committer does).
        """
        batch.begin_mutation(isolated)
        tx = Transaction(self.catalog, batch.snapshot, self.limits, now_ms=self.clock.now_ms(), batch=batch,
                         deadline=self._deadline())
        ctx = MutationCtx(tx, identity, self._seed(fn, batch.ts), self)
        outcome = self._execute_sync(fn, args, tx, ctx)
        batch.end_mutation(keep=outcome.ok)
        if outcome.ok:
            outcome.write_set = tx.write_set
        elif tx.created_tables:
            self.catalog.reload()
        outcome.ts = batch.ts
        return outcome

    # -- actions ------------------------------------------------------------------------

    async def execute_action(self, fn: FunctionDef, args: Any, identity: Identity | None) -> Outcome:
        started = time.perf_counter()
        collector, token = logs.start(self.limits.log_lines)
        try:
            args = self._check_args(fn, args)
            ctx = ActionCtx(self, identity)
            self.prepare_action_ctx(ctx)
            result = fn.handler(ctx, args)
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(result, self.limits.action_time_ms / 1000.0)
            outcome = Outcome(value=self._check_result(fn, result))
        except asyncio.TimeoutError:
            outcome = Outcome(error=str(LimitExceeded("action_time_ms", f"{fn.path} ran longer than "
                                                      f"{self.limits.action_time_ms:g} ms")))
        except Exception as err:  # noqa: BLE001
            outcome = self.failure(fn, err)
        finally:
            logs.stop(token)
        outcome.log_lines = collector.finish()
        self.execution_log.add(fn.path or "", fn.kind, outcome.error, outcome.log_lines, started)
        return outcome

    def prepare_action_ctx(self, ctx: ActionCtx) -> None:
        """Add what other rooms provide to an action's ctx."""
        ctx.scheduler = ActionScheduler(self, ctx.now)
        ctx.storage = ActionStorage(self, ctx._identity)


def _log_failed_copy(copying: asyncio.Future) -> None:
    if not copying.cancelled() and copying.exception() is not None:
        log.warning("WAL checkpoint failed: %s", copying.exception())


@dataclass
class _Pending:
    fn: FunctionDef
    args: Any
    identity: Identity | None
    future: asyncio.Future
    record: tuple[str, int] | None  # (sessionId, requestId): keep the reply for replays


class Committer:
    """The single serial writer: batches queued mutations into group commits.

    Mutations run in arrival order, so one client's mutations run in the order it sent
    them. While a batch's commit is in flight (in a worker thread, for fsync), ``visible``
    is cleared and queries wait: a query never reads a commit before the commit's
    listeners (invalidation) have seen it.
    """

    max_batch = 256
    checkpoint_every = 128  # commits between WAL checkpoints, each run in a worker thread

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.listeners: list[CommitListener] = []
        self.visible = asyncio.Event()
        self.visible.set()
        self._queue: list[_Pending] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the running committer task's
        self.commits = 0
        self.mutations = 0
        self._commits_at_checkpoint = 0
        self._copying: asyncio.Future | None = None  # a copy_wal running in a worker thread

    def add_listener(self, listener: CommitListener) -> None:
        self.listeners.append(listener)

    def remove_listener(self, listener: CommitListener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)

    def submit(self, fn: FunctionDef, args: Any, identity: Identity | None,
               record: tuple[str, int] | None = None) -> Awaitable[Outcome]:
        """Queue a mutation; ``record`` = (sessionId, requestId) stores its reply with its commit."""
        task = self._task
        if task is None or task.done():
            # The loop is looked up only when the committer (re)starts: in CPython 3.11 every
            # get_running_loop() is a getpid() system call, a real share of a small mutation.
            self._loop = asyncio.get_running_loop()
            self._task = self._loop.create_task(self._run(), name="prefmem-committer")
        future: asyncio.Future = self._loop.create_future()
        self._queue.append(_Pending(fn, args, identity, future, record))
        self._wake.set()
        return future

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
            # One turn of the event loop first: frames already on the sockets are read and
            # their mutations join this batch, instead of waiting a whole commit for the next.
            await asyncio.sleep(0)
            items, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch:]
            try:
                await self._commit_batch(items)
            except BaseException as err:  # a storage failure fails the batch, not the server
                for item in items:
                    if not item.future.done():
                        item.future.set_result(Outcome(error=f"commit failed: {err}"))
                if isinstance(err, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
                    raise
            await self._checkpoint()

    async def _checkpoint(self) -> None:
        """Keep the WAL short without stalling anything: every ``checkpoint_every`` commits
        its pages are copied back in a worker thread while batches go on committing; the
        next batch after that waits only for the copy of the few pages appended meanwhile."""
        storage = self.runner.storage
        if self._copying is not None:
            if self._copying.done():
                copying, self._copying = self._copying, None
                # A failed copy is logged by _log_failed_copy and tried again later.
                if not copying.cancelled() and copying.exception() is None:
                    try:
                        await asyncio.to_thread(storage.checkpoint)
                    except Exception as err:  # noqa: BLE001 — best effort: the WAL grows until the next try
                        log.warning("WAL checkpoint failed: %s", err)
        elif self.commits - self._commits_at_checkpoint >= self.checkpoint_every:
            self._commits_at_checkpoint = self.commits
            self._copying = asyncio.ensure_future(asyncio.to_thread(storage.copy_wal))
            self._copying.add_done_callback(_log_failed_copy)

    async def _commit_batch(self, items: list[_Pending]) -> None:
        runner = self.runner
        batch = runner.storage.write_batch()
        try:
            outcomes = self._execute_all(batch, items)
            replies: dict[str, list[tuple[int, Outcome]]] = {}
            for item, outcome in zip(items, outcomes):
                if item.record is not None and outcome.ok:
                    replies.setdefault(item.record[0], []).append((item.record[1], outcome))
            if replies:
                batch.put_mutation_replies([(session_id, max(request_id for request_id, _ in group),
                                             Outcome.encode_replies(group)) for session_id, group in replies.items()])
        except BaseException:
            batch.rollback()
            raise
        writes = WriteSet()
        for outcome in outcomes:
            if outcome.ok and outcome.write_set is not None:
                writes.extend(outcome.write_set)
            # Callers keep outcomes (sync sessions, for replays): only the reply stays.
            outcome.read_set = outcome.write_set = None
        if runner.storage.durability is Durability.FULL:
            self.visible.clear()
            try:
                ts = await asyncio.to_thread(batch.commit)
            finally:
                self.visible.set()
        else:
            ts = batch.commit()
        self.commits += 1
        self.mutations += len(items)
        for listener in self.listeners:
            listener(ts, writes)
        for item, outcome in zip(items, outcomes):
            outcome.ts = ts
            if not item.future.done():
                item.future.set_result(outcome)

    def _execute_all(self, batch: WriteBatch, items: list[_Pending]) -> list[Outcome]:
        """Run a batch's mutations in order, as if each were its own transaction.

        Optimistic: they run without savepoints, since almost all succeed. When one fails,
        the batch starts over and the mutations before it run again, each in a savepoint,
        so the failure takes only its own writes with it; nobody has seen the first
        attempts' results, because nothing is answered before the commit.
        """
        runner = self.runner
        outcomes: list[Outcome] = []
        for position, item in enumerate(items):
            outcome = runner.execute_mutation(item.fn, item.args, item.identity, batch, isolated=False)
            if outcome.ok:
                outcomes.append(outcome)
                continue
            batch.restart()
            runner.catalog.reload()
            if position == 0:
                outcomes = [outcome]  # it failed on exactly the state the batch started from
            else:
                outcomes = [runner.execute_mutation(it.fn, it.args, it.identity, batch, isolated=True)
                            for it in items[: position + 1]]
            outcomes += [runner.execute_mutation(it.fn, it.args, it.identity, batch, isolated=True)
                         for it in items[position + 1:]]
            return outcomes
        return outcomes

    async def drain(self) -> None:
        """Wait until every queued mutation has committed."""
        while self._queue or (self._task is not None and not self._task.done() and self._wake.is_set()):
            await asyncio.sleep(0.001)
