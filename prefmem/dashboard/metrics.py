"""Everything the dashboard needs from the runtime's internals, in this one module.

The rest of ``prefmem/dashboard`` only calls the functions here, so a change to the commit
pipeline (committer, persistence, reactivity, sync sessions) re-points this file and
nothing else. With several worker processes, the counters add up every worker's (fetched
by the sampler, see ``prefmem/siblings.py``). All of it runs when a dashboard asks, or in the
health sampler every few seconds: none of it is on a function's or a commit's path.

In-memory sources (the execution log, function counters, health samples, crons, table
counts) are made reactive the way documents are. A system query showing one records a
read of that source's key in ``SOURCE_INDEX``, an index id no storage index has (storage
numbers its indexes from 1); when the source changes, the key is stabbed into the live
queries exactly as a commit stabs written keys, and the queries that showed it rerun.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# An index id no storage index has (storage numbers its indexes from 1, replies use -2).
SOURCE_INDEX = -1


@dataclass(frozen=True)
class Counters:
    """The server's counters and gauges at one moment (counters only ever grow)."""

    commits: int
    mutations: int
    query_runs: int  # live query executions: first runs and reruns
    live_queries: int
    connections: int
    database_bytes: int
    wal_bytes: int


def counters(server: Any) -> Counters:
    app = server.backend.app
    committer = app.committer
    subscriptions = server.subscriptions
    database_bytes, wal_bytes = app.persistence.sizes()
    return Counters(
        commits=committer.commits,
        mutations=committer.mutations,
        query_runs=subscriptions.executions if subscriptions is not None else 0,
        live_queries=subscriptions.live_queries if subscriptions is not None else 0,
        connections=len(server.sessions),
        database_bytes=database_bytes,
        wal_bytes=wal_bytes,
    )


def total(own: Counters, others: list[dict[str, int]]) -> Counters:
    """``own`` plus the other workers' counters (as ``asdict`` gave them); the database's
    sizes are of the one file they share, counted once."""
    summed = {field: getattr(own, field) + sum(int(other.get(field, 0)) for other in others)
              for field in ("commits", "mutations", "query_runs", "live_queries", "connections")}
    return Counters(**summed, database_bytes=own.database_bytes, wal_bytes=own.wal_bytes)


def commits(server: Any) -> int:
    """Commits so far: how the dashboard notices that table counts may have changed."""
    return server.backend.app.committer.commits


def count_documents(ctx: Any, index_id: int) -> int:
    """The entries of an index at the running query's snapshot: a table's document count
    without reading its documents (``count()`` would read them all, and stop at the read limit)."""
    return ctx.db._tx.snapshot.count(index_id)


def watch(ctx: Any, source: bytes) -> None:
    """Make the running query depend on an in-memory source (see the module docstring)."""
    ctx.db._tx.read_set.add(SOURCE_INDEX, source, source + b"\x00")


def watched(server: Any) -> bool:
    """Whether any live query depends on an in-memory source: a dashboard is open."""
    subscriptions = server.subscriptions
    return subscriptions is not None and subscriptions.reads_index(SOURCE_INDEX)


def changed(server: Any, sources: list[bytes]) -> None:
    """Rerun the live queries that depend on ``sources``, as a commit writing them would."""
    subscriptions = server.subscriptions
    if subscriptions is not None and sources:
        subscriptions.invalidate([(SOURCE_INDEX, source) for source in sources])
