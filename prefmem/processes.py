"""Whether a process still runs: what the serve lock and the worker processes' socket
directories ask of a process id they find on disk."""

from __future__ import annotations


def running(pid: int) -> bool:
    """Whether ``pid`` runs (an exited process that nobody has reaped yet does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
