"""W5's load: pipelined writes from pre-encoded frames, written straight to the sockets.

W5 measures how many small writes a server can take, and compares that with the
websocket echo ceiling. Both figures are only true while the load generator is not the
bottleneck. Per-operation clients are not fit for that: a future, a JSON encode and an
``asyncio.wait_for`` per write capped one load-generator core at about 28k writes/s, half
what the echo server answers, so the "ceiling" they measured was the load generator's.
Here each connection is one ``rawws.FrameProtocol``: replies are counted by looking at
the first bytes of each payload, and every reply read in one ``data_received`` is
answered with the next writes in one ``transport.write``. One core drives well over
100k writes/s this way.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from bench.sidebyside.rawws import FrameProtocol, now, open_on, ws_handshake

# A write, given its sequence number, as the bytes one frame or request carries.
Encoder = Callable[[int], bytes]
# Whether the payload in buf[start:end] answers a write: True (done), False (failed), None (not a reply).
Classifier = Callable[[bytes, int, int], "bool | None"]


class _Pipe(FrameProtocol):
    """One websocket keeping ``depth`` writes in flight until ``end``; counts the replies in [start, end)."""

    def __init__(self, encode: Encoder, classify: Classifier | None, depth: int, seq0: int,
                 hello: list[bytes], handshake: bytes, budget: float = float("inf")) -> None:
        super().__init__(handshake)
        self.encode, self.classify, self.depth, self.seq = encode, classify, depth, seq0
        self.hello = hello
        self.budget = budget  # writes left to send: a count-based run stops there, not at a time
        self.start = self.end = float("inf")
        self.inflight = 0
        self.done = 0  # successful replies inside the window
        self.acked = 0  # successful replies, in or out of the window
        self.errors = 0  # failed replies, in or out of the window
        self._answered_now = self._failed_now = 0

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inflight > 0 and now() < self.end:
            self.errors += 1  # the server went away in the middle of the window
        super().connection_lost(exc)

    def go(self, start: float, end: float) -> None:
        """Send the hello frames and fill the pipeline."""
        self.start, self.end = start, end
        self.transport.write(b"".join(self.hello) + self._next(self.depth))  # type: ignore[union-attr]

    def _next(self, n: int) -> bytes:
        n = int(min(n, self.budget))
        if now() >= self.end or n <= 0:
            return b""
        self.budget -= n
        out = []
        for _ in range(n):
            self.seq += 1
            out.append(self.encode(self.seq))
        self.inflight += n
        return b"".join(out)

    def _answered(self, n: int, failed: int) -> None:
        """Count ``n`` replies (``failed`` of them errors) and send as many new writes, or close once
        the window is over and every write is answered."""
        t = now()
        if self.start <= t < self.end:
            self.done += n - failed
        self.acked += n - failed
        self.errors += failed
        self.inflight -= n
        more = self._next(n)
        if more:
            self.transport.write(more)  # type: ignore[union-attr]
        elif self.inflight <= 0:
            self.transport.close()  # type: ignore[union-attr]

    def frame(self, buf: bytes, start: int, end: int) -> None:
        verdict = True if self.classify is None else self.classify(buf, start, end)
        if verdict is not None:
            self._answered_now += 1
            self._failed_now += not verdict

    def frames_done(self) -> None:
        if self._answered_now:
            answered, failed = self._answered_now, self._failed_now
            self._answered_now = self._failed_now = 0
            self._answered(answered, failed)


class _HttpPipe(_Pipe):
    """The same over pipelined HTTP/1.1 requests: each response answers one write."""

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        answered = failed = 0
        while True:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                break
            head = buf[:head_end].lower()
            at = head.find(b"\ncontent-length:")
            if at < 0:  # chunked or close-delimited: not what a REST create answers with
                self.errors += 1
                self.transport.close()  # type: ignore[union-attr]
                return
            length = int(head[at + 16:].split(b"\r\n", 1)[0])
            if len(buf) < head_end + 4 + length:
                break
            answered += 1
            if not head.startswith(b"http/1.1 2"):
                failed += 1
            buf = buf[head_end + 4 + length:]
        self.buf = buf
        if answered:
            self._answered(answered, failed)


async def run_window(port: int | list[int], *, http: bool, path: str, encode: Encoder, classify: Classifier | None,
                     clients: int, depth: int, warm_s: float, seconds: float, hello: list[bytes] | None = None,
                     on_open: Callable[[], None] | None = None) -> dict:
    """Open ``clients`` connections, pipeline writes on each for ``warm_s + seconds``; replies per second.
    With several ports (the nodes of one deployment), connection k goes to port k mod their number."""
    ports = port if isinstance(port, list) else [port]
    pipes: list[_Pipe] = []
    for k in range(clients):
        to = ports[k % len(ports)]
        proto = (_HttpPipe if http else _Pipe)(encode, classify, depth, k * 10_000_000, hello or [],
                                               b"" if http else ws_handshake(path, to))
        await open_on(proto, to)
        pipes.append(proto)
    if on_open is not None:
        on_open()
    start = now() + warm_s
    end = start + seconds
    for proto in pipes:
        proto.go(start, end)
    try:
        await asyncio.wait_for(asyncio.gather(*(p.closed for p in pipes)), warm_s + seconds + 30)
    finally:
        for proto in pipes:
            if proto.transport is not None:
                proto.transport.close()
    return {"ops": sum(p.done for p in pipes), "rate": sum(p.done for p in pipes) / seconds,
            "errors": sum(p.errors for p in pipes), "acked": sum(p.acked for p in pipes)}


async def run_count(port: int, *, http: bool, path: str, encode: Encoder, classify: Classifier | None,
                    clients: int, depth: int, writes: int, hello: list[bytes] | None = None) -> dict:
    """Send exactly ``writes`` writes, spread over ``clients`` pipelined connections, and wait for
    every reply: for measurements per write that must not depend on time (bench/instructions.py)."""
    pipes: list[_Pipe] = []
    for k in range(min(clients, writes)):
        share = writes // clients + (k < writes % clients)
        proto = (_HttpPipe if http else _Pipe)(encode, classify, depth, k * 10_000_000, hello or [],
                                               b"" if http else ws_handshake(path, port), budget=share)
        await open_on(proto, port)
        pipes.append(proto)
    for proto in pipes:
        proto.go(0.0, float("inf"))
    await asyncio.gather(*(p.closed for p in pipes))
    return {"ops": sum(p.done for p in pipes), "errors": sum(p.errors for p in pipes)}
