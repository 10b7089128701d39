"""The load generator's raw clients (bench/sidebyside/pipeline.py, rawws.py) against real servers.

The load generator decides what the workloads report, so it is tested like product code: it must
count exactly the replies the server sent, whatever way TCP splits them, and tell a failed
write from a done one.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.sidebyside import loadgen, pipeline, rawws
from tests.helpers.server import ROOT, RunningServer, free_port


def server_frame(payload: bytes) -> bytes:
    """A frame as a server sends it: unmasked."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


class _Recorder:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.sampled_from([0, 5, 125, 126, 127, 300, 65535, 65536, 70000]), min_size=1, max_size=12),
       replies=st.data(), cuts=st.lists(st.integers(min_value=1, max_value=200_000), max_size=8))
def test_replies_are_counted_exactly_however_tcp_splits_the_frames(sizes, replies, cuts):
    is_reply = [replies.draw(st.booleans()) for _ in sizes]
    payloads = [(b'{"type":"MutationResponse","requestId":1,"success":true' if reply
                 else b'{"type":"Transition"').ljust(size, b" ") for size, reply in zip(sizes, is_reply)]
    stream = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n" + b"".join(map(server_frame, payloads))
    points = sorted({c % len(stream) for c in cuts} | {0, len(stream)})

    async def feed() -> tuple[int, int, list[bytes]]:
        pipe = pipeline._Pipe(lambda n: b"w%d" % n, loadgen._prefmem_reply, 4, 0, [], b"")
        pipe.transport = _Recorder()  # type: ignore[assignment]
        pipe.start, pipe.end = 0.0, float("inf")
        pipe.inflight = sum(is_reply)
        for a, b in zip(points, points[1:]):
            pipe.data_received(stream[a:b])
        return pipe.done, pipe.errors, pipe.transport.written  # type: ignore[attr-defined]

    done, errors, written = asyncio.run(feed())
    assert done == sum(is_reply)
    assert errors == 0
    assert b"".join(written).count(b"w") == sum(is_reply)  # one new write per reply


def test_a_failed_mutation_is_an_error_and_a_transition_is_not_a_reply():
    fail = b'{"type":"MutationResponse","requestId":3,"success":false,"result":"boom"}'
    ok = b'{"type":"MutationResponse","requestId":4,"success":true,"result":null}'
    transition = b'{"type":"Transition","startVersion":{}}'
    assert loadgen._prefmem_reply(fail, 0, len(fail)) is False
    assert loadgen._prefmem_reply(ok, 0, len(ok)) is True
    assert loadgen._prefmem_reply(transition, 0, len(transition)) is None


def _start_echo(*extra: str):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.sidebyside.echo_server", "--port", str(port), *extra],
                            cwd=ROOT)
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/version", timeout=0.5)
            return port, proc
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "the echo server did not start"
            time.sleep(0.05)


@pytest.fixture
def echo_port():
    port, proc = _start_echo()
    yield port
    proc.terminate()
    proc.wait(5)


async def test_the_echo_server_answers_every_pipelined_frame(echo_port):
    system = loadgen.System({"name": "echo", "kind": "echo", "port": echo_port, "pid": 0})
    res = await pipeline.run_window(echo_port, clients=3, depth=4, warm_s=0.05, seconds=0.3, **loadgen.w5_load(system))
    assert res["errors"] == 0
    assert res["ops"] > 100


@pytest.mark.parametrize("durability", ["normal", "full"])
async def test_the_persisting_echo_stores_every_frame_it_answers_in_group_commits(tmp_path, durability):
    """The W5 floor: every frame is a row in SQLite before its reply, committed in batches."""
    db = tmp_path / "floor.sqlite3"
    port, proc = _start_echo("--persist", str(db), "--durability", durability)
    try:
        system = loadgen.System({"name": "echo+sqlite", "kind": "echo", "port": port, "pid": proc.pid})
        res = await loadgen.w5_window(system, clients=4, depth=8, warm_s=0.05, seconds=0.3)
        stats = await system.stats()
    finally:
        proc.terminate()
        proc.wait(5)
    assert res["errors"] == 0 and res["ops"] > 100
    rows = sqlite3.connect(db).execute("SELECT count(*) FROM frames").fetchone()[0]
    assert rows == stats["mutations"] >= res["ops"]  # the warm-up and the drain are stored but not counted
    assert res["mutations_per_commit"] > 1  # pipelined frames share commits


async def test_a_counted_run_sends_exactly_its_writes(tmp_path):
    """bench/instructions.py divides by the number of writes: it must be exact, however they
    are spread over the connections."""
    port, proc = _start_echo("--persist", str(tmp_path / "floor.sqlite3"))
    try:
        system = loadgen.System({"name": "echo+sqlite", "kind": "echo", "port": port, "pid": proc.pid})
        res = await pipeline.run_count(port, clients=3, depth=4, writes=101, **loadgen.w5_load(system))
        stats = await system.stats()
        tiny = await pipeline.run_count(port, clients=8, depth=4, writes=2, **loadgen.w5_load(system))
        after = await system.stats()
    finally:
        proc.terminate()
        proc.wait(5)
    assert res == {"ops": 101, "errors": 0} and stats["mutations"] == 101
    assert tiny == {"ops": 2, "errors": 0} and after["mutations"] == 103  # fewer writes than connections


@pytest.fixture
def bench_server(tmp_path):
    server = RunningServer(ROOT / "bench" / "apps" / "sidebyside", tmp_path / "w5.sqlite3",
                           env={"PREFMEM_STATS": "1"}).start()
    yield server
    server.stop()


async def test_prefmem_commits_every_insert_the_window_counts(bench_server):
    system = loadgen.System({"name": "prefmem", "kind": "prefmem", "port": bench_server.port,
                             "pid": bench_server.proc.pid})
    res = await loadgen.w5_window(system, clients=2, depth=8, warm_s=0.05, seconds=0.3)
    assert res["errors"] == 0
    assert res["ops"] > 50
    stats = await system.stats()
    assert stats["mutations"] >= res["ops"]  # the warm-up and the drain are committed but not counted
    assert res["mutations_per_commit"] >= 1


async def test_writes_the_server_rejects_are_counted_as_errors(bench_server):
    load = loadgen.w5_load(loadgen.System({"name": "prefmem", "kind": "prefmem", "port": bench_server.port, "pid": 0}))
    bad = b'{"type":"Mutation","requestId":%d,"udfPath":"bench:insert","args":[{"seq":"not a number %d"}]}'
    load["encode"] = lambda n: rawws.ws_frame(bad % (n, n))
    res = await pipeline.run_window(bench_server.port, clients=1, depth=4, warm_s=0.0, seconds=0.2, **load)
    assert res["ops"] == 0  # only successful writes count
    assert res["errors"] > 50


async def test_pipelined_http_responses_are_counted_and_4xx_are_errors():
    """PocketBase's W5 path: pipelined HTTP/1.1 requests, one response each (every 5th refused)."""
    served = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                served += 1
                status = b"400 Bad Request" if served % 5 == 0 else b"200 OK"
                body = b'{"id":"%d"}' % served
                reply = b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                writer.write(reply[:7])  # split mid-header: the parser must wait for the rest
                await writer.drain()
                writer.write(reply[7:] + body)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        load = loadgen.w5_load(loadgen.System({"name": "pocketbase", "kind": "pocketbase", "port": port, "pid": 0}))
        res = await pipeline.run_window(port, clients=2, depth=4, warm_s=0.0, seconds=0.3, **load)
    finally:
        server.close()
    assert res["ops"] > 20
    assert res["errors"] > 0
    assert abs(res["errors"] * 4 - res["ops"]) <= 0.1 * res["ops"] + 8  # one in five refused


async def test_a_raw_websocket_subscriber_sees_its_query_change_and_its_writes_acknowledged(bench_server):
    """The clients W1-W4 use (rawws.RawWebSocket under PrefmemConn) against a real server."""
    system = loadgen.System({"name": "prefmem", "kind": "prefmem", "port": bench_server.port,
                             "pid": bench_server.proc.pid})
    seen: list[tuple[str, float, bool]] = []
    sub = system.conn(lambda conn, updates, t: seen.extend((k, v, first) for k, _u, v, first in updates))
    writer = system.writer()
    await sub.open()
    await writer.open()
    try:
        await writer.write("seed_shared")
        await sub.subscribe([("shared", None)])
        await loadgen.wait_until(lambda: len(seen) >= 1, 10)
        assert seen[0] == ("shared", 0.0, True)
        acks = [writer.write("bump", seq=n) for n in (1, 2, 3)]  # pipelined on one socket
        await asyncio.wait_for(asyncio.gather(*acks), 10)
        await loadgen.wait_until(lambda: seen[-1][1] == 3.0, 10)
        assert seen[-1] == ("shared", 3.0, False)
        assert [v for _k, v, _f in seen] == sorted(v for _k, v, _f in seen)  # never backwards
    finally:
        await loadgen.close_all([sub, writer])
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(writer.write("bump", seq=4), 5)  # a closed socket fails the write
