"""Live queries: subscriptions, invalidation by read sets, shared execution, reruns.

Each distinct live query (path, args, pagination journal, and the identity if the query
read it) is one ``LiveQuery`` executed once and shared by every subscriber. Its read set's
intervals sit in one stabbing structure per index.

The manager follows the write log. ``processed_ts`` says how far: every live query that is
not stale is valid at ``processed_ts`` — no commit after the timestamp of its result and up
to ``processed_ts`` wrote into its reads. Advancing over a log entry stabs each written key
into its index's structure, which marks exactly the live queries that read it stale (unless
their result is already newer than the entry); the cost follows the keys written and the
queries hit, not the number of subscriptions.

Stale queries are rerun in a flush, all at one snapshot, after advancing to that
snapshot's timestamp: so everything a subscriber is told in one flush is valid at one
timestamp. Commits that land while a flush is pending simply add to it, so a burst of
commits coalesces into one round of reruns.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Protocol
from contextlib import asynccontextmanager

import msgspec

from prefmem.auth.identity import Identity
from prefmem.database import ReadSet
from prefmem.database.write_log import catch_up
from prefmem.functions import FunctionDef
from prefmem.intervals import IntervalIndex
from prefmem.persistence.base import Snapshot
from prefmem.runner import Outcome
from prefmem.values import to_json

if TYPE_CHECKING:
    from prefmem.application import Application

_json = msgspec.json.Encoder(order="sorted")
_wire_json = msgspec.json.Encoder()


def identity_key(identity: Identity | None) -> str:
    return "" if identity is None else _json.encode(identity.to_dict()).decode()


def args_key(args: Any) -> str:
    try:
        return _json.encode(args).decode()
    except (TypeError, msgspec.EncodeError):
        return repr(args)


class Subscriber(Protocol):
    identity: Identity | None

    def on_flush(self, ts: int, changed: set["LiveQuery"]) -> None:
        """Called after a flush with the subscriber's live queries whose result changed."""

    def on_moved(self, old: "LiveQuery", new: "LiveQuery") -> None:
        """The subscriber's subscriptions to ``old`` now follow ``new`` (see ``_split``)."""


@dataclass(eq=False)
class LiveQuery:
    fn: FunctionDef
    args: Any
    identity: Identity | None
    journal: str | None
    base_key: tuple[str, str, str | None]
    outcome: Outcome = field(default_factory=Outcome)
    version: int = 0  # bumped whenever the result visibly changes
    stale: bool = False
    subscribers: dict[Subscriber, int] = field(default_factory=dict)  # subscriber -> subscription count
    _indexed: dict[int, list[tuple[bytes, bytes]]] = field(default_factory=dict)  # what is in the index

    _signature: tuple | None = None  # what subscribers see of ``outcome`` (see ``install``)

    def install(self, outcome: Outcome) -> bool:
        """Make ``outcome`` the result; True if a subscriber would see a difference.

        The value is compared as the JSON the clients receive, encoded once here and sent
        as is by ``wire_value``: a rerun that returns the same result costs one encoding and
        pushes nothing, and a changed one is not encoded again per subscriber.
        """
        signature = (outcome.error, _wire_bytes(outcome.value) if outcome.ok else None, outcome.has_error_data,
                     _wire_bytes(outcome.error_data) if outcome.has_error_data else None, outcome.journal)
        changed = self.version == 0 or signature != self._signature
        self.outcome, self._signature = outcome, signature
        if changed:
            self.version += 1
        return changed

    def wire_value(self) -> Any:
        """The result as pre-encoded JSON, however many subscribers read it."""
        wire = self._signature[1] if self._signature is not None else None
        if not isinstance(wire, msgspec.Raw):
            wire = msgspec.Raw(_wire_json.encode(to_json(self.outcome.value)))  # raises as an unencodable value does
        return wire

    @property
    def reads_identity(self) -> bool:
        # Not ``bool(read_set)``: a read set that read only the identity has no intervals.
        return self.outcome.read_set is not None and self.outcome.read_set.reads_identity


def _wire_bytes(value: Any) -> Any:
    try:
        return msgspec.Raw(_wire_json.encode(to_json(value)))
    except Exception:  # noqa: BLE001 — unencodable results never compare equal
        return object()


class Subscriptions:
    """Owns every live query of one process and keeps them current."""

    def __init__(self, app: "Application") -> None:
        self.app = app
        self.processed_ts = app.write_log.head_ts
        self._by_key: dict[tuple[str, str, str | None], list[LiveQuery]] = {}
        self._indexes: dict[int, IntervalIndex] = {}
        self._stale: set[LiveQuery] = set()
        self._ts_waiters: set[Subscriber] = set()
        self._flush_task: asyncio.Task | None = None
        self._settled = asyncio.Event()
        self._settled.set()
        self.executions = 0  # query executions by this manager (initial runs + reruns)
        self.last_flush_reruns = 0
        app.write_log.add_listener(self._on_commit)

    # -- subscribing --------------------------------------------------------------------

    def _find(self, fn: FunctionDef, args: Any, identity: Identity | None, journal: str | None) -> LiveQuery | None:
        base = (fn.path or "", args_key(args), journal)
        ident = identity_key(identity)
        for live in self._by_key.get(base, ()):
            if live.stale:
                continue
            if not live.reads_identity or identity_key(live.identity) == ident:
                return live
        return None

    def subscribe(self, fn: FunctionDef, args: Any, identity: Identity | None, journal: str | None,
                  subscriber: Subscriber, snapshot: Snapshot) -> LiveQuery:
        """Share a current live query or run a new one at ``snapshot``, which must be the
        one ``current`` gave (every live query that is not stale is valid at it)."""
        live = self._find(fn, args, identity, journal)
        if live is None:
            base = (fn.path or "", args_key(args), journal)
            live = LiveQuery(fn, args, identity, journal, base)
            self._execute(live, self.app.runner.execute_query(fn, args, identity, snapshot, journal=journal))
            self._by_key.setdefault(base, []).append(live)
        live.subscribers[subscriber] = live.subscribers.get(subscriber, 0) + 1
        return live

    def unsubscribe(self, live: LiveQuery, subscriber: Subscriber) -> None:
        count = live.subscribers.get(subscriber, 0) - 1
        if count > 0:
            live.subscribers[subscriber] = count
            return
        live.subscribers.pop(subscriber, None)
        if not live.subscribers:
            self._drop(live)

    def close(self) -> None:
        """Stop following commits (the manager is no longer used)."""
        self.app.write_log.remove_listener(self._on_commit)
        if self._flush_task is not None:
            self._flush_task.cancel()

    def forget_subscriber(self, subscriber: Subscriber) -> None:
        self._ts_waiters.discard(subscriber)

    def _drop(self, live: LiveQuery) -> None:
        self._unindex(live)
        self._stale.discard(live)
        siblings = self._by_key.get(live.base_key)
        if siblings is not None:
            if live in siblings:
                siblings.remove(live)
            if not siblings:
                del self._by_key[live.base_key]

    @property
    def live_queries(self) -> int:
        return sum(len(siblings) for siblings in self._by_key.values())

    # -- the interval index -------------------------------------------------------------

    def _index(self, live: LiveQuery, read_set: ReadSet) -> None:
        for index_id, ranges in read_set.intervals.items():
            index = self._indexes.get(index_id)
            if index is None:
                index = self._indexes[index_id] = IntervalIndex()
            for lo, hi in ranges:
                index.add(lo, hi, live)
        live._indexed = read_set.intervals

    def _unindex(self, live: LiveQuery) -> None:
        for index_id, ranges in live._indexed.items():
            index = self._indexes.get(index_id)
            if index is not None:
                for lo, hi in ranges:
                    index.remove(lo, hi, live)
        live._indexed = {}

    def _execute(self, live: LiveQuery, outcome: Outcome) -> bool:
        """Install a fresh outcome; True if the result visibly changed."""
        self.executions += 1
        intervals = outcome.read_set.intervals if outcome.read_set is not None else {}
        if intervals != live._indexed:  # a rerun usually reads the same intervals: keep them
            self._unindex(live)
            if outcome.read_set is not None:
                self._index(live, outcome.read_set)
        live.stale = False
        return live.install(outcome)

    def _mark_stale(self, live: LiveQuery) -> None:
        if not live.stale:
            live.stale = True
            self._stale.add(live)

    def reload(self, registry: Any) -> None:
        """New code: every live query reruns with the function now registered at its path."""
        for siblings in self._by_key.values():
            for live in siblings:
                try:
                    live.fn = registry.get(live.fn.path or "", kind="query")
                except Exception:  # noqa: BLE001 — a removed function fails in the rerun below
                    pass
                self._mark_stale(live)
        self._schedule_flush()

    # -- following the write log --------------------------------------------------------

    def _on_commit(self, ts: int, keys: list[tuple[int, bytes]]) -> None:
        """Write-log listener: a commit is known. Its keys are stabbed by ``advance``."""
        self._schedule_flush()

    def advance(self, upto: int) -> None:
        """Mark stale every live query that a commit in ``(processed_ts, upto]`` wrote into."""
        if upto <= self.processed_ts:
            return
        log = self.app.write_log
        if not log.covers(self.processed_ts):
            # Entries this manager never saw are gone: any query may be stale.
            for siblings in self._by_key.values():
                for live in siblings:
                    self._mark_stale(live)
        else:
            indexes = self._indexes
            for ts, keys in log.entries_after(self.processed_ts, upto):
                for index_id, key in keys:
                    index = indexes.get(index_id)
                    if index is None:
                        continue
                    for live in index.stab(key):
                        if not live.stale and live.outcome.ts < ts:
                            live.stale = True
                            self._stale.add(live)
        self.processed_ts = upto

    def invalidate(self, keys: list[tuple[int, bytes]]) -> None:
        """Rerun the live queries that read any of ``keys`` though no commit wrote them (an
        in-memory source a system query reads, such as the dashboard's log)."""
        for index_id, key in keys:
            index = self._indexes.get(index_id)
            if index is not None:
                for live in index.stab(key):
                    self._mark_stale(live)
        self._schedule_flush()

    def reads_index(self, index_id: int) -> bool:
        """Whether some live query has read ``index_id``."""
        return bool(self._indexes.get(index_id))

    def want_ts(self, subscriber: Subscriber) -> None:
        """Ask for a flush callback even if none of the subscriber's queries change."""
        self._ts_waiters.add(subscriber)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        self._settled.clear()
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.get_running_loop().create_task(self._flush_loop(), name="prefmem-flush")

    async def settled(self) -> None:
        """Wait until the manager has caught up with the write log."""
        await self._settled.wait()

    async def _open_current(self) -> Snapshot:
        """A snapshot whose commits are all in the write log."""
        app = self.app
        while True:
            snapshot = app.persistence.snapshot()
            if snapshot.ts <= app.write_log.head_ts:
                return snapshot
            if app.persistence.shared:
                catch_up(app.write_log, snapshot, snapshot.ts)
                return snapshot
            # A commit is being made durable in a worker thread: it is appended right after.
            snapshot.close()
            await app.write_log.wait_for(snapshot.ts)

    @asynccontextmanager
    async def current(self) -> AsyncIterator[Snapshot]:
        """A snapshot at which every live query that is not stale is valid: subscribe new
        queries at it. Use it without awaiting anything inside."""
        snapshot = await self._open_current()
        try:
            self._flush_at(snapshot)
            yield snapshot
        finally:
            snapshot.close()

    async def _flush_loop(self) -> None:
        await asyncio.sleep(0)  # let commits queued in this loop turn join the flush
        try:
            while True:
                self.advance(self.app.write_log.head_ts)
                if not any(live.subscribers for live in self._stale):
                    self._stale.clear()
                    self._notify_waiters()
                    if self.app.write_log.head_ts <= self.processed_ts:
                        break
                    continue
                snapshot = await self._open_current()
                try:
                    self._flush_at(snapshot)
                finally:
                    snapshot.close()
        finally:
            self._settled.set()

    def _notify_waiters(self) -> None:
        """Only Transitions owed to mutations: no query changed, no snapshot needed."""
        waiters, self._ts_waiters = self._ts_waiters, set()
        if waiters:
            self.last_flush_reruns = 0
        for subscriber in waiters:
            subscriber.on_flush(self.processed_ts, set())

    def _split(self, live: LiveQuery, snapshot: Snapshot) -> list[tuple[Subscriber, LiveQuery]]:
        """A shared query that now reads the identity must not serve one user's result to another.

        It was shared because its last run did not read the identity; this run did, so every
        subscriber with another identity moves to a live query of its own, computed at the
        same snapshot.
        """
        moved = []
        own = identity_key(live.identity)
        for subscriber, count in list(live.subscribers.items()):
            identity = getattr(subscriber, "identity", None)
            if identity_key(identity) == own:
                continue
            target = self._find(live.fn, live.args, identity, live.journal)
            if target is None or target is live:
                target = LiveQuery(live.fn, live.args, identity, live.journal, live.base_key)
                self._execute(target, self.app.runner.execute_query(live.fn, live.args, identity, snapshot,
                                                                    journal=live.journal))
                self._by_key.setdefault(live.base_key, []).append(target)
            del live.subscribers[subscriber]
            target.subscribers[subscriber] = target.subscribers.get(subscriber, 0) + count
            subscriber.on_moved(live, target)
            moved.append((subscriber, target))
        return moved

    def _merge(self, base: tuple[str, str, str | None]) -> list[tuple[Subscriber, LiveQuery, LiveQuery]]:
        """The reverse of ``_split``: queries split per user that no longer read the identity
        have the same result for everyone again, so their subscribers share one live query."""
        current = [live for live in self._by_key.get(base, ()) if not live.stale and not live.reads_identity]
        if len(current) < 2:
            return []
        target = max(current, key=lambda live: len(live.subscribers))
        moved = []
        for live in current:
            if live is target:
                continue
            for subscriber, count in list(live.subscribers.items()):
                target.subscribers[subscriber] = target.subscribers.get(subscriber, 0) + count
                subscriber.on_moved(live, target)
                moved.append((subscriber, live, target))
            live.subscribers.clear()
            self._drop(live)
        return moved

    def _flush_at(self, snapshot: Snapshot) -> None:
        """Advance to ``snapshot`` and rerun there every stale query; tell subscribers."""
        self.advance(snapshot.ts)
        stale, self._stale = self._stale, set()
        stale_live = [live for live in stale if live.subscribers]
        if not stale_live:
            self._notify_waiters()
            return
        waiters, self._ts_waiters = self._ts_waiters, set()
        changed_by_subscriber: dict[Subscriber, set[LiveQuery]] = {}
        ts = snapshot.ts
        reruns = 0
        runner = self.app.runner
        for live in stale_live:
            reruns += 1
            # A page keeps the end it had when first computed: reruns reuse its journal.
            journal = live.outcome.journal if live.outcome.journal is not None else live.journal
            outcome = runner.execute_query(live.fn, live.args, live.identity, snapshot, journal=journal)
            if self._execute(live, outcome):
                for subscriber in live.subscribers:
                    changed_by_subscriber.setdefault(subscriber, set()).add(live)
            if live.reads_identity:
                for subscriber, moved_to in self._split(live, snapshot):
                    changed_by_subscriber.setdefault(subscriber, set()).discard(live)
                    changed_by_subscriber[subscriber].add(moved_to)
        for base in {live.base_key for live in stale_live if not live.reads_identity}:
            for subscriber, old, moved_to in self._merge(base):
                changed_by_subscriber.setdefault(subscriber, set()).discard(old)
                changed_by_subscriber[subscriber].add(moved_to)
        self.last_flush_reruns = reruns
        for subscriber in set(changed_by_subscriber) | waiters:
            subscriber.on_flush(ts, changed_by_subscriber.get(subscriber, set()))
