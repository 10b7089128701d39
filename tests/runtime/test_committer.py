"""Group commit: a batch of mutations behaves exactly like the same mutations run one by one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.runtime._reference import values
from tests.runtime.conftest import SyncBackend

APP = Path(__file__).resolve().parent.parent / "apps" / "chat"


async def _burst(backend, channel: str, plan: list[bool]) -> list:
    """Submit one mutation per plan entry in the same loop turn (one batch): True succeeds,
    False writes and then raises."""
    runner = backend.runner
    ok_fn = runner.registry.get("messages:send")
    bad_fn = runner.registry.get("messages:send_then_fail")
    futures = [runner.committer.submit(ok_fn if ok else bad_fn, {"channel": channel, "body": f"m{i}"}, None)
               for i, ok in enumerate(plan)]
    return list(await asyncio.gather(*futures))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.booleans(), min_size=1, max_size=12))
def test_a_batch_keeps_exactly_the_writes_of_its_successful_mutations(plan):
    sync = SyncBackend(APP)
    try:
        backend = sync.backend
        channel = sync.mutation("messages:create_channel", {"name": "batch"})
        commits_before = backend.runner.committer.commits
        outcomes = sync.run(_burst(backend, channel, plan))
        assert backend.runner.committer.commits == commits_before + 1  # one group commit
        assert [o.ok for o in outcomes] == plan
        assert all("boom after writing" in o.error for o, ok in zip(outcomes, plan) if not ok)
        stored = [m for m in backend.table("messages") if m["channel"] == channel]
        # Exactly the successful ones, once each, in submission order, with the ids they returned.
        assert [m["body"] for m in stored] == [f"m{i}" for i, ok in enumerate(plan) if ok]
        assert [m["_id"] for m in stored] == [o.value for o in outcomes if o.ok]
        assert len({o.ts for o in outcomes}) == 1
    finally:
        sync.close()


@settings(max_examples=300, deadline=None)
@given(values())
def test_a_stored_mutation_reply_round_trips_exactly(value):
    """Replays after a restart answer from the stored record: ints stay ints, bytes bytes."""
    import math as _math

    from prefmem.runner import Outcome
    from prefmem.values import compare

    back = Outcome.from_record(Outcome(value=value, log_lines=["a line"]).record(), 7)
    assert back.ts == 7 and back.log_lines == ["a line"] and back.ok
    assert compare(back.value, value) == 0 and type(back.value) is type(value)
    if isinstance(value, float) and not _math.isnan(value):
        assert _math.copysign(1.0, back.value) == _math.copysign(1.0, value)
