"""Run mutations and print each acknowledged id as soon as its ``await`` returns.

``python durability_writer.py FUNCTIONS SCHEMA DB DURABILITY [CALLERS]`` opens a real
Backend on DB and calls ``messages:create_channel`` until killed, from CALLERS concurrent
asyncio callers (default 1: one mutation after another; more make the Committer group
them into shared commits). A line on stdout is a promise: that mutation was acknowledged,
so its document must survive whatever happens next. tests/runtime/test_durability.py
SIGKILLs this process mid-stream and checks the promise.
"""

from __future__ import annotations

import asyncio
import sys

from prefmem.backend import Backend


async def main(functions: str, schema: str, db: str, durability: str, callers: int) -> None:
    backend = Backend(functions=functions, schema=schema, db=db, durability=durability).open()
    app = backend.app
    out = sys.__stdout__  # the real stream: the runtime routes sys.stdout into function log collectors
    out.write("ready\n")
    out.flush()

    async def caller(k: int) -> None:
        i = 0
        while True:
            outcome = await app.call("messages:create_channel", {"name": f"c{k}-{i}"}, kind="mutation")
            if not outcome.ok:
                sys.stderr.write(f"mutation failed: {outcome.error}\n")
                sys.exit(1)
            out.write(f"{outcome.value}\n")
            out.flush()
            i += 1

    await asyncio.gather(*(caller(k) for k in range(callers)))


if __name__ == "__main__":
    functions, schema, db, durability = sys.argv[1:5]
    asyncio.run(main(functions, schema, db, durability, int(sys.argv[5]) if len(sys.argv) > 5 else 1))
