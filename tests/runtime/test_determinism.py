"""Queries and mutations must be deterministic: awaiting anything but ctx, I/O and sockets are refused."""

from __future__ import annotations

import socket

import pytest

from prefmem.testing import FunctionFailed

pytestmark = pytest.mark.engines

IO_REFUSED = "queries and mutations may not do I/O"


async def test_awaiting_a_sleep_is_refused(core):
    with pytest.raises(FunctionFailed, match="nondet:sleeps: a query must be deterministic and may only await ctx "
                                             "operations, but it awaited .*; do network I/O, sleeps .* in an action"):
        await core.query("nondet:sleeps")
    with pytest.raises(FunctionFailed, match="a mutation must be deterministic"):
        await core.mutation("nondet:sleeps_after_write")
    assert core.table("notes") == []


async def test_file_read_is_refused(core, tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("secret")
    with pytest.raises(FunctionFailed, match=rf"nondet:reads_file: {IO_REFUSED} \(open\); use an action"):
        await core.query("nondet:reads_file", {"path": str(data)})


async def test_file_write_is_refused_and_nothing_is_written(core, tmp_path):
    target = tmp_path / "out.py"  # even a .py name: writing is never allowed
    with pytest.raises(FunctionFailed, match=rf"{IO_REFUSED} \(open\)"):
        await core.mutation("nondet:writes_file", {"path": str(target)})
    assert not target.exists()
    assert core.table("notes") == []


async def test_swallowing_the_refusal_does_not_unlock_io(core, tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("secret")
    with pytest.raises(FunctionFailed, match=IO_REFUSED):
        await core.query("nondet:swallows_io_error", {"path": str(data)})


async def test_socket_connect_is_refused(core):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        port = listener.getsockname()[1]
        with pytest.raises(FunctionFailed, match=rf"nondet:connects: {IO_REFUSED} \(socket.connect\)"):
            await core.query("nondet:connects", {"port": port})
        listener.settimeout(0.05)
        with pytest.raises(OSError):
            listener.accept()  # nothing ever connected
    finally:
        listener.close()


async def test_guard_is_off_outside_functions(core, tmp_path):
    with pytest.raises(FunctionFailed):
        await core.query("nondet:reads_file", {"path": "/nonexistent"})
    # The test itself (outside any execution) may still do I/O.
    (tmp_path / "x").write_text("ok")
    assert (tmp_path / "x").read_text() == "ok"


async def test_ctx_random_and_now_are_fixed_per_execution(core):
    first = await core.query("nondet:uses_ctx_random_and_now")
    again = await core.query("nondet:uses_ctx_random_and_now")
    assert first == again  # same snapshot, same clock: same answer
    assert first[-1] == core.clock.now_ms()
