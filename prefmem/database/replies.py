"""Mutation replies kept for replays, written in the mutation's own commit.

The npm client replays, on a new socket of the same session, every mutation it has not
seen resolved, including ones that committed just before the old socket died (or the
server crashed). Each committed mutation's reply is stored with its writes, so a replay
is answered, never run twice.

A replay is looked up inside the replaying mutation's transaction, and the lookup is a
read of the point ``(session, request)`` of a reserved index, which every reply's commit
writes: a replay racing the original commit (on another worker) conflicts with it and
re-executes, and then finds the reply. So "exactly once" holds across processes by the
same optimistic concurrency control as everything else.

A reply is bound to who asked: the caller's identity, the function and its arguments. A
request id reused with another identity, function or arguments (another client guessing a
session id) never receives the stored reply.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple

from prefmem.values import decode_stored, encode_stored, stored_msgpack, value_key

# The reserved index of reply points: index ids in storage are positive (and the
# dashboard's in-memory sources use -1).
REPLIES_INDEX = -2

_session_keys: dict[str, bytes] = {}  # a session's key prefix, made once per session, not per mutation


class ReplayKey(NamedTuple):
    """A request that may be replayed: ``(session, request)``, and who made it with what.

    A tuple, built for every mutation a session sends; the binding digest is computed only
    when a reply is stored or compared.
    """

    session_id: str
    request_id: int
    caller: str  # the identity's token identifier, "admin", or "" for none
    path: str
    args: Any

    @property
    def point(self) -> bytes:
        """The reply's key in ``REPLIES_INDEX``."""
        prefix = _session_keys.get(self.session_id)
        if prefix is None:
            if len(_session_keys) > 10_000:
                _session_keys.clear()
            prefix = _session_keys[self.session_id] = value_key(self.session_id)
        return prefix + value_key(float(self.request_id))

    def binding(self) -> str:
        """The caller exactly (that is what keeps one user's replies from another), and a
        checksum of the function and arguments (that catches a reused request id)."""
        return f"{self.caller}\x00{zlib.crc32(stored_msgpack([self.path, self.args])):08x}"


@dataclass(frozen=True, slots=True)
class StoredReply:
    value: Any
    log_lines: list[str]
    ts: int


class ReplyMismatch(Exception):
    """The request id was answered before, for another caller, function or arguments."""


def encode_group(ts: int, replies: list[tuple[ReplayKey, Any, list[str]]]) -> bytes:
    """One session's replies of one commit, as stored."""
    # In the stored encoding (an int64 reply stays one); read back only to be sent again, so
    # its numbers need no walk.
    return encode_stored([ts, [(key.request_id, key.binding(), value, log_lines)
                               for key, value, log_lines in replies]], as_read=True)


def find(groups: Iterable[bytes], key: ReplayKey) -> StoredReply | None:
    """The stored reply to ``key`` among encoded groups; ``ReplyMismatch`` if the request
    id was answered for someone or something else."""
    for data in groups:
        group = decode_stored(data)
        if not (isinstance(group, list) and len(group) == 2 and isinstance(group[1], list)):
            continue  # written by an earlier version, which kept no binding: not trusted
        ts, replies = group
        for request_id, binding, value, log_lines in replies:
            if request_id == key.request_id:
                if binding != key.binding():
                    raise ReplyMismatch(f"request id {key.request_id} of this session was already used by another "
                                        "mutation (another caller, function or arguments); it was not run again")
                return StoredReply(value, log_lines, ts)
    return None
