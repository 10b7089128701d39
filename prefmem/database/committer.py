"""The committer: the one way a write reaches the database, serializable by construction.

Mutations queue here and run in batches. A batch executes against one snapshot, each
mutation reading its predecessors' writes through the batch's write buffer (so a batch
is exactly a serial run of its mutations, in arrival order: one client's mutations run in
the order it sent them). Then, holding the deployment's commit lock:

1. learn what other processes committed since the snapshot (their write-log records);
2. validate: a mutation whose read set meets a key written after the snapshot read
   stale data (optimistic concurrency control). From the first such mutation on, the
   batch re-executes at a fresh snapshot, which nobody can change while the lock is
   held, so the re-execution cannot conflict again: a conflicting mutation runs at most
   twice and never fails for contention;
3. assign the commit timestamp (above every earlier one, anywhere), persist the writes
   with their write-log record and the mutations' replies, release the lock;
4. append ``(ts, written keys)`` to the write log, which wakes live queries and the
   scheduler, and answer the callers.

Within one process nothing else commits, so step 2 finds nothing to do; across worker
processes (or PostgreSQL nodes) it is what keeps every history serializable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import msgspec

from prefmem.auth.identity import Identity
from prefmem.database import replies
from prefmem.database.ranges import point
from prefmem.database.readset import ReadSet
from prefmem.database.replies import REPLIES_INDEX, ReplayKey, ReplyMismatch
from prefmem.database.write_buffer import WriteBuffer
from prefmem.database.write_log import Keys, catch_up, encode_keys
from prefmem.errors import PrefmemError
from prefmem.functions import FunctionDef
from prefmem.persistence.base import Reads, Snapshot
from prefmem.runner import Outcome

if TYPE_CHECKING:
    from prefmem.application import Application

log = logging.getLogger("prefmem.committer")


class _Request(msgspec.Struct):
    """One queued mutation (a Struct: built in C, one per mutation)."""

    fn: FunctionDef
    args: Any
    identity: Identity | None
    future: asyncio.Future
    replay: ReplayKey | None  # (session, request): keep this one's reply for a replay
    lookup: bool  # a replay may already be answered: look for the stored reply first
    arrived_ts: int  # the write log's head when it arrived: a replay elsewhere commits after it
    # The reply's key in REPLIES_INDEX, made once, where another process may race the request.
    point: bytes | None = None


class CommitConflict(PrefmemError):
    """What a commit read was changed by another commit first: nothing was written."""


def describe_storage_error(err: BaseException) -> str:
    """What went wrong, in words an operator can act on."""
    text = str(err).lower()
    if "full" in text:
        return "the database's disk is full"
    if "readonly" in text or "read-only" in text or "read only" in text:
        return "the database is read-only (file permissions or a read-only disk)"
    if "i/o" in text or "disk" in text:
        return f"the database could not be written (I/O error: {err})"
    return f"{type(err).__name__}: {err}"


class _LazySnapshot:
    """A batch's snapshot, opened by its first read: a batch of blind writes (inserts)
    reads nothing, and then costs no read transaction."""

    def __init__(self, persistence: Any) -> None:
        self._persistence = persistence
        self.opened: Snapshot | None = None

    def _open(self) -> Snapshot:
        if self.opened is None:
            self.opened = self._persistence.snapshot()
        return self.opened

    @property
    def ts(self) -> int:
        return self._open().ts

    def get(self, doc_id: str) -> Any:
        return self._open().get(doc_id)

    def scan(self, *args: Any) -> Any:
        return self._open().scan(*args)

    def search(self, *args: Any) -> Any:
        return self._open().search(*args)

    def mutation_replies(self, session_id: str, request_id: int) -> list[bytes]:
        return self._open().mutation_replies(session_id, request_id)

    def close(self) -> None:
        if self.opened is not None:
            self.opened.close()


class Committer:
    max_batch = 256
    # Contention between processes: after this many optimistic batches in a row ran again
    # under the commit lock (another process wrote what they read), the next batches run
    # under the lock from the start, so none runs twice: two workers on a few hot rows
    # otherwise each executed everything twice (bench workers' contended workload).
    conflicts_before_locking = 2
    # ... for this many batches; then one optimistic batch looks whether contention is over.
    locked_batches = 8

    def __init__(self, app: "Application") -> None:
        self.app = app
        self._queue: list[_Request] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the running committer task's
        self.commits = 0
        self.mutations = 0
        self.conflicts = 0  # batches that read what another process overwrote (validation failed)
        self.reexecuted = 0  # mutations run again after a conflict
        self.locked = 0  # batches run under the commit lock from the start (see locked_batches)
        self._conflict_streak = 0
        self._locked_left = 0

    def submit(self, fn: FunctionDef, args: Any, identity: Identity | None, replay: ReplayKey | None = None, *,
               lookup: bool = False) -> Awaitable[Outcome]:
        """Queue a mutation; its outcome carries the commit timestamp. ``replay`` keeps the
        reply for a later replay of the same request; with ``lookup`` this request may be
        such a replay, answered from the stored reply if there is one."""
        task = self._task
        if task is None or task.done():
            # The loop is looked up only when the committer (re)starts: in CPython 3.11 every
            # get_running_loop() is a getpid() system call, a real share of a small mutation.
            self._loop = asyncio.get_running_loop()
            self._task = self._loop.create_task(self._run(), name="prefmem-committer")
        future: asyncio.Future = self._loop.create_future()  # type: ignore[union-attr]
        if not self._queue:  # the committer waits only on an empty queue
            self._wake.set()
        app = self.app
        point = replay.point if replay is not None and app.persistence.shared else None
        self._queue.append(_Request(fn, args, identity, future, replay, lookup, app.write_log.head_ts, point))
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
                message = f"commit failed: {describe_storage_error(err)}"
                if not isinstance(err, asyncio.CancelledError):
                    log.error("%s (%d mutations not committed)", message, len(items))
                for item in items:
                    if not item.future.done():
                        item.future.set_result(Outcome(error=message))
                if isinstance(err, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
                    raise
            await self._housekeeping()

    async def _housekeeping(self) -> None:
        await self.app.persistence.maintain()

    # -- one batch --------------------------------------------------------------------------

    def _execute(self, items: list[_Request], snapshot: Reads, buffer: WriteBuffer,
                 marks: list[tuple[int, int]], *, answered: Callable[[bytes], bool] | None = None) -> list[Outcome]:
        """Run ``items`` in order on ``snapshot`` + ``buffer``; a failed one leaves no writes.

        A re-execution passes ``answered``: whether a reply point was written by another
        commit since the first snapshot. Such a request was answered by another process
        meanwhile (a replay of it ran there), and that reply answers it; looking up the
        others' replies would find nothing, at the price of a read per request.
        """
        runner = self.app.runner
        view = buffer.view(snapshot)
        outcomes = []
        for item in items:
            mark = buffer.mark()
            marks.append(mark)
            replay = item.replay
            lookup = replay is not None and (item.lookup or (
                answered is not None and item.point is not None and answered(item.point)))
            outcome = self._replayed(replay, view) if lookup else None  # type: ignore[arg-type]
            if outcome is None:
                outcome = runner.execute_mutation(item.fn, item.args, item.identity, view, buffer)
                if outcome.error is not None:
                    buffer.rollback(mark)
                elif replay is not None:
                    buffer.put_reply(replay, outcome.value, outcome.log_lines)
                    if item.point is not None:  # only another process can race this request's reply
                        assert outcome.write_set is not None and outcome.read_set is not None
                        outcome.write_set.keys.append((REPLIES_INDEX, item.point))
                        if item.lookup:
                            # A replay that found no reply read its absence. Other requests need
                            # no read: every reply since they arrived is checked (_replied_since).
                            outcome.read_set.add(REPLIES_INDEX, *point(item.point))
            outcomes.append(outcome)
        return outcomes

    @staticmethod
    def _replayed(key: ReplayKey, view: Any) -> Outcome | None:
        """The stored reply of a replayed request. The lookup is a read of the transaction,
        so a concurrent commit of the same request (another process) conflicts with it."""
        try:
            stored = replies.find(view.mutation_replies(key.session_id, key.request_id), key)
        except ReplyMismatch as err:
            outcome = Outcome(error=str(err))
        else:
            if stored is None:
                return None
            outcome = Outcome(value=stored.value, log_lines=stored.log_lines)
        outcome.read_set = ReadSet()
        outcome.read_set.add(REPLIES_INDEX, *point(key.point))
        return outcome

    async def _commit_batch(self, items: list[_Request]) -> None:
        app = self.app
        persistence = app.persistence
        buffer = WriteBuffer()
        marks: list[tuple[int, int]] = []
        outcomes: list[Outcome] = []
        locked = self._locked_left > 0  # under the lock from the start: nothing to execute yet
        if locked:
            self._locked_left -= 1
            self.locked += 1
        else:
            known_ts = app.write_log.head_ts
            snapshot = _LazySnapshot(persistence)
            try:
                outcomes = self._execute(items, snapshot, buffer, marks)
            finally:
                snapshot.close()
            # Reads happened at the snapshot; a batch that never opened one read nothing from
            # the database, and checking it against everything since the log's head is safe.
            snapshot_ts = snapshot.opened.ts if snapshot.opened is not None else known_ts
        slot = await persistence.begin_commit()
        try:
            if persistence.shared:
                catch_up(app.write_log, slot, slot.head_ts)
            stale = 0 if locked else self._first_stale(outcomes, snapshot_ts)
            replied = self._replied_since(items) if persistence.shared else set()
            if not locked and (replied is None or replied):
                answered_at = next((n for n, item in enumerate(items) if item.replay is not None and not item.lookup
                                    and (replied is None or item.point in replied)), None)
                if answered_at is not None and (stale is None or answered_at < stale):
                    stale = answered_at
            if stale is not None:
                # Re-execute from the first stale mutation on, at the latest state, which
                # stays the latest while this process holds the commit lock.
                if marks:
                    buffer.rollback(marks[stale])
                    del marks[stale:]

                def answered(point: bytes) -> bool:  # by another process since it arrived (if unknown: maybe)
                    return replied is None or point in replied

                with persistence.snapshot() as fresh:
                    outcomes[stale:] = self._execute(items[stale:], fresh, buffer, marks, answered=answered)
                if not locked:
                    self.conflicts += 1
                    self.reexecuted += len(items) - stale
            if not locked:
                self._count_conflict(stale is not None)
            keys: Keys = []
            for outcome in outcomes:
                if outcome.write_set is not None:
                    keys.extend(outcome.write_set.keys)
            ts = await self._persist(slot, buffer, keys)
        except BaseException:
            slot.abort()
            raise
        self.mutations += len(items)
        for item, outcome in zip(items, outcomes):
            outcome.ts = ts
            # Callers keep outcomes (sync sessions answer from them): only the reply stays.
            outcome.read_set = outcome.write_set = None
            if not item.future.done():
                item.future.set_result(outcome)

    def _count_conflict(self, conflicted: bool) -> None:
        """After an optimistic batch: start locking batches once conflicts keep coming. The
        streak is not reset while batches are locked, so a probe that conflicts again
        locks at once."""
        if not conflicted:
            self._conflict_streak = 0
            return
        self._conflict_streak += 1
        if self._conflict_streak >= self.conflicts_before_locking:
            self._locked_left = self.locked_batches

    async def _persist(self, slot: Any, buffer: WriteBuffer, keys: Keys) -> int:
        """Write ``buffer`` at a new timestamp, release the slot, log the commit; the ts."""
        app = self.app
        persistence = app.persistence
        if not buffer:
            slot.finish()
            return slot.head_ts
        ts = max(time.time_ns(), slot.head_ts + 1)
        slot.write(ts, buffer, encode_keys(keys) if persistence.shared else b"")
        if persistence.finish_in_thread:
            await asyncio.to_thread(slot.finish)
        else:
            slot.finish()
        self.commits += 1
        app.write_log.append(ts, keys)
        persistence.notify_peers(ts)
        return ts

    async def commit_buffer(self, buffer: WriteBuffer, read_set: ReadSet, keys: Keys, snapshot_ts: int) -> int:
        """Commit writes prepared outside a function (an import), if what they read still
        holds; ``CommitConflict`` otherwise. Returns the commit timestamp."""
        slot = await self.app.persistence.begin_commit()
        try:
            if self.app.persistence.shared:
                catch_up(self.app.write_log, slot, slot.head_ts)
            if self.app.write_log.changed_since(read_set, snapshot_ts):
                raise CommitConflict("the data changed while the import ran; nothing was written: run it again")
            return await self._persist(slot, buffer, keys)
        except BaseException:
            slot.abort()
            raise

    def _first_stale(self, outcomes: list[Outcome], snapshot_ts: int) -> int | None:
        """The position of the first mutation that read something committed after its snapshot."""
        write_log = self.app.write_log
        if write_log.head_ts <= snapshot_ts:
            return None
        readers = [n for n, outcome in enumerate(outcomes) if outcome.read_set is not None and outcome.read_set.intervals]
        if not readers:  # a batch of blind writes (W5's inserts): nothing to gather the keys for
            return None
        written = write_log.written_since(snapshot_ts)
        for position in readers:
            if written is None or written.hit(outcomes[position].read_set):  # type: ignore[arg-type]
                return position
        return None

    def _replied_since(self, items: list[_Request]) -> set[bytes] | None:
        """The reply points other processes wrote since the batch's first replayable request
        arrived (None: not known). Such a request was replayed elsewhere and answered there,
        possibly before this batch's snapshot: it must take that reply, not run again."""
        arrived = min((item.arrived_ts for item in items if item.replay is not None), default=None)
        write_log = self.app.write_log
        if arrived is None or write_log.head_ts <= arrived:
            return set()
        if not write_log.covers(arrived):
            return None
        return {key for _ts, keys in write_log.entries_after(arrived) for index_id, key in keys
                if index_id == REPLIES_INDEX}

    async def drain(self) -> None:
        """Wait until every queued mutation has committed."""
        while self._queue or (self._task is not None and not self._task.done() and self._wake.is_set()):
            await asyncio.sleep(0.001)
