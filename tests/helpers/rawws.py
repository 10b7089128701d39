"""A websocket client on a plain TCP socket that does only what it is told.

The official clients and the ``websockets`` library read in the background and answer
pings on their own; a misbehaving client (one that stops reading, or never answers a ping)
needs a socket that reads only when asked. Used by the hardening tests.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any
from urllib.parse import urlparse

from bench.sidebyside.rawws import ws_frame, ws_handshake

TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


class Closed(Exception):
    """The server closed the connection; ``code`` and ``reason`` from its close frame, if any."""

    def __init__(self, code: int | None = None, reason: str = "") -> None:
        super().__init__(f"closed ({code}: {reason})")
        self.code, self.reason = code, reason


class RawWebSocket:
    def __init__(self, base_url: str, path: str = "/api/sync", *, receive_buffer: int | None = None,
                 timeout: float = 30.0) -> None:
        url = urlparse(base_url)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:  # before connect, so the window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(timeout)
        self.sock.connect((url.hostname, url.port))
        self.sock.sendall(ws_handshake(path, url.port))
        self._buffer = b""
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self._recv()
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise ConnectionError(f"no websocket upgrade: {head[:200]!r}")

    def _recv(self) -> bytes:
        data = self.sock.recv(1 << 16)
        if not data:
            raise Closed()
        return data

    def _read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            self._buffer += self._recv()
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def send_frame(self, opcode: int, payload: bytes) -> None:
        self.sock.sendall(ws_frame(payload, opcode))

    def send_json(self, message: Any) -> None:
        self.send_frame(TEXT, json.dumps(message).encode())

    def recv_frame(self) -> tuple[int, bytes]:
        """The next frame (opcode, payload); fragments are not expected from the server."""
        first, second = self._read(2)
        n = second & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        return first & 0x0F, self._read(n)

    def recv_json(self, *, answer_pings: bool = True) -> dict:
        """The next JSON message; raises ``Closed`` at the server's close frame or EOF."""
        while True:
            opcode, payload = self.recv_frame()
            if opcode == TEXT:
                return json.loads(payload)
            if opcode == CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise Closed(code, payload[2:].decode(errors="replace"))
            if opcode == PING and answer_pings:
                self.send_frame(PONG, payload)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def connect_message(session_id: str = "00000000-0000-0000-0000-000000000000") -> dict:
    return {"type": "Connect", "sessionId": session_id, "connectionCount": 0, "lastCloseReason": "InitialConnect",
            "clientTs": 0}


def add_queries(base: int, queries: list[tuple[int, str, dict]]) -> dict:
    return {"type": "ModifyQuerySet", "baseVersion": base, "newVersion": base + 1,
            "modifications": [{"type": "Add", "queryId": qid, "udfPath": path, "args": [args]}
                              for qid, path, args in queries]}
