"""Queries and mutations that break determinism or run forever."""

import asyncio
import socket
import time

from prefmem import mutation, query, v


@query
async def sleeps(ctx, args):
    await asyncio.sleep(0.01)
    return 1


@mutation
async def sleeps_after_write(ctx, args):
    await ctx.db.insert("notes", {"body": "before sleeping"})
    await asyncio.sleep(0)


@query(args={"path": v.string()})
async def reads_file(ctx, args):
    with open(args["path"]) as f:
        return f.read()


@mutation(args={"path": v.string()})
async def writes_file(ctx, args):
    await ctx.db.insert("notes", {"body": "before the file write"})
    with open(args["path"], "w") as f:
        f.write("should never be written")


@query(args={"port": v.int64()})
async def connects(ctx, args):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(1)
        s.connect(("127.0.0.1", args["port"]))
    finally:
        s.close()
    return "connected"


@query(args={"path": v.string()})
async def swallows_io_error(ctx, args):
    try:
        open(args["path"]).close()
    except Exception:  # noqa: BLE001 — the point: catching the refusal must not make I/O allowed
        pass
    with open(args["path"]) as f:
        return f.read()


@query
def spins(ctx, args):
    while True:
        pass


@query
def spins_on_after_catching_the_timeout(ctx, args):
    try:
        while True:
            pass
    except BaseException:  # noqa: BLE001 — the point: swallowing the time limit must not outlive it
        pass
    while True:
        pass


@mutation
async def spins_after_write(ctx, args):
    await ctx.db.insert("notes", {"body": "before spinning"})
    while True:
        pass


@query
def blocks_in_time_sleep(ctx, args):
    for _ in range(100):
        time.sleep(0.01)
    return "slept"


@query
async def reads_forever(ctx, args):
    while True:
        await ctx.db.query("notes").first()


@query
def uses_ctx_random_and_now(ctx, args):
    return [ctx.random.random() for _ in range(3)] + [ctx.now]
