"""prefmem type-checks: mypy, with the settings in pyproject.toml, reports no errors in it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_reports_no_errors_in_prefmem():
    done = subprocess.run([sys.executable, "-m", "mypy", "prefmem"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
