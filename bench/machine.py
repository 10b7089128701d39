"""The machine a benchmark ran on, printed with every table and stored with every result."""

from __future__ import annotations

import os
import platform
import sqlite3
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def filesystem_of(path: str | Path) -> str:
    """The filesystem type holding ``path`` (ext4, tmpfs, ...): fsync costs depend on it."""
    target = os.path.realpath(path)
    best, fstype = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                mount = parts[1]
                inside = target == mount or target.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) > len(best):
                    best, fstype = mount, parts[2]
    except OSError:
        pass
    return fstype


def describe(db_dir: str | Path) -> dict:
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "db_dir": str(db_dir),
        "db_filesystem": filesystem_of(db_dir),
        "load_average_at_start": os.getloadavg()[0],
        "sched_autogroup": sched_autogroup(),
    }


def sched_autogroup() -> bool:
    """Whether the kernel shares CPU time between sessions before processes (autogroup): then,
    while other sessions are busy, a run's processes share one session's part of the cores."""
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


def one_line(info: dict) -> str:
    return (f"machine: {info['nproc']} × {info['cpu']}, Python {info['python']}, SQLite {info['sqlite']}, "
            f"databases in {info['db_dir']} ({info['db_filesystem']}), load average {info['load_average_at_start']:.2f}")


def busy_warning(info: dict) -> str | None:
    """A warning when other work was running: the figures then measure the neighbours too."""
    if info["load_average_at_start"] > 0.75 * (info["nproc"] or 1):
        return (f"warning: the 1-minute load average was {info['load_average_at_start']:.2f} on "
                f"{info['nproc']} CPUs when the run started; figures are noisy, rerun on an idle machine")
    return None
