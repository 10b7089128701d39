"""Drives the official Python `convex` client for the end-to-end tests, in its own process.

    python py_driver.py http://127.0.0.1:PORT

The same line protocol as ``tests/js/driver.mjs``: one JSON command per line on stdin,
one JSON event per line on stdout. The client's calls block (holding the GIL), so
commands run one at a time, in order:
  {"op":"subscribe","key":"k","path":...,"args":{...}}   -> the first value as an update
  {"op":"next","key":"k","until":LABEL?}                 -> updates until one contains LABEL
  {"op":"mutation"|"action"|"query","key":"k","path":...,"args":{...}} -> result or error
"""

from __future__ import annotations

import json
import sys

from convex import ConvexClient, ConvexError


def emit(event: dict) -> None:
    print(json.dumps(event, default=repr), flush=True)


def main() -> None:
    client = ConvexClient(sys.argv[1])
    subscriptions: dict = {}
    emit({"ev": "ready"})
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        op, key = cmd["op"], cmd.get("key")
        if op == "close":
            emit({"ev": "closed"})
            return
        if op == "subscribe":
            subscriptions[key] = iter(client.subscribe(cmd["path"], cmd.get("args") or {}))
            emit({"ev": "update", "key": key, "value": next(subscriptions[key])})
        elif op == "next":
            while True:
                value = next(subscriptions[key])
                emit({"ev": "update", "key": key, "value": value})
                if cmd.get("until") is None or cmd["until"] in json.dumps(value):
                    break
        else:
            try:
                value = getattr(client, op)(cmd["path"], cmd.get("args") or {})
                emit({"ev": "result", "key": key, "value": value})
            except ConvexError as err:
                emit({"ev": "error", "key": key, "message": str(err), "convexError": True, "data": err.data})
            except Exception as err:  # noqa: BLE001 — reported to the test
                emit({"ev": "error", "key": key, "message": str(err), "convexError": False})


if __name__ == "__main__":
    main()
