"""PostgreSQL drivers (psycopg 3 sync/async/pool, asyncpg) against pgbench on the same statements.

``python -m bench pg_drivers [--seconds 1] [--repeats 3] [--batch 64] [--clients 16]``

Starts a throwaway cluster of its own (``tests.helpers.postgres``, durable settings: fsync
and synchronous_commit on), seeds the layout of ``prefmem.persistence.sqlite`` (``documents`` and
``index_entries`` with bytea keys, 10,000 documents of 128 bytes, two index entries each),
and measures, on one connection one call after another:

- point get: a document by primary key;
- range scan: 50 ``(key, value)`` pairs of an index from a random bytea key, ordered, LIMIT;
- batch commit: one transaction inserting ``--batch`` documents and their 2 index entries
  each (two ``unnest`` statements), then COMMIT;

for each driver path, with **pgbench** (libpq in C, prepared statements, the same SQL) as
the raw baseline measured in the same run: calls per second, and the client's CPU per call
(steadier than wall time on a shared machine, and what the driver costs a node). Then the three ways to serialize commits across
nodes (``pg_advisory_xact_lock``, a row lock on the write log's head row, SERIALIZABLE with
retries), each a commit of one document + write-log entry + head update after a validation
read, at 1 and ``--clients`` concurrent connections, through psycopg and through pgbench.
Last, LISTEN/NOTIFY wake-up latency per driver (NOTIFY committed on one connection,
received on another), beside the same driver's ``SELECT 1`` round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib.metadata
import itertools
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import psycopg
import psycopg_pool

from bench.machine import describe as describe_machine
from bench.machine import one_line
from bench.report import write_json
from tests.helpers.postgres import Cluster

DOCS = 10_000
SCAN = 50
VALUE = b"v" * 128
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on", "shared_buffers": "128MB"}

SCHEMA = """
CREATE TABLE documents (id text COLLATE "C" PRIMARY KEY, tbl text NOT NULL, creation_time float8 NOT NULL,
                        ts bigint NOT NULL, value bytea NOT NULL);
CREATE TABLE index_entries (index_id integer NOT NULL, key bytea NOT NULL, doc_id text COLLATE "C" NOT NULL,
                            PRIMARY KEY (index_id, key));
CREATE TABLE write_log (ts bigint PRIMARY KEY, writes bytea NOT NULL);
CREATE TABLE log_head (id integer PRIMARY KEY, ts bigint NOT NULL);
INSERT INTO log_head VALUES (1, 0);
CREATE SEQUENCE batch_seq;
INSERT INTO documents SELECT 'd' || g, 'items', g::float8, 0, convert_to(repeat('v', 128), 'UTF8')
    FROM generate_series(1, 10000) g;
INSERT INTO index_entries SELECT 1, '\\x01'::bytea || int4send(g), 'd' || g FROM generate_series(1, 10000) g;
INSERT INTO index_entries SELECT 2, '\\x02'::bytea || int4send(g), 'd' || g FROM generate_series(1, 10000) g;
"""

GET = "SELECT value FROM documents WHERE id = $1"
SCAN_SQL = ("SELECT e.key, d.value FROM index_entries e JOIN documents d ON d.id = e.doc_id "
            f"WHERE e.index_id = 1 AND e.key >= $1 AND e.key < '\\x02'::bytea ORDER BY e.key LIMIT {SCAN}")
INSERT_DOCS = ("INSERT INTO documents (id, tbl, creation_time, ts, value) "
               "SELECT i, 'items', c, 0, v FROM unnest($1::text[], $2::float8[], $3::bytea[]) AS u(i, c, v)")
INSERT_ENTRIES = ("INSERT INTO index_entries (index_id, key, doc_id) "
                  "SELECT x, k, d FROM unnest($1::int[], $2::bytea[], $3::text[]) AS u(x, k, d)")

# pgbench scripts doing the same work with libpq; rows are generated server-side.
PGBENCH = {
    "point get": f"\\set i random(1, {DOCS})\nSELECT value FROM documents WHERE id = 'd' || :i;\n",
    "range scan": f"\\set i random(1, {DOCS - SCAN})\n" + SCAN_SQL.replace("$1", "'\\x01'::bytea || int4send(:i)")
                  + ";\n",
    "batch commit": """SELECT nextval('batch_seq') AS b \\gset
BEGIN;
INSERT INTO documents (id, tbl, creation_time, ts, value)
    SELECT 'r' || :b || '_' || g, 'items', g::float8, 0, convert_to(repeat('v', 128), 'UTF8')
    FROM generate_series(1, :batch) g;
INSERT INTO index_entries (index_id, key, doc_id)
    SELECT x, set_byte('\\x00'::bytea, 0, x) || int8send(:b) || int4send(g), 'r' || :b || '_' || g
    FROM generate_series(1, :batch) g, (VALUES (3), (4)) AS v(x);
COMMIT;
""",
}

LOCKS = {
    "advisory lock": ("BEGIN", "SELECT pg_advisory_xact_lock(7)", "SELECT ts FROM log_head WHERE id = 1"),
    "head row lock": ("BEGIN", None, "SELECT ts FROM log_head WHERE id = 1 FOR UPDATE"),
    "serializable": ("BEGIN ISOLATION LEVEL SERIALIZABLE", None, "SELECT ts FROM log_head WHERE id = 1"),
}
VALIDATE = "SELECT count(*) FROM write_log WHERE ts > $1"
COMMIT_DOC = "INSERT INTO documents (id, tbl, creation_time, ts, value) VALUES ($1, 'items', 0, $2, $3)"
APPEND_LOG = "INSERT INTO write_log (ts, writes) VALUES ($1, $2)"
ADVANCE = "UPDATE log_head SET ts = $1 WHERE id = 1"


@functools.cache
def _psycopg_sql(statement: str) -> str:
    """``$n`` placeholders as psycopg's ``%s`` (the statements name their parameters in order)."""
    numbers = [int(n) for n in re.findall(r"\$(\d+)", statement)]
    assert numbers == list(range(1, len(numbers) + 1)), statement
    return re.sub(r"\$\d+", "%s", statement)


def _commit_script(lock: str) -> str:
    begin, take, head = LOCKS[lock]
    lines = [begin + ";"]
    if take:
        lines.append(take + ";")
    lines += [head + " \\gset h_", VALIDATE.replace("$1", ":h_ts - 8") + ";",
              COMMIT_DOC.replace("$1", "'c' || nextval('batch_seq')").replace("$2", ":h_ts + 1")
              .replace("$3", "convert_to(repeat('v', 128), 'UTF8')") + ";",
              APPEND_LOG.replace("$1", ":h_ts + 1").replace("$2", "'\\x00'::bytea") + ";",
              ADVANCE.replace("$1", ":h_ts + 1") + ";", "COMMIT;"]
    return "\n".join(lines) + "\n"


class Bench:
    def __init__(self, cluster: Cluster, database: str, seconds: float, batch: int) -> None:
        self.cluster, self.database, self.seconds, self.batch = cluster, database, seconds, batch
        self.url = cluster.url(database)
        self.ids = itertools.count(1)

    # -- the raw baseline ------------------------------------------------------------------

    def pgbench(self, script: str, clients: int = 1, retries: bool = False) -> dict:
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
            f.write(script)
        argv = [str(self.cluster.programs / "pgbench"), "-n", "-M", "prepared", "-c", str(clients),
                "-j", str(min(clients, os.cpu_count() or 1)), "-T", str(max(1, round(self.seconds))),
                "-D", f"batch={self.batch}", "-f", f.name, "-h", "127.0.0.1", "-p", str(self.cluster.port),
                "-U", "prefmem", *(["--max-tries=1000"] if retries else []), self.database]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120).stdout
        finally:
            os.unlink(f.name)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out).group(1))
        retried = re.search(r"number of transactions retried: (\d+)", out)
        done = max(1, int(re.search(r"number of transactions actually processed: (\d+)", out).group(1)))
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return {"per_s": tps, "cpu_us": cpu / done * 1e6,
                "retries_per_commit": int(retried.group(1)) / done if retried else 0.0}

    # -- one call after another --------------------------------------------------------------

    def timed_sync(self, op: Callable[[], Any]) -> dict:
        """Calls per second, and this process's CPU per call (what a driver costs the node,
        and far steadier than wall time on a machine shared with other work)."""
        op()
        n, start, cpu = 0, time.perf_counter(), time.process_time()
        deadline = start + self.seconds
        while time.perf_counter() < deadline:
            op()
            n += 1
        return {"per_s": n / (time.perf_counter() - start), "cpu_us": (time.process_time() - cpu) / n * 1e6}

    async def timed_async(self, op: Callable[[], Awaitable[Any]]) -> dict:
        await op()
        n, start, cpu = 0, time.perf_counter(), time.process_time()
        deadline = start + self.seconds
        while time.perf_counter() < deadline:
            await op()
            n += 1
        return {"per_s": n / (time.perf_counter() - start), "cpu_us": (time.process_time() - cpu) / n * 1e6}

    def _rows(self) -> tuple[list[str], list[float], list[int], list[bytes], list[str]]:
        ids = [f"p{next(self.ids)}" for _ in range(self.batch)]
        stamps = [float(i) for i in range(self.batch)]
        entry_index = [3] * self.batch + [4] * self.batch
        keys = [bytes([x]) + d.encode() for x in (3, 4) for d in ids]
        return ids, stamps, entry_index, keys, ids + ids

    def _random_id(self) -> str:
        return f"d{int.from_bytes(os.urandom(4), 'big') % DOCS + 1}"

    def _random_key(self) -> bytes:
        return b"\x01" + (int.from_bytes(os.urandom(4), "big") % (DOCS - SCAN) + 1).to_bytes(4, "big")

    def sync_ops(self, fetch: Callable[..., Any], batch: Callable[..., Any]) -> dict[str, dict]:
        """The three operations through ``fetch(statement, *args)`` and ``batch(*rows)``."""
        return {"point get": self.timed_sync(lambda: fetch(GET, self._random_id())),
                "range scan": self.timed_sync(lambda: fetch(SCAN_SQL, self._random_key())),
                "batch commit": self.timed_sync(lambda: batch(*self._rows()))}

    async def async_ops(self, fetch: Callable[..., Awaitable[Any]], batch: Callable[..., Awaitable[Any]]) -> dict:
        return {"point get": await self.timed_async(lambda: fetch(GET, self._random_id())),
                "range scan": await self.timed_async(lambda: fetch(SCAN_SQL, self._random_key())),
                "batch commit": await self.timed_async(lambda: batch(*self._rows()))}

    def psycopg_sync(self, pooled: bool) -> dict[str, dict]:
        options = {"autocommit": True, "prepare_threshold": 0}
        pool = psycopg_pool.ConnectionPool(self.url, min_size=2, max_size=2, kwargs=options) if pooled else None
        single = None if pooled else psycopg.connect(self.url, **options)

        def fetch(statement: str, *args: Any) -> list:
            with (pool.connection() if pool else contextlib.nullcontext(single)) as conn:
                return conn.execute(_psycopg_sql(statement), args).fetchall()

        def batch(ids: list, stamps: list, xs: list, keys: list, owners: list) -> None:
            with (pool.connection() if pool else contextlib.nullcontext(single)) as conn, conn.transaction():
                conn.execute(_psycopg_sql(INSERT_DOCS), (ids, stamps, [VALUE] * len(ids)))
                conn.execute(_psycopg_sql(INSERT_ENTRIES), (xs, keys, owners))
        try:
            return self.sync_ops(fetch, batch)
        finally:
            (pool or single).close()

    async def psycopg_async(self, pooled: bool) -> dict[str, dict]:
        options = {"autocommit": True, "prepare_threshold": 0}
        pool, single = None, None
        if pooled:
            pool = psycopg_pool.AsyncConnectionPool(self.url, min_size=2, max_size=2, open=False, kwargs=options)
            await pool.open(wait=True)
        else:
            single = await psycopg.AsyncConnection.connect(self.url, **options)

        async def fetch(statement: str, *args: Any) -> list:
            async with (pool.connection() if pool else contextlib.nullcontext(single)) as conn:
                return await (await conn.execute(_psycopg_sql(statement), args)).fetchall()

        async def batch(ids: list, stamps: list, xs: list, keys: list, owners: list) -> None:
            async with (pool.connection() if pool else contextlib.nullcontext(single)) as conn, conn.transaction():
                await conn.execute(_psycopg_sql(INSERT_DOCS), (ids, stamps, [VALUE] * len(ids)))
                await conn.execute(_psycopg_sql(INSERT_ENTRIES), (xs, keys, owners))
        try:
            return await self.async_ops(fetch, batch)
        finally:
            await (pool or single).close()

    async def asyncpg_path(self, pooled: bool) -> dict[str, dict]:
        import asyncpg  # bench/requirements.txt: imported here so `python -m bench --list` needs no bench deps
        pool = await asyncpg.create_pool(self.url, min_size=2, max_size=2) if pooled else None
        single = None if pooled else await asyncpg.connect(self.url)

        async def fetch(statement: str, *args: Any) -> list:
            async with (pool.acquire() if pool else contextlib.nullcontext(single)) as conn:
                return await conn.fetch(statement, *args)

        async def batch(ids: list, stamps: list, xs: list, keys: list, owners: list) -> None:
            async with (pool.acquire() if pool else contextlib.nullcontext(single)) as conn, conn.transaction():
                await conn.execute(INSERT_DOCS, ids, stamps, [VALUE] * len(ids))
                await conn.execute(INSERT_ENTRIES, xs, keys, owners)
        try:
            return await self.async_ops(fetch, batch)
        finally:
            await (pool or single).close()

    # -- serializing commits across nodes ---------------------------------------------------

    async def commits(self, lock: str, clients: int) -> dict:
        """Commits/s of ``clients`` psycopg async connections, and SERIALIZABLE's retries per commit."""
        begin, take, head = LOCKS[lock]
        done, retries = 0, 0
        deadline = time.perf_counter() + self.seconds

        async def client() -> None:
            nonlocal done, retries
            conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, prepare_threshold=0)
            try:
                while time.perf_counter() < deadline:
                    try:
                        await conn.execute(begin)
                        if take:
                            await conn.execute(take)
                        ts = (await (await conn.execute(head)).fetchone())[0]
                        await conn.execute(_psycopg_sql(VALIDATE), (ts - 8,))
                        await conn.execute(_psycopg_sql(COMMIT_DOC), (f"q{next(self.ids)}", ts + 1, VALUE))
                        await conn.execute(_psycopg_sql(APPEND_LOG), (ts + 1, b"\x00"))
                        await conn.execute(_psycopg_sql(ADVANCE), (ts + 1,))
                        await conn.execute("COMMIT")
                        done += 1
                    except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected):
                        await conn.execute("ROLLBACK")
                        retries += 1
            finally:
                await conn.close()
        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return {"per_s": done / (time.perf_counter() - start), "retries_per_commit": retries / max(1, done)}

    # -- LISTEN/NOTIFY ------------------------------------------------------------------------

    @staticmethod
    async def _wakeups(samples: int, notify_and_wait: Callable[[str], Awaitable[str]],
                       round_trip: Callable[[], Awaitable[Any]]) -> dict:
        wakeups, trips = [], []
        for i in range(samples):
            start = time.perf_counter()
            assert await notify_and_wait(str(i)) == str(i)
            wakeups.append(time.perf_counter() - start)
            start = time.perf_counter()
            await round_trip()
            trips.append(time.perf_counter() - start)
        return _latency(wakeups, trips)

    async def notify_psycopg_async(self, samples: int) -> dict:
        listener = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        sender = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        await listener.execute("LISTEN bench")
        notifies = listener.notifies()

        async def notify_and_wait(payload: str) -> str:
            await sender.execute("SELECT pg_notify('bench', %s)", (payload,))
            return (await anext(notifies)).payload
        try:
            return await self._wakeups(samples, notify_and_wait, lambda: sender.execute("SELECT 1"))
        finally:
            await listener.close()
            await sender.close()

    def notify_psycopg_sync(self, samples: int) -> dict:
        """The listener blocks in a thread on ``notifies()``, as a sync node's tailer would."""
        got: list[float] = []
        ready = threading.Event()
        listener = psycopg.connect(self.url, autocommit=True)
        listener.execute("LISTEN bench")

        def listen() -> None:
            ready.set()
            for note in listener.notifies():
                got.append(time.perf_counter())
                if note.payload == "stop":
                    break
        thread = threading.Thread(target=listen)
        thread.start()
        ready.wait()
        wakeups, trips = [], []
        with psycopg.connect(self.url, autocommit=True) as sender:
            for i in range(samples):
                start = time.perf_counter()
                sender.execute("SELECT pg_notify('bench', %s)", (str(i),))
                while len(got) <= i:
                    time.sleep(0)
                wakeups.append(got[i] - start)
                start = time.perf_counter()
                sender.execute("SELECT 1")
                trips.append(time.perf_counter() - start)
            sender.execute("SELECT pg_notify('bench', 'stop')")
        thread.join()
        listener.close()
        return _latency(wakeups, trips)

    async def notify_asyncpg(self, samples: int) -> dict:
        import asyncpg
        listener = await asyncpg.connect(self.url)
        sender = await asyncpg.connect(self.url)
        arrived: asyncio.Queue[str] = asyncio.Queue()
        await listener.add_listener("bench", lambda _conn, _pid, _channel, payload: arrived.put_nowait(payload))

        async def notify_and_wait(payload: str) -> str:
            await sender.execute("SELECT pg_notify('bench', $1)", payload)
            return await arrived.get()
        try:
            return await self._wakeups(samples, notify_and_wait, lambda: sender.fetchval("SELECT 1"))
        finally:
            await listener.close()
            await sender.close()


def _latency(wakeups: list[float], trips: list[float]) -> dict:
    wakeups.sort()
    return {"median_us": statistics.median(wakeups) * 1e6, "p99_us": wakeups[int(0.99 * (len(wakeups) - 1))] * 1e6,
            "round_trip_us": statistics.median(trips) * 1e6}


DRIVERS = ["psycopg sync", "psycopg sync pool", "psycopg async", "psycopg async pool", "asyncpg", "asyncpg pool"]


def measure(seconds: float, repeats: int, batch: int, clients: int, samples: int) -> dict:
    runs: dict[str, dict[str, list[dict]]] = {}
    locks: dict[str, dict[str, list[dict]]] = {}
    with Cluster(settings=DURABLE) as cluster:
        database = cluster.create_database("bench")
        with cluster.connect(database) as conn:
            conn.execute(SCHEMA)
            conn.execute("VACUUM ANALYZE")
        bench = Bench(cluster, database, seconds, batch)
        for _ in range(repeats):  # interleaved, so a slow spell of the machine hits every row alike
            for op, script in PGBENCH.items():
                runs.setdefault("pgbench (libpq, C)", {}).setdefault(op, []).append(bench.pgbench(script))
            for name in DRIVERS:
                if name.startswith("psycopg sync"):
                    figures = bench.psycopg_sync(pooled=name.endswith("pool"))
                elif name.startswith("psycopg"):
                    figures = asyncio.run(bench.psycopg_async(pooled=name.endswith("pool")))
                else:
                    figures = asyncio.run(bench.asyncpg_path(pooled=name.endswith("pool")))
                for op, figure in figures.items():
                    runs.setdefault(name, {}).setdefault(op, []).append(figure)
            for lock in LOCKS:
                for n in (1, clients):
                    row = locks.setdefault(lock, {})
                    row.setdefault(f"pgbench {n}", []).append(bench.pgbench(_commit_script(lock), n, retries=True))
                    row.setdefault(f"psycopg {n}", []).append(asyncio.run(bench.commits(lock, n)))
        notify = {"psycopg async": asyncio.run(bench.notify_psycopg_async(samples)),
                  "psycopg sync (thread)": bench.notify_psycopg_sync(samples),
                  "asyncpg": asyncio.run(bench.notify_asyncpg(samples))}
        with cluster.connect(database) as conn:
            server = conn.execute("SHOW server_version").fetchone()[0]
        machine = describe_machine(cluster.root)
    return {
        "machine": machine, "postgres": server, "seconds": seconds, "repeats": repeats, "batch": batch,
        "clients": clients, "drivers": {"psycopg": psycopg.__version__, "psycopg_impl": psycopg.pq.__impl__,
                                        "psycopg_pool": psycopg_pool.__version__,
                                        "asyncpg": importlib.metadata.version("asyncpg")},
        "ops": {name: {op: {k: statistics.median(r[k] for r in v) for k in ("per_s", "cpu_us")}
                       for op, v in ops.items()} for name, ops in runs.items()},
        "ops_runs": runs,
        "commits": {lock: {k: {"per_s": statistics.median(r["per_s"] for r in v),
                               "retries_per_commit": statistics.median(r["retries_per_commit"] for r in v)}
                           for k, v in row.items()} for lock, row in locks.items()},
        "notify": notify,
    }


def print_table(data: dict) -> None:
    print(one_line(data["machine"]))
    d = data["drivers"]
    print(f"PostgreSQL {data['postgres']} (fsync on); psycopg {d['psycopg']} ({d['psycopg_impl']}), "
          f"psycopg-pool {d['psycopg_pool']}, asyncpg {d['asyncpg']}; median of {data['repeats']} × "
          f"{data['seconds']} s, one connection, one call after another")
    base = data["ops"]["pgbench (libpq, C)"]
    ops = list(base)
    print(f"{'':<22}" + "".join(f"{op:^33}" for op in ops))
    print(f"{'driver':<22}" + f"{'calls/s':>10} {'vs raw':>7} {'client CPU':>14}" * len(ops))
    for name, row in data["ops"].items():
        print(f"{name:<22}" + "".join(f"{row[op]['per_s']:>10,.0f} {row[op]['per_s'] / base[op]['per_s']:>6.2f}×"
                                      f"{row[op]['cpu_us']:>10,.0f} µs " for op in ops))
    print(f"(batch commit = {data['batch']} documents + {2 * data['batch']} index entries in one transaction)")
    print()
    print(f"commit serialization: commits/s (retries per commit), one document + write-log entry + head per commit")
    cols = list(next(iter(data["commits"].values())))
    print(f"{'mechanism':<16}" + "".join(f"{c:>22}" for c in cols))
    for lock, row in data["commits"].items():
        print(f"{lock:<16}" + "".join(f"{row[c]['per_s']:>14,.0f} ({row[c]['retries_per_commit']:.2f})" for c in cols))
    print()
    print(f"{'LISTEN/NOTIFY':<22}{'wake-up median':>16}{'p99':>10}{'SELECT 1':>12}")
    for name, n in data["notify"].items():
        print(f"{name:<22}{n['median_us']:>14.0f}µs{n['p99_us']:>8.0f}µs{n['round_trip_us']:>10.0f}µs")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench pg_drivers", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of each timed window")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64, help="documents per batch commit")
    parser.add_argument("--clients", type=int, default=16, help="concurrent committers in the contended rows")
    parser.add_argument("--samples", type=int, default=300, help="LISTEN/NOTIFY wake-ups per driver")
    args = parser.parse_args(argv)
    data = measure(args.seconds, args.repeats, args.batch, args.clients, args.samples)
    print_table(data)
    print(f"written to {write_json('pg_drivers', data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
