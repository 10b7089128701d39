"""Abuse: what one hostile client costs everyone else, beside an idle baseline from the same run.

Four figures, each measured on a fresh ``prefmem dev`` process (``bench/apps/abuse``) with its
default bounds (``prefmem/bounds.py``), once with the hostile client and once without:

- stall: the longest mutation round trip a well-behaved client sees (one probe every 10 ms on
  its own socket) while another socket sends the worst single message the server accepts: a
  ``ModifyQuerySet`` of ``queries_per_socket`` heavy queries. Baseline: the same probes alone.
- RSS growth under a non-reading client: a socket subscribed to a 0.5 MB result stops reading
  (a 16 KiB receive buffer, reads paused) while 200 commits change that result. Baseline: the
  same socket reading.
- RSS during a 200 MB body: the server's peak RSS growth while a client POSTs 200 MB to
  ``/api/query``, announced by Content-Length and chunked. Baseline: the server idle as long.
- WAL size under constant pinning: the WAL file while mutations run at full speed for a while
  and ``/api/query_ts`` pins a snapshot every second. Baseline: the same writes, no pinning.

Targets (issue 17): stall under 100 ms, RSS growth under 50 MB, WAL under 64 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import httpx

from bench import machine
from bench.reactivity import free_port, stop, wait_http
from bench.report import write_json
from bench.sidebyside.loadgen import memory_mb
from bench.sidebyside.rawws import RawWebSocket, open_on, ws_handshake

ROOT = Path(__file__).resolve().parent.parent
APP = Path(__file__).resolve().parent / "apps" / "abuse"
MiB = 1024 * 1024
TARGETS = {"stall_ms": 100.0, "rss_growth_mb": 50.0, "wal_mb": 64.0}


class Server:
    """``prefmem dev`` on the abuse app and a fresh database, in its own process."""

    def __init__(self, workdir: Path) -> None:
        self.db = workdir / f"abuse-{uuid.uuid4().hex[:8]}.sqlite3"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prefmem", "dev", "--functions", str(APP / "functions"), "--schema",
             str(APP / "schema.py"), "--db", str(self.db), "--port", str(self.port), "--no-watch"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        wait_http(f"{self.url}/version", self.proc)

    def rss_mb(self) -> float:
        return memory_mb(self.proc.pid)["rss_mb"]

    def wal_mb(self) -> float:
        try:
            return os.path.getsize(f"{self.db}-wal") / MiB
        except OSError:
            return 0.0

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: object) -> None:
        stop(self.proc)


class PeakRss:
    """Samples a process's RSS every few milliseconds from a thread; ``growth_mb`` at the end."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.start_mb = server.rss_mb()
        self.peak_mb = self.start_mb
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak_mb = max(self.peak_mb, self.server.rss_mb())

    def growth_mb(self) -> float:
        self._done.set()
        self._thread.join()
        return max(0.0, self.peak_mb - self.start_mb)


class Client:
    """A sync-protocol client on a raw socket: JSON messages in, waits on what arrives."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.closed = False
        self._arrived = asyncio.Event()
        self.ws: RawWebSocket | None = None

    @classmethod
    async def open(cls, server: Server, receive_buffer: int | None = None) -> "Client":
        client = cls()
        ws = RawWebSocket(ws_handshake("/api/sync", server.port), client._on_message, client._on_close)
        if receive_buffer is None:
            await open_on(ws, server.port)
        else:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
            await asyncio.get_running_loop().create_connection(lambda: ws, sock=sock)
            await asyncio.wait_for(ws.upgraded, 30)
        client.ws = ws
        client.send({"type": "Connect", "sessionId": str(uuid.uuid4()), "connectionCount": 0,
                     "lastCloseReason": "InitialConnect", "clientTs": 0})
        return client

    def _on_message(self, payload: bytes, _t: float) -> None:
        self.messages.append(json.loads(payload))
        self._arrived.set()

    def _on_close(self) -> None:
        self.closed = True
        self._arrived.set()

    def send(self, message: dict) -> None:
        assert self.ws is not None
        self.ws.send(json.dumps(message))

    async def wait_for(self, wanted: Callable[[dict], bool], timeout: float = 300.0) -> dict:
        """The first message from now on that ``wanted`` accepts (earlier ones are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            while self.messages:
                message = self.messages.pop(0)
                if wanted(message):
                    return message
            if self.closed:
                raise ConnectionError("the server closed the socket")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no such message in time")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except asyncio.TimeoutError:
                pass

    def pause_reading(self) -> None:
        assert self.ws is not None and self.ws.transport is not None
        self.ws.transport.pause_reading()

    def resume_reading(self) -> None:
        assert self.ws is not None and self.ws.transport is not None
        self.ws.transport.resume_reading()

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


def _add(base: int, queries: list[tuple[int, str, dict]]) -> dict:
    return {"type": "ModifyQuerySet", "baseVersion": base, "newVersion": base + 1,
            "modifications": [{"type": "Add", "queryId": q, "udfPath": p, "args": [a]} for q, p, a in queries]}


def _updated(message: dict, query_id: int) -> Any:
    for mod in message.get("modifications", ()):
        if mod.get("queryId") == query_id and mod["type"] == "QueryUpdated":
            return mod["value"]
    return None


# ---------------------------------------------------------------------------- stall

async def _stall(server: Server, queries: int, work: int, baseline_s: float) -> dict:
    probe = await Client.open(server)
    probes: list[tuple[float, float]] = []  # (sent, answered)
    stop_probing = asyncio.Event()

    async def probing() -> None:
        request = 0
        while not stop_probing.is_set():
            sent = time.perf_counter()
            probe.send({"type": "Mutation", "requestId": request, "udfPath": "abuse:probe", "args": [{}]})
            await probe.wait_for(lambda m, r=request: m["type"] == "MutationResponse" and m["requestId"] == r)
            probes.append((sent, time.perf_counter()))
            request += 1
            await asyncio.sleep(0.01)

    def longest_ms(start: float, end: float) -> tuple[float, int]:
        """The longest round trip of the probes in flight at any time in [start, end]."""
        inside = [answered - sent for sent, answered in probes if sent <= end and answered >= start]
        return max(inside) * 1000, len(inside)

    prober = asyncio.create_task(probing())
    out: dict[str, Any] = {}
    try:
        started = time.perf_counter()
        await asyncio.sleep(baseline_s)  # the baseline: probes alone
        out["baseline_ms"], out["baseline_probes"] = longest_ms(started, time.perf_counter())
        attacker = await Client.open(server)
        started = time.perf_counter()
        attacker.send(_add(0, [(i, "abuse:heavy", {"n": work, "i": i}) for i in range(queries)]))
        answer = await attacker.wait_for(lambda m: m["type"] in ("Transition", "FatalError"))
        ended = time.perf_counter()
        await asyncio.sleep(0.5)  # the probe in flight when the attack ended comes back
        out["attack_s"] = ended - started
        out["attack_answer"] = answer["type"]
        out["attacked_ms"], out["attacked_probes"] = longest_ms(started, ended)
        attacker.close()
    finally:
        stop_probing.set()
        await asyncio.wait({prober}, timeout=30)
        probe.close()
    return out


# ---------------------------------------------------------------------------- non-reading client

async def _unread(server: Server, reading: bool, commits: int, pad: int) -> dict:
    subscriber = await Client.open(server, receive_buffer=None if reading else 16 * 1024)
    writer = await Client.open(server)
    subscriber.send(_add(0, [(0, "abuse:counter", {"name": "c", "pad": pad})]))
    await subscriber.wait_for(lambda m: m["type"] == "Transition")
    if not reading:
        subscriber.pause_reading()
    peak = PeakRss(server)
    for request in range(commits):
        writer.send({"type": "Mutation", "requestId": request, "udfPath": "abuse:bump", "args": [{"name": "c"}]})
        await writer.wait_for(lambda m, r=request: m["type"] == "MutationResponse" and m["requestId"] == r)
    await asyncio.sleep(1.0)  # the last flushes
    growth = peak.growth_mb()
    out: dict[str, Any] = {"rss_growth_mb": growth}
    if not reading:
        subscriber.resume_reading()
    try:  # the client that reads again gets the latest result
        await subscriber.wait_for(lambda m: (_updated(m, 0) or {}).get("n") == commits, timeout=120)
        out["caught_up"] = True
    except (TimeoutError, ConnectionError) as err:
        out["caught_up"] = f"no: {err}"
    subscriber.close()
    writer.close()
    return out


# ---------------------------------------------------------------------------- a 200 MB body

def _big_body(server: Server, total: int, declared: bool | None, idle_s: float) -> dict:
    """Peak RSS growth while ``total`` bytes go to /api/query (``declared`` None: stay idle)."""
    peak = PeakRss(server)
    started = time.perf_counter()
    status, sent = None, 0
    if declared is None:
        time.sleep(idle_s)
    else:
        sizing = f"Content-Length: {total}\r\n" if declared else "Transfer-Encoding: chunked\r\n"
        piece = b" " * MiB
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.settimeout(120)
            sock.sendall(f"POST /api/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         f"{sizing}\r\n".encode())
            try:
                while sent < total:
                    sock.sendall(piece if declared else f"{MiB:x}\r\n".encode() + piece + b"\r\n")
                    sent += MiB
                if not declared:
                    sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # answered and closed before the body was all sent: the point
            try:
                head = sock.recv(4096)
                status = int(head.split(b" ")[1]) if head else None
            except (OSError, IndexError, ValueError):
                status = None
    return {"rss_growth_mb": peak.growth_mb(), "status": status, "sent_mb": sent / MiB,
            "seconds": time.perf_counter() - started}


# ---------------------------------------------------------------------------- WAL under pinning

async def _wal(server: Server, pin: bool, seconds: float, in_flight: int) -> dict:
    writer = await Client.open(server)
    payload = "x" * 512
    deadline = time.monotonic() + seconds
    done = 0
    peak = 0.0

    async def pinning(http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            await http.post(f"{server.url}/api/query_ts", timeout=30)
            await asyncio.sleep(1.0)

    async with httpx.AsyncClient() as http:
        pinner = asyncio.create_task(pinning(http)) if pin else None
        request = 0
        waiting: set[int] = set()
        while time.monotonic() < deadline:
            while len(waiting) < in_flight:
                writer.send({"type": "Mutation", "requestId": request, "udfPath": "abuse:write",
                             "args": [{"payload": payload}]})
                waiting.add(request)
                request += 1
            answer = await writer.wait_for(lambda m: m["type"] == "MutationResponse")
            waiting.discard(answer["requestId"])
            done += 1
            if done % 200 == 0:
                peak = max(peak, server.wal_mb())
        if pinner is not None:
            await pinner
    writer.close()
    await asyncio.sleep(1.0)  # a checkpoint may follow the last commits
    return {"wal_mb": max(peak, server.wal_mb()), "wal_mb_after": server.wal_mb(), "mutations_per_s": done / seconds}


# ---------------------------------------------------------------------------- the run

def measure(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="prefmem-abuse-", dir=args.tmpdir))
    data: dict[str, Any] = {"machine": machine.describe(workdir), "config": vars(args), "targets": TARGETS}
    with Server(workdir) as server:
        data["stall"] = asyncio.run(_stall(server, args.queries, args.work, args.baseline_s))
    unread = {}
    for reading in (True, False):
        with Server(workdir) as server:
            unread["reading" if reading else "not_reading"] = asyncio.run(
                _unread(server, reading, args.commits, args.pad))
    data["unread"] = unread
    body = {}
    for name, declared in (("idle", None), ("declared", True), ("chunked", False)):
        with Server(workdir) as server:
            body[name] = _big_body(server, args.body_mb * MiB, declared, idle_s=2.0)
    data["body"] = body
    wal = {}
    for pin in (False, True):
        with Server(workdir) as server:
            wal["pinned" if pin else "unpinned"] = asyncio.run(_wal(server, pin, args.wal_seconds, args.in_flight))
    data["wal"] = wal
    return data


def _verdict(value: float, target: float) -> str:
    return "ok" if value < target else "OVER"


def print_table(data: dict) -> None:
    cfg, stall, unread, body, wal = data["config"], data["stall"], data["unread"], data["body"], data["wal"]
    print(f"\nabuse: one hostile client against the server's default bounds; baseline = the same without it")
    print(machine.one_line(data["machine"]))
    warning = machine.busy_warning(data["machine"])
    if warning:
        print(warning)
    print(f"  {'':<52} {'baseline':>10} {'hostile':>10} {'target':>9}")
    rows = [
        ("longest probe round trip, ms (stall)", stall["baseline_ms"], stall["attacked_ms"], TARGETS["stall_ms"]),
        ("RSS growth, subscriber not reading, MB", unread["reading"]["rss_growth_mb"],
         unread["not_reading"]["rss_growth_mb"], TARGETS["rss_growth_mb"]),
        (f"RSS growth, {cfg['body_mb']} MB body with Content-Length, MB", body["idle"]["rss_growth_mb"],
         body["declared"]["rss_growth_mb"], TARGETS["rss_growth_mb"]),
        (f"RSS growth, {cfg['body_mb']} MB body chunked, MB", body["idle"]["rss_growth_mb"],
         body["chunked"]["rss_growth_mb"], TARGETS["rss_growth_mb"]),
        ("WAL size, snapshot pinned every second, MB", wal["unpinned"]["wal_mb"], wal["pinned"]["wal_mb"],
         TARGETS["wal_mb"]),
    ]
    for label, base, hostile, target in rows:
        print(f"  {label:<52} {base:>10.1f} {hostile:>10.1f} {'< ' + format(target, 'g'):>9}  "
              f"{_verdict(hostile, target)}")
    print(f"  the hostile message: {cfg['queries']} heavy queries in one ModifyQuerySet, answered "
          f"({stall['attack_answer']}) after {stall['attack_s']:.1f} s; {stall['attacked_probes']} probes meanwhile")
    print(f"  the non-reading subscriber caught up once reading again: {unread['not_reading']['caught_up']}")
    print(f"  the bodies were answered {body['declared']['status']} (declared) and {body['chunked']['status']} "
          f"(chunked) after {body['declared']['sent_mb']:.0f} and {body['chunked']['sent_mb']:.0f} MB sent")
    print(f"  writes: {wal['unpinned']['mutations_per_s']:,.0f}/s unpinned, {wal['pinned']['mutations_per_s']:,.0f}/s "
          f"pinned, for {cfg['wal_seconds']:g} s; WAL after: {wal['unpinned']['wal_mb_after']:.1f} / "
          f"{wal['pinned']['wal_mb_after']:.1f} MB\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench abuse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=1024, help="queries in the hostile ModifyQuerySet "
                        "(default: the server's bound, 1024)")
    parser.add_argument("--work", type=int, default=50_000, help="loop iterations per heavy query (about 3 ms)")
    parser.add_argument("--baseline-s", type=float, default=3.0, help="seconds of probes before the attack")
    parser.add_argument("--commits", type=int, default=200, help="changes to the unread subscriber's result")
    parser.add_argument("--pad", type=int, default=500_000, help="bytes in that result")
    parser.add_argument("--body-mb", type=int, default=200)
    parser.add_argument("--wal-seconds", type=float, default=20.0)
    parser.add_argument("--in-flight", type=int, default=64, help="mutations in flight while writing")
    parser.add_argument("--tmpdir", default=None, help="where the databases go (default: the system's)")
    args = parser.parse_args(argv)
    data = measure(args)
    print_table(data)
    print(f"written to {write_json('abuse', data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
