"""How the dashboard's functions are declared: internal, under ``_system/dashboard/``.

No app can define a function there (modules starting with ``_`` hold none), and internal
functions answer only callers holding the admin key, over HTTP and sync alike.
"""

from __future__ import annotations

from typing import Any, Callable

from prefmem import functions
from prefmem.functions import FunctionDef

PREFIX = functions.SYSTEM_PREFIX + "dashboard/"


def system_function(kind: str, path: str, args: Any = None) -> Callable[[Callable], FunctionDef]:
    """``@system_function("query", "data:tables", args={...})`` → ``_system/dashboard/data:tables``."""
    return functions.system_function(kind, "dashboard/" + path, args)
