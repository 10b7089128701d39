"""Side by side: prefmem vs PocketBase vs rerun/poll baselines vs raw SQLite and websocket echo (issue 8)."""

from bench.sidebyside.run import main

__all__ = ["main"]
