"""Websocket client frames straight on asyncio transports, for the load generator.

The load generator has one core and must not be what a figure measures. A ``websockets``
client connection costs a task, a queue hand-off and a frame object per message, about
25 µs on this machine: with 5,000 subscribers (W2) the load generator was busier than the
server it measured, and in W5 it could not keep up with the echo server. Here a
connection is one ``asyncio.Protocol`` that splits frames out of each ``data_received``
and hands the payload to a callback, with no task and no queue.

Frames are masked (a client must mask) with a fixed key through ``websockets``' own C
masking, so servers do exactly the unmasking work a real client costs them.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from typing import Callable
from urllib.parse import urlsplit

from websockets.utils import apply_mask

now = time.perf_counter

MASK = b"\x5a\x3c\x96\xe1"
OPEN_TIMEOUT_S = 30.0


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One masked frame (text by default), as a client sends it."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0xFF)) + n.to_bytes(8, "big")
    return head + MASK + apply_mask(payload, MASK)


def ws_handshake(path: str, port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


class FrameProtocol(asyncio.Protocol):
    """A client socket that upgrades (unless ``handshake`` is empty) and then splits server
    frames; subclasses get each data frame's payload as ``buf[start:end]`` in ``frame``,
    and ``frames_done`` once per ``data_received``."""

    def __init__(self, handshake: bytes) -> None:
        self.handshake = handshake
        self.buf = b""
        loop = asyncio.get_running_loop()
        self.upgraded: asyncio.Future = loop.create_future()  # None, or why not
        self.closed: asyncio.Future = loop.create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.handshake:
            self.transport.write(self.handshake)
        else:
            self.upgraded.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_result(exc or ConnectionError("closed before the websocket upgrade"))
        if not self.closed.done():
            self.closed.set_result(exc)

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
        pos, size = 0, len(buf)
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
            if opcode == 0x8:  # the server closes
                self.transport.close()  # type: ignore[union-attr]
                break
            if opcode in (0x1, 0x2):
                self.frame(buf, start, pos)
            elif opcode == 0x9:  # a ping: servers close sockets that answer none
                self.transport.write(ws_frame(buf[start:pos], opcode=0xA))  # type: ignore[union-attr]
        self.buf = buf[pos:]
        self.frames_done()

    def frame(self, buf: bytes, start: int, end: int) -> None:
        raise NotImplementedError

    def frames_done(self) -> None:
        """After the frames of one ``data_received``."""


async def open_on(proto: FrameProtocol, port: int) -> None:
    """Connect ``proto`` to 127.0.0.1:``port`` and wait for its upgrade (if it asks for one)."""
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.create_connection(lambda: proto, "127.0.0.1", port), OPEN_TIMEOUT_S)
    err = await asyncio.wait_for(proto.upgraded, OPEN_TIMEOUT_S)
    if err is not None:
        proto.transport.close()  # type: ignore[union-attr]
        raise ConnectionError(f"websocket upgrade refused: {err}")


class RawWebSocket(FrameProtocol):
    """A websocket client connection: ``send`` a text frame, ``on_message(payload, t)`` per
    message received (``t`` = ``now()`` when its bytes were read), ``on_close()`` once."""

    def __init__(self, handshake: bytes, on_message: Callable[[bytes, float], None],
                 on_close: Callable[[], None]) -> None:
        super().__init__(handshake)
        self.on_message, self.on_close = on_message, on_close
        self._t = 0.0

    @classmethod
    async def connect(cls, url: str, on_message: Callable[[bytes, float], None],
                      on_close: Callable[[], None]) -> "RawWebSocket":
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1" and parts.port is not None, url
        proto = cls(ws_handshake(parts.path, parts.port), on_message, on_close)
        await open_on(proto, parts.port)
        return proto

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, text: str | bytes) -> None:
        if not self.is_open:
            raise ConnectionError("the websocket is closed")
        self.transport.write(ws_frame(text.encode() if isinstance(text, str) else text))  # type: ignore[union-attr]

    def close(self) -> None:
        """Send a close frame (1000) and drop the connection."""
        if self.is_open:
            self.transport.write(ws_frame((1000).to_bytes(2, "big"), opcode=0x8))  # type: ignore[union-attr]
            self.transport.close()  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self._t = now()
        super().data_received(data)

    def frame(self, buf: bytes, start: int, end: int) -> None:
        self.on_message(buf[start:end], self._t)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.on_close()
