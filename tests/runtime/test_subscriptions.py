"""Sharing live queries across subscribers without ever sharing one user's result with another."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefmem.reactivity import Subscriptions
from prefmem.testing import TEST_ISSUER, TestBackend
from prefmem.auth.identity import Identity

pytestmark = pytest.mark.engines

APP = Path(__file__).resolve().parent.parent / "apps" / "chat"


class FakeSession:
    def __init__(self, subject: str | None) -> None:
        self.identity = None if subject is None else Identity(subject, TEST_ISSUER, {"sub": subject})
        self.live = None
        self.flushes: list[set] = []

    def on_flush(self, ts, changed):
        self.flushes.append(changed)

    def on_moved(self, old, new):
        assert self.live is old
        self.live = new


async def test_a_query_that_starts_reading_the_identity_is_split_per_user():
    async with TestBackend(APP / "functions", APP / "schema.py") as backend:
        channel = await backend.mutation("messages:create_channel", {"name": "lobby"})
        subs = Subscriptions(backend.app)
        fn = backend.app.registry.get("messages:who_sees")
        alice, bob = FakeSession("alice"), FakeSession("bob")
        async with subs.current() as snapshot:
            for session in (alice, bob):
                session.live = subs.subscribe(fn, {"channel": channel}, session.identity, None, session, snapshot)
        assert alice.live is bob.live and alice.live.outcome.value == "everyone"  # shared: identity not read
        assert subs.executions == 1

        await backend.mutation("messages:rename_channel", {"channel": channel, "name": "private room"})
        await subs.settled()
        assert alice.live is not bob.live
        assert alice.live.outcome.value == "alice" and bob.live.outcome.value == "bob"
        assert alice.live in alice.flushes[-1] and bob.live in bob.flushes[-1]

        # A newcomer with its own identity gets its own result, never a shared one.
        carol = FakeSession("carol")
        async with subs.current() as snapshot:
            carol.live = subs.subscribe(fn, {"channel": channel}, carol.identity, None, carol, snapshot)
        assert carol.live.outcome.value == "carol"

        # Public again: the per-user queries stop reading the identity and are shared again.
        await backend.mutation("messages:rename_channel", {"channel": channel, "name": "lobby"})
        await subs.settled()
        assert alice.live is bob.live is carol.live and alice.live.outcome.value == "everyone"
        assert all(alice.live in s.flushes[-1] for s in (alice, bob, carol))  # each is told the new result
        executions = subs.executions
        await backend.mutation("messages:rename_channel", {"channel": channel, "name": "lobby 2"})
        await subs.settled()
        assert subs.executions == executions + 1  # one rerun serves all three again
        subs.close()


async def test_identical_queries_run_once_for_many_subscribers():
    async with TestBackend(APP / "functions", APP / "schema.py") as backend:
        channel = await backend.mutation("messages:create_channel", {"name": "lobby"})
        subs = Subscriptions(backend.app)
        fn = backend.app.registry.get("messages:recent")
        sessions = [FakeSession(f"user{i}") for i in range(50)]
        async with subs.current() as snapshot:
            for session in sessions:
                session.live = subs.subscribe(fn, {"channel": channel}, session.identity, None, session, snapshot)
        assert subs.executions == 1
        await backend.mutation("messages:send", {"channel": channel, "body": "hi"})
        await subs.settled()
        assert subs.executions == 2 and subs.last_flush_reruns == 1
        assert all(len(s.flushes) == 1 and s.live.outcome.value[0]["body"] == "hi" for s in sessions)
        subs.close()


def test_a_rerun_changes_a_live_query_exactly_when_its_clients_would_see_a_difference():
    """The comparison is on the JSON clients receive: equal results push nothing, and ints,
    floats, -0.0 and error data each count as a difference."""
    import msgspec
    from prefmem.reactivity import LiveQuery
    from prefmem.runner import Outcome
    from prefmem.values import Int64

    live = LiveQuery(fn=None, args={}, identity=None, journal=None, base_key=("q", "{}", None))  # type: ignore[arg-type]
    assert live.install(Outcome(value={"n": 1.0, "tags": ["a"]})) and live.version == 1
    assert not live.install(Outcome(value={"n": 1.0, "tags": ["a"]})) and live.version == 1
    assert msgspec.json.decode(live.wire_value()) == {"n": 1.0, "tags": ["a"]}
    assert not live.install(Outcome(value={"n": 1, "tags": ["a"]}))  # a plain int is the number 1.0
    assert live.install(Outcome(value={"n": Int64(1), "tags": ["a"]}))  # an int64 is not the float 1.0
    assert live.install(Outcome(value={"n": -0.0, "tags": ["a"]}))
    assert not live.install(Outcome(value={"n": -0.0, "tags": ["a"]}))
    assert live.install(Outcome(error="boom"))
    assert not live.install(Outcome(error="boom"))
    assert live.install(Outcome(error="boom", error_data=None, has_error_data=True))  # a ConvexError(null) now
    assert live.install(Outcome(error="boom", error_data={"code": 1.0}, has_error_data=True))
    version = live.version
    assert live.install(Outcome(value=object())) and live.install(Outcome(value=object()))  # never equal
    assert live.version == version + 2
    with pytest.raises(Exception):
        live.wire_value()


async def test_live_queries_follow_commits_made_durable_in_a_worker_thread(database):
    """With ``full`` durability a commit finishes in a worker thread, so a snapshot can see it
    before the write log has it: the manager waits for the log, never reporting a result at
    a timestamp it has not advanced to."""
    async with TestBackend(APP / "functions", APP / "schema.py", db=database,
                           durability="full") as backend:
        channel = await backend.mutation("messages:create_channel", {"name": "lobby"})
        subs = Subscriptions(backend.app)
        fn = backend.app.registry.get("messages:recent")
        session = FakeSession("alice")
        seen: list[tuple[int, int]] = []
        session.on_flush = lambda ts, changed: seen.append((ts, len(session.live.outcome.value)))
        async with subs.current() as snapshot:
            session.live = subs.subscribe(fn, {"channel": channel}, session.identity, None, session, snapshot)
        sends = [backend.mutation("messages:send", {"channel": channel, "body": f"m{i}"}) for i in range(20)]
        for send in sends:
            await send
            await subs.settled()
        assert session.live.outcome.value[0]["body"] == "m19" and len(session.live.outcome.value) == 20
        assert all(ts <= subs.processed_ts for ts, _ in seen)
        assert [n for _, n in seen] == sorted(n for _, n in seen)  # never an older result after a newer one
        subs.close()
