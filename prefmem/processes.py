"""What the processes of one machine use to find each other: private directories of their
sockets, and whether a process id found on disk still runs."""

from __future__ import annotations

import os
from pathlib import Path


def private_directory(path: Path) -> Path:
    """``path`` as a directory only this user may list (made if missing); another user's is
    refused, since its sockets could be anyone's."""
    path.mkdir(mode=0o700, exist_ok=True)
    if path.stat().st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to another user; remove it")
    path.chmod(0o700)  # made by this user, if not by this code
    return path


def running(pid: int) -> bool:
    """Whether ``pid`` runs (an exited process that nobody has reaped yet does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
