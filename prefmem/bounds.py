"""Bounds on what a client can make the server hold or do, beyond Convex's per-function limits.

``prefmem.limits`` bounds one function execution (reads, writes, argument sizes, time), as
Convex does. These bound what arrives from the network before and around executions: request
bodies, uploads, live queries and unsent frames per websocket, silent sockets, and how long
a stopping server waits. Each is read from an environment variable (``Bounds.from_env``) so
a service manager can set it; the defaults suit one server on a small machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any, Mapping

MiB = 1024 * 1024


@dataclass(frozen=True)
class Bounds:
    # A function call's JSON body (and an HTTP action's): Convex's 16 MiB argument limit plus
    # the JSON envelope, the same 20 MiB Convex allows an HTTP action's request.
    request_body_bytes: int = 20 * MiB
    # One uploaded file: streamed to disk, so the bound protects the disk, not memory.
    upload_bytes: int = 64 * MiB
    # Unused upload URLs one user identity holds; asking for more retires the oldest.
    pending_uploads: int = 16
    # Live queries per websocket; one ModifyQuerySet (a reconnect resends every query in
    # one) may not take a socket past it, nor carry more than twice as many changes.
    queries_per_socket: int = 1024
    # Frames queued for a websocket that is not reading them. Past a quarter of this,
    # query updates are held back and sent as one Transition once it reads again; past it
    # all, the socket is closed (what is still queued then is replies to its requests).
    socket_buffer_bytes: int = 16 * MiB
    # Websocket-level pings (the Python client needs them; npm needs the JSON Ping the
    # session sends): a socket that answers none within the timeout is closed.
    ping_interval_s: float = 15.0
    ping_timeout_s: float = 20.0
    # After SIGTERM / Ctrl-C: how long running requests and functions may finish before
    # they are cancelled (a cancelled scheduled action is recorded as failed).
    shutdown_grace_s: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Bounds":
        """The defaults, overridden by ``PREFMEM_<FIELD NAME IN CAPITALS>`` variables."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}  # each an int or a float, as its field is
        for f in fields(cls):
            name = env_name(f.name)
            raw = env.get(name)
            if raw is None or not raw.strip():
                continue
            kind = int if f.type in (int, "int") else float
            try:
                value = kind(raw.strip())
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not {'a whole number' if kind is int else 'a number'}") from None
            if value <= 0:
                raise ValueError(f"{name}={raw!r} must be greater than 0")
            values[f.name] = value
        return cls(**values)


def env_name(field_name: str) -> str:
    return "PREFMEM_" + field_name.upper()
