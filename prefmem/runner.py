"""Runs one function with the right ctx, validation and guards, and says what it did.

The runner knows nothing of commits: a query runs at the snapshot it is given and a
mutation at the snapshot and write buffer the committer gives it; the ``Outcome`` holds
the result and, for the committer and the live queries, what the execution read (its
read set) and wrote (its write set).

Queries and mutations execute synchronously on the event loop thread: their ctx.db
operations are coroutines that never suspend, so the runner drives the handler's
coroutine by hand and a handler that suspends has awaited something outside ctx. That is
the determinism guard.
"""

from __future__ import annotations

import asyncio
import ctypes
import inspect
import logging
import random
import secrets
import sys
import threading
import time
import types
from typing import TYPE_CHECKING, Any

import msgspec

from prefmem import logs
from prefmem.auth.identity import Identity
from prefmem.database import vector
from prefmem.database import DatabaseReader, DatabaseWriter, ReadSet, Transaction, WriteSet
from prefmem.database.write_buffer import WriteBuffer
from prefmem.errors import CallFailed, ConvexError, LimitExceeded, NonDeterministic, PrefmemError, ValidationError
from prefmem.functions import FunctionDef
from prefmem.files.context import ActionStorage, MutationStorage, QueryStorage
from prefmem.persistence.base import Reads, Snapshot
from prefmem.scheduler.context import ActionScheduler, MutationScheduler
from prefmem.values import display, js_number, python_numbers, stored_msgpack

if TYPE_CHECKING:
    from prefmem.application import Application

log = logging.getLogger("prefmem.runner")


class Clock:
    """Wall-clock milliseconds; the test harness swaps in a controllable one."""

    def now_ms(self) -> float:
        return time.time() * 1000.0


def new_request_id() -> str:
    """A request id as Convex's: 16 hex digits, in a failure's message and its log line."""
    return secrets.token_hex(8)


class Outcome(msgspec.Struct):
    """What one execution produced, for every caller (sync session, HTTP API, tests).

    ``error`` is what went wrong, as Convex words it (``Uncaught FooError: ...``,
    ``ArgumentValidationError: ...``); ``error_message`` is what a client is told, under
    the failure's request id. ``redacted`` (production mode, an error of the app's own code)
    keeps the details out of the client's message but not out of the log.

    A Struct, not a dataclass: one is built for every execution, and a Struct is built in C.
    """

    value: Any = None
    error: str | None = None
    error_data: Any = None
    has_error_data: bool = False
    log_lines: list[str] = msgspec.field(default_factory=list)
    read_set: ReadSet | None = None
    write_set: WriteSet | None = None
    ts: int = 0  # a query's snapshot; a mutation's commit
    journal: str | None = None
    redacted: bool = False
    _request_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def request_id(self) -> str | None:
        """A failure's request id, made when first asked for (a success has none)."""
        if self._request_id is None and self.error is not None:
            self._request_id = new_request_id()
        return self._request_id

    @property
    def error_message(self) -> str | None:
        if self.error is None:
            return None
        head = f"[Request ID: {self.request_id}] Server Error"
        return head if self.redacted else f"{head}\n{self.error}"

    def unwrap(self) -> Any:
        """The value, or the error a client would see raised (``ConvexError`` keeps its data)."""
        if self.error is None:
            return self.value
        if self.has_error_data:
            raise ConvexError(self.error_data, message=self.error_message)
        raise FunctionFailed(self.error_message)

    def unwrap_nested(self) -> Any:
        """The value, or the error raised in the function that called this one (``ctx.run_*``):
        Convex raises it again with the inner error as its message, so an uncaught one reads
        ``Uncaught ConvexError: Uncaught ConvexError: ...``; the data stays the original."""
        if self.error is None:
            return self.value
        if self.has_error_data:
            raise ConvexError(self.error_data, message=self.error)
        raise FunctionFailed(self.error)


class FunctionFailed(Exception):
    """A function call failed; the message is what the caller is told."""


def uncaught(err: BaseException) -> str:
    """``Uncaught <class>: <message>``, as Convex reports an error a function did not catch.

    The class is the raised one's (``ValueError``, an app's ``ConvexError`` subclass);
    prefmem's own errors are named ``Error``, as Convex's runtime raises plain ``Error``s,
    so no internal class name reaches a client."""
    cls = type(err)
    name = cls.__name__
    if cls.__module__.startswith("prefmem.") and cls is not ConvexError:
        name = "Error"
    message = str(err)
    return f"Uncaught {name}: {message}" if message else f"Uncaught {name}"


# ---------------------------------------------------------------------------- contexts

class Auth:
    """``ctx.auth``. ``refused``: the caller presented credentials that were refused (an HTTP
    action's invalid Bearer token); asking who they are raises why, as in Convex."""

    def __init__(self, identity: Identity | None, read_set: ReadSet | None = None, *,
                 refused: Exception | None = None) -> None:
        self._identity = identity
        self._read_set = read_set
        self._refused = refused

    async def get_user_identity(self) -> Identity | None:
        if self._refused is not None:
            raise self._refused
        if self._read_set is not None:
            self._read_set.reads_identity = True
        return self._identity


class QueryCtx:
    """ctx of a query. ``now`` is frozen at the start; ``random`` is seeded per execution
    (``seed``: a query's reruns at one snapshot draw the same numbers; None: fresh ones).
    ``storage`` is made on first use, as a mutation's is."""

    def __init__(self, tx: Transaction, identity: Identity | None, seed: int | None, app: "Application") -> None:
        self.db = self._database(tx)
        self.auth = Auth(identity, tx.read_set)
        self.now = tx.now_ms
        self._app = app
        self._seed = seed
        self._random: random.Random | None = None
        self._storage: QueryStorage | None = None

    @staticmethod
    def _database(tx: Transaction) -> DatabaseReader:
        return DatabaseReader(tx)

    @property
    def random(self) -> random.Random:
        if self._random is None:  # made on first use: most functions never draw
            self._random = random.Random(self._seed)
        return self._random

    @property
    def storage(self) -> QueryStorage:
        if self._storage is None:
            self._storage = QueryStorage(self.db, self._app)
        return self._storage


class MutationCtx(QueryCtx):
    """ctx of a mutation. ``scheduler`` and ``storage`` are made on first use: most
    mutations touch neither, and every mutation builds a ctx."""

    def __init__(self, tx: Transaction, identity: Identity | None, seed: int | None, app: "Application") -> None:
        super().__init__(tx, identity, seed, app)
        self._identity = identity
        self._scheduler: MutationScheduler | None = None
        self._storage: MutationStorage | None = None

    @staticmethod
    def _database(tx: Transaction) -> DatabaseReader:
        return DatabaseWriter(tx)

    @property
    def scheduler(self) -> MutationScheduler:
        if self._scheduler is None:
            self._scheduler = MutationScheduler(self.db, self._app, self.now)
        return self._scheduler

    @property
    def storage(self) -> MutationStorage:
        if self._storage is None:
            self._storage = MutationStorage(self.db, self._app, self.now, self._identity)
        return self._storage


class ActionCtx:
    def __init__(self, app: "Application", identity: Identity | None) -> None:
        self._app = app
        self._identity = identity
        self.auth = Auth(identity)
        self.now = app.clock.now_ms()
        self.scheduler = ActionScheduler(app, self.now)
        self.storage = ActionStorage(app, identity)

    async def _run(self, ref: Any, args: dict | None, kind: str) -> Any:
        fn = self._app.registry.resolve(ref)
        outcome = await self._app.run(fn, args or {}, self._identity, expect=kind)
        return outcome.unwrap_nested()

    async def run_query(self, ref: Any, args: dict | None = None) -> Any:
        return await self._run(ref, args, "query")

    async def run_mutation(self, ref: Any, args: dict | None = None) -> Any:
        return await self._run(ref, args, "mutation")

    async def run_action(self, ref: Any, args: dict | None = None) -> Any:
        return await self._run(ref, args, "action")

    async def vector_search(self, table: str, index: str, request: dict) -> list[dict]:
        """Nearest documents by cosine similarity: ``[{"_id", "_score"}]``, best first."""
        return vector.search(self._app, table, index, request)


# ---------------------------------------------------------------------------- guards

def _drive(result: Any, fn: FunctionDef) -> Any:
    """Finish a handler's coroutine without an event loop; suspending is non-determinism."""
    if not isinstance(result, types.CoroutineType):  # inspect.iscoroutine's test, without its call
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


_guard_installed = False


def _install_guard() -> None:
    """Audit hooks cannot be removed, so the first runner installs the one hook for good
    (not at import: importing prefmem must not change the process)."""
    global _guard_installed
    if not _guard_installed:
        _guard_installed = True
        sys.addaudithook(_audit)


class _Watchdog:
    """Stops a query or mutation that runs past its time limit even in a pure-Python loop.

    ctx operations check the deadline themselves; this thread covers code that never calls
    ctx, by raising an exception inside the event-loop thread. Such an exception lands at
    that thread's next check, wherever it is by then, so:

    - firing and disarming share ``lock``: once the execution has disarmed nothing fires,
      and what fired before is raised by the time the disarm lets go of the lock;
    - the disarm is written out in ``Runner._execute_sync`` rather than called, because a
      call is itself a place where a pending exception lands, which would skip the disarm;
    - it fires again at every poll until the execution disarms: an exception that lands in
      a weakref callback or a ``__del__`` is only printed, and a handler may catch it.
    """

    def __init__(self, poll_s: float, grace_s: float) -> None:
        self.poll_s = poll_s
        self.grace_s = grace_s  # ctx calls raise their own, clearer error at the deadline
        self.lock = threading.Lock()
        # (thread id, deadline) of the running execution; None when none runs.
        self.armed: tuple[int, float] | None = None
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float) -> None:
        # Without the lock: the watchdog sees None or this tuple (one store), and this one
        # is not overdue yet.
        self.armed = (threading.get_ident(), deadline)
        if self._thread is None:
            with self.lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._watch, name="prefmem-watchdog", daemon=True)
                    self._thread.start()

    def expire_overdue(self, now: float) -> None:
        """Raise the timeout into the armed execution if it is past its deadline."""
        with self.lock:
            armed = self.armed
            if armed is not None and now >= armed[1] + self.grace_s:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(armed[0]),
                                                           ctypes.py_object(_ExecutionTimeout))

    def _watch(self) -> None:
        while True:
            time.sleep(self.poll_s)
            self.expire_overdue(time.monotonic())


class _ExecutionTimeout(BaseException):
    """Raised asynchronously into a function that overran its time limit."""


_watchdog = _Watchdog(poll_s=0.05, grace_s=0.05)


# ---------------------------------------------------------------------------- runner

class Runner:
    """Executes the functions of one application."""

    def __init__(self, app: "Application") -> None:
        self.app = app
        self.limits = app.limits
        _install_guard()
        logs.install()

    # -- shared steps -------------------------------------------------------------------

    def _check_args(self, fn: FunctionDef, args: Any) -> Any:
        """The arguments the handler gets: validated (Convex's words on failure), then with
        integral numbers as ``int`` (``python_numbers``), as a handler reads numbers back."""
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise CallFailed(f"Expected to receive an object as the function's argument. Instead received: "
                             f"{display(args)}")
        limits = self.limits
        if not limits.covers(fn.args):
            limits.check_shape(args)
        if fn.args is not None:
            try:
                args = fn.args.check(args, "")
            except ValidationError as err:
                raise CallFailed(f"ArgumentValidationError: {err}") from None
        if fn.args is None or not fn.args.normalizes_numbers:
            args = python_numbers(args)
        # Measured once the arguments are known to be Convex values (encodable).
        size = len(stored_msgpack(args))
        if size > limits.arguments_size:
            raise LimitExceeded("arguments_size", f"{fn.path}: arguments are {size} bytes, over {limits.arguments_size}")
        return args

    def _check_result(self, fn: FunctionDef, value: Any) -> Any:
        limits = self.limits
        limits.check_shape(value)  # raised in the function, as Convex's JavaScript raises it
        size = len(stored_msgpack(value))
        if size > limits.return_value_size:
            raise LimitExceeded("return_value_size", f"{fn.path}: return value is {size} bytes, over "
                                f"{limits.return_value_size}")
        if fn.returns is not None:
            try:
                value = fn.returns.check(value, "")
            except ValidationError as err:
                raise CallFailed(f"ReturnsValidationError: {err}") from None
        return value

    def failure(self, fn: FunctionDef, err: BaseException) -> Outcome:
        """A raised exception as Convex reports it: ``Uncaught <class>: <message>`` for what
        the handler raised (prefmem's own errors read as ``Error``, like Convex's runtime
        errors), the bare message for a failure around the handler (``CallFailed``)."""
        if isinstance(err, ConvexError):
            try:
                self.limits.check_shape(err.data)
            except PrefmemError as bad:
                return Outcome(error=f"Uncaught Error: ConvexError data must be a Convex value: {bad}")
            return Outcome(error=uncaught(err), error_data=err.data, has_error_data=True)
        if isinstance(err, CallFailed):
            return Outcome(error=str(err))
        if isinstance(err, _ExecutionTimeout):
            return Outcome(error="Uncaught Error: " + str(LimitExceeded(
                "query_mutation_time_ms", f"{fn.path} ran longer than {self.limits.query_mutation_time_ms:g} ms")))
        # In production only prefmem's own errors (a limit, a bad query) keep their details.
        return Outcome(error=uncaught(err), redacted=not self.app.dev_mode and not isinstance(err, PrefmemError))

    @staticmethod
    def _query_seed(fn: FunctionDef, ts: int) -> int:
        # A rerun at the same snapshot draws the same numbers, so it returns the same result.
        return hash((fn.path, ts)) & 0xFFFFFFFF

    def _execute_sync(self, fn: FunctionDef, args: Any, tx: Transaction, ctx: Any) -> Outcome:
        """Validate, run the handler to completion, validate its result; never raises."""
        started = time.perf_counter()
        collector, token = logs.start(self.limits.log_lines)
        _guard_active.on, _guard_active.path, _guard_active.violation = True, fn.path, None
        watchdog, deadline = _watchdog, tx.deadline
        try:
            try:
                if deadline is not None:
                    watchdog.arm(deadline)
                args = self._check_args(fn, args)
                value = _drive(fn.handler(ctx, args), fn)
                if _guard_active.violation is not None:
                    raise NonDeterministic(_guard_active.violation)
                if value is not None or fn.returns is not None:  # most mutations return nothing to check
                    value = self._check_result(fn, value)
                outcome = Outcome(value=value)
            finally:
                if deadline is not None:
                    # No call between taking the lock and clearing (see _Watchdog); a timeout
                    # fired just before is raised on leaving the lock and caught below.
                    with watchdog.lock:
                        watchdog.armed = None
        except BaseException as err:  # noqa: BLE001 — every failure becomes an outcome
            if isinstance(err, (KeyboardInterrupt, SystemExit)):
                raise
            outcome = self.failure(fn, err)
        finally:
            _guard_active.on = False
            logs.stop(token)
        outcome.log_lines = collector.finish()
        outcome.read_set = tx.read_set
        outcome.journal = tx.journal_out
        self.app.execution_log.add(fn.path or "", fn.kind, outcome.error, outcome.log_lines, started,
                                   outcome.error and outcome.request_id)
        return outcome

    def _deadline(self) -> float:
        return time.monotonic() + self.limits.query_mutation_time_ms / 1000.0

    # -- queries ------------------------------------------------------------------------

    def execute_query(self, fn: FunctionDef, args: Any, identity: Identity | None, snapshot: Snapshot, *,
                      journal: str | None = None) -> Outcome:
        """Run a query synchronously at ``snapshot``."""
        tx = Transaction(self.app.catalog, snapshot, self.limits, now_ms=self.app.clock.now_ms(),
                         deadline=self._deadline(), reader=fn.path)
        tx.journal_in = journal
        ctx = QueryCtx(tx, identity, self._query_seed(fn, snapshot.ts), self.app)
        outcome = self._execute_sync(fn, args, tx, ctx)
        outcome.ts = snapshot.ts
        return outcome

    # -- mutations ----------------------------------------------------------------------

    def execute_mutation(self, fn: FunctionDef, args: Any, identity: Identity | None, snapshot: Reads,
                         buffer: WriteBuffer) -> Outcome:
        """Run one mutation at ``snapshot`` (which reads ``buffer`` back), its writes going
        to ``buffer``. A failed mutation's writes stay in the buffer: the caller takes
        them back out (the committer does, with the buffer's undo marks)."""
        tx = Transaction(self.app.catalog, snapshot, self.limits, now_ms=self.app.clock.now_ms(), buffer=buffer,
                         deadline=self._deadline(), reader=fn.path)
        # Mutations never rerun for a cache, so each execution draws its own numbers.
        ctx = MutationCtx(tx, identity, None, self.app)
        outcome = self._execute_sync(fn, args, tx, ctx)
        if outcome.error is None:
            outcome.write_set = tx.write_set
        return outcome

    # -- actions ------------------------------------------------------------------------

    async def execute_action(self, fn: FunctionDef, args: Any, identity: Identity | None) -> Outcome:
        started = time.perf_counter()
        collector, token = logs.start(self.limits.log_lines)
        try:
            args = self._check_args(fn, args)
            result = await self.within_action_time(fn.handler(ActionCtx(self.app, identity), args),
                                                   (fn.path or "").partition(":")[2])
            outcome = Outcome(value=self._check_result(fn, result))
        except Exception as err:  # noqa: BLE001
            outcome = self.failure(fn, err)
        finally:
            logs.stop(token)
        outcome.log_lines = collector.finish()
        self.app.execution_log.add(fn.path or "", fn.kind, outcome.error, outcome.log_lines, started,
                                   outcome.error and outcome.request_id)
        return outcome

    async def within_action_time(self, result: Any, name: str) -> Any:
        """Await an action's (or HTTP action's) result for at most the action time limit;
        past it the action fails with the message Convex's Node runtime gives."""
        if not inspect.isawaitable(result):
            return result
        seconds = self.limits.action_time_ms / 1000.0
        try:
            async with asyncio.timeout(seconds) as limit:
                return await result
        except TimeoutError:
            if not limit.expired():
                raise  # the action's own TimeoutError
            raise CallFailed(f"Action `{name}` execution timed out (maximum duration {js_number(seconds)}s)") from None
