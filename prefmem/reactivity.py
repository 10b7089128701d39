"""Live queries: subscriptions, invalidation by read sets, shared execution, reruns.

Each distinct live query (path, args, pagination journal, and the identity if the query
read it) is one ``LiveQuery`` executed once and shared by every subscriber. Its read set's
intervals sit in one interval tree per index. A commit stabs each written key into the
tree of its index, which marks exactly the live queries that read that key stale; the
cost follows the keys written and the queries hit, not the number of subscriptions.

Stale queries are rerun in a flush: all at one snapshot, so everything a subscriber is
told in one flush comes from one timestamp. Commits that land while a flush is pending
simply add to it, so a burst of commits coalesces into one round of reruns.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from prefmem.auth.identity import Identity
from prefmem.database import ReadSet, WriteSet
from prefmem.functions import FunctionDef
from prefmem.intervals import IntervalIndex
from prefmem.runner import Outcome, Runner
from prefmem.values import to_json

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
    """Owns every live query of one backend and keeps them current."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._by_key: dict[tuple[str, str, str | None], list[LiveQuery]] = {}
        self._indexes: dict[int, IntervalIndex] = {}
        self._stale: set[LiveQuery] = set()
        self._ts_waiters: set[Subscriber] = set()
        self._flush_task: asyncio.Task | None = None
        self._settled = asyncio.Event()
        self._settled.set()
        self.executions = 0  # query executions by this manager (initial runs + reruns)
        self.last_flush_reruns = 0
        runner.committer.add_listener(self._on_commit)

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
                  subscriber: Subscriber) -> LiveQuery:
        """Share a current live query or run a new one. Call only when ``is_settled``."""
        live = self._find(fn, args, identity, journal)
        if live is None:
            base = (fn.path or "", args_key(args), journal)
            live = LiveQuery(fn, args, identity, journal, base)
            self._execute(live, self.runner.execute_query(fn, args, identity, journal=journal))
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
        self.runner.committer.remove_listener(self._on_commit)
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

    def reload(self, registry: Any) -> None:
        """New code: every live query reruns with the function now registered at its path."""
        for siblings in self._by_key.values():
            for live in siblings:
                try:
                    live.fn = registry.get(live.fn.path or "", kind="query")
                except Exception:  # noqa: BLE001 — a removed function fails in the rerun below
                    pass
                if not live.stale:
                    live.stale = True
                    self._stale.add(live)
        self._schedule_flush()

    # -- commits and flushes ------------------------------------------------------------

    def _on_commit(self, ts: int, writes: WriteSet) -> None:
        """Committer listener, run synchronously right after a commit becomes visible."""
        for index_id, key in writes.keys:
            index = self._indexes.get(index_id)
            if index is None:
                continue
            for live in index.stab(key):
                if not live.stale:
                    live.stale = True
                    self._stale.add(live)
        self._schedule_flush()

    def want_ts(self, subscriber: Subscriber) -> None:
        """Ask for a flush callback even if none of the subscriber's queries change."""
        self._ts_waiters.add(subscriber)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        self._settled.clear()
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.get_running_loop().create_task(self._flush_loop(), name="prefmem-flush")

    @property
    def is_settled(self) -> bool:
        return self._settled.is_set() and self.runner.committer.visible.is_set()

    async def settled(self) -> None:
        """Wait until no live query is stale and no commit is in flight."""
        while not self.is_settled:
            await self._settled.wait()
            await self.runner.committer.visible.wait()

    async def _flush_loop(self) -> None:
        await asyncio.sleep(0)  # let commits queued in this loop turn join the flush
        while self._stale or self._ts_waiters:
            await self.runner.committer.visible.wait()
            self._flush_once()
        self._settled.set()

    def _split(self, live: LiveQuery, snapshot: Any) -> list[tuple[Subscriber, LiveQuery]]:
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
                self._execute(target, self.runner.execute_query(live.fn, live.args, identity, journal=live.journal,
                                                                snapshot=snapshot))
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

    def _flush_once(self) -> None:
        stale, self._stale = self._stale, set()
        waiters, self._ts_waiters = self._ts_waiters, set()
        changed_by_subscriber: dict[Subscriber, set[LiveQuery]] = {}
        stale_live = [live for live in stale if live.subscribers]
        if not stale_live:
            # Only Transitions owed to mutations: the last commit's ts is known without
            # opening a read transaction (as dear as a small mutation, once per batch).
            self.last_flush_reruns = 0
            ts = self.runner.storage.last_ts
            for subscriber in waiters:
                subscriber.on_flush(ts, set())
            return
        with self.runner.storage.snapshot() as snapshot:
            ts = snapshot.ts
            reruns = 0
            for live in stale_live:
                reruns += 1
                # A page keeps the end it had when first computed: reruns reuse its journal.
                journal = live.outcome.journal if live.outcome.journal is not None else live.journal
                outcome = self.runner.execute_query(live.fn, live.args, live.identity, journal=journal,
                                                    snapshot=snapshot)
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
