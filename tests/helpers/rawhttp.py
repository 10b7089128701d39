"""HTTP requests on a plain socket, for what well-behaved clients never do: announce a huge
body and stop sending it, or send a body without end. Used by the hardening tests and
``bench abuse``."""

from __future__ import annotations

import json
import socket
from typing import Iterable, Iterator

MiB = 1024 * 1024


def post_head(path: str, length: int | None, content_type: str = "application/json",
              extra: dict[str, str] | None = None) -> str:
    """A POST request head; ``length`` None sends the body chunked (no length said)."""
    sizing = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    more = "".join(f"{k}: {v}\r\n" for k, v in (extra or {}).items())
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{more}{sizing}\r\n"


def chunked(total: int, piece: int = 256 * 1024) -> Iterator[bytes]:
    """A chunked body of ``total`` bytes that never says how long it is."""
    sent = 0
    while sent < total:
        n = min(piece, total - sent)
        yield f"{n:x}\r\n".encode() + b" " * n + b"\r\n"
        sent += n
    yield b"0\r\n\r\n"


def raw_request(port: int, head: str, body_chunks: Iterable[bytes] = (), *,
                read_timeout: float = 30.0) -> tuple[int, dict]:
    """Send a request head and some body bytes, then read the response: as much of the body
    as the server wants before answering is all it gets. Returns (status, JSON body or {})."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(read_timeout)
    try:
        sock.sendall(head.encode())
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while the body was still coming
        data = b""
        while b"\r\n\r\n" not in data:
            more = sock.recv(65536)
            if not more:
                raise ConnectionError(f"the server closed without a response: {data[:200]!r}")
            data += more
        head_part, _, rest = data.partition(b"\r\n\r\n")
        status = int(head_part.split(b" ")[1])
        length = next((int(line.split(b":")[1]) for line in head_part.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), None)
        while length is not None and len(rest) < length:
            more = sock.recv(65536)
            if not more:
                break
            rest += more
        try:
            return status, json.loads(rest) if rest else {}
        except ValueError:
            return status, {"text": rest.decode(errors="replace")}
    finally:
        sock.close()
