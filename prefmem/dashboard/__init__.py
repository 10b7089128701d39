"""The dashboard: a page at ``/_dashboard`` showing a running app's data, functions, logs,
schedules, files and health, live.

The page (the repository's ``dashboard/``, React and the npm ``convex`` client) talks to
the server only through the sync protocol and the HTTP API, as the admin. What it shows
comes from the system functions here (``_system/dashboard/<view>:<name>``, internal, so
refused to anyone without the admin key), built on the runtime's public pieces: the
registry, the catalog, ``ctx.db``, the execution log, the scheduler's table, file storage.
What it needs from the commit pipeline's internals is read in ``metrics`` alone.
"""

from prefmem.dashboard.board import Dashboard

__all__ = ["Dashboard"]
