"""W5's load: pipelined writes from pre-encoded frames, written straight to the sockets.

W5 measures how many small writes a server can take, and compares that with the
websocket echo ceiling. Both figures are only true while the load generator is not the
bottleneck. The per-operation clients in ``clients`` are not fit for that: a future, a
JSON encode and an ``asyncio.wait_for`` per write cap one load-generator core at about
28k writes/s, about half what the echo server answers, so the "ceiling" they measured was
the load generator's. Here each connection is one ``asyncio.Protocol``: replies are
counted by looking at frame headers and the first bytes of each payload, and every reply
read in one ``data_received`` is answered with the next writes in one ``transport.write``.
One core drives well over 100k writes/s this way.

Frames are masked (a client must mask) with a fixed key, through ``websockets``' own C
masking, so servers do exactly the unmasking work a real client costs them.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from typing import Callable

from websockets.utils import apply_mask

now = time.perf_counter

MASK = b"\x5a\x3c\x96\xe1"

# A write, given its sequence number, as the bytes one frame or request carries.
Encoder = Callable[[int], bytes]
# Whether the payload in buf[start:end] answers a write: True (done), False (failed), None (not a reply).
Classifier = Callable[[bytes, int, int], "bool | None"]


def ws_frame(payload: bytes) -> bytes:
    """One masked text frame, as a client sends it."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, 0x80 | n))
    elif n < 65536:
        head = bytes((0x81, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 0xFF)) + n.to_bytes(8, "big")
    return head + MASK + apply_mask(payload, MASK)


class _Pipe(asyncio.Protocol):
    """One websocket keeping ``depth`` writes in flight until ``end``; counts the replies in [start, end)."""

    def __init__(self, encode: Encoder, classify: Classifier | None, depth: int, seq0: int,
                 hello: list[bytes], handshake: bytes) -> None:
        self.encode, self.classify, self.depth, self.seq = encode, classify, depth, seq0
        self.hello, self.handshake = hello, handshake
        self.start = self.end = float("inf")
        self.buf = b""
        loop = asyncio.get_running_loop()
        self.upgraded: asyncio.Future = loop.create_future()
        self.closed: asyncio.Future = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.inflight = 0
        self.done = 0  # successful replies inside the window
        self.errors = 0  # failed replies, in or out of the window

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.handshake:
            self.transport.write(self.handshake)
        else:
            self.upgraded.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_result(exc or ConnectionError("closed before the websocket upgrade"))
        if self.inflight > 0 and now() < self.end:
            self.errors += 1  # the server went away in the middle of the window
        if not self.closed.done():
            self.closed.set_result(exc)

    def go(self, start: float, end: float) -> None:
        """Send the hello frames and fill the pipeline."""
        self.start, self.end = start, end
        self.transport.write(b"".join(self.hello) + self._next(self.depth))  # type: ignore[union-attr]

    def _next(self, n: int) -> bytes:
        if now() >= self.end:
            return b""
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
        self.errors += failed
        self.inflight -= n
        more = self._next(n)
        if more:
            self.transport.write(more)  # type: ignore[union-attr]
        elif self.inflight <= 0:
            self.transport.close()  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        if not self.upgraded.done():
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if not sep:
                self.buf = buf
                return
            ok = head.startswith(b"HTTP/1.1 101")
            self.upgraded.set_result(None if ok else ConnectionError(head[:200].decode("latin-1")))
            buf = rest
        answered, failed = self._frames(buf)
        if answered:
            self._answered(answered, failed)

    def _frames(self, buf: bytes) -> tuple[int, int]:
        """Consume whole server frames (unmasked); how many were replies, and how many of those failed."""
        answered = failed = pos = 0
        size = len(buf)
        classify = self.classify
        while size - pos >= 2:
            b0, n = buf[pos], buf[pos + 1] & 0x7F
            start = pos + 2
            if n >= 126:
                width = 2 if n == 126 else 8
                if size - start < width:
                    break
                n = int.from_bytes(buf[start:start + width], "big")
                start += width
            if size - start < n:
                break
            pos = start + n
            opcode = b0 & 0x0F
            if opcode == 0x8:  # close
                self.transport.close()  # type: ignore[union-attr]
                break
            if opcode not in (0x1, 0x2):
                continue
            verdict = True if classify is None else classify(buf, start, pos)
            if verdict is None:
                continue
            answered += 1
            if not verdict:
                failed += 1
        self.buf = buf[pos:]
        return answered, failed


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


def ws_handshake(path: str, port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


async def run_window(port: int, *, http: bool, path: str, encode: Encoder, classify: Classifier | None,
                     clients: int, depth: int, warm_s: float, seconds: float, hello: list[bytes] | None = None,
                     on_open: Callable[[], None] | None = None) -> dict:
    """Open ``clients`` connections, pipeline writes on each for ``warm_s + seconds``; replies per second."""
    loop = asyncio.get_running_loop()
    pipes: list[_Pipe] = []
    for k in range(clients):
        proto = (_HttpPipe if http else _Pipe)(encode, classify, depth, k * 10_000_000, hello or [],
                                               b"" if http else ws_handshake(path, port))
        await asyncio.wait_for(loop.create_connection(lambda p=proto: p, "127.0.0.1", port), 30)
        pipes.append(proto)
    for proto in pipes:
        err = await asyncio.wait_for(proto.upgraded, 30)
        if err is not None:
            raise ConnectionError(f"websocket upgrade refused: {err}")
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
            "errors": sum(p.errors for p in pipes)}
