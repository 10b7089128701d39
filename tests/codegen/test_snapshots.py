"""The generated files of every sample app, of examples/chat and of the app itself, against the
committed snapshots in tests/codegen/snapshots/.

A change to a validator changes its app's snapshot on purpose: review the diff, then accept it
with the command the failure prints (the CLI itself writes the snapshot)."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prefmem import codegen
from prefmem.functions import load_functions, load_schema
from tests.helpers.server import APPS, ROOT

SNAPSHOTS = Path(__file__).with_name("snapshots")
APP_DIRS = {**{f"apps/{d.name}": d for d in sorted(APPS.iterdir()) if (d / "functions").is_dir()},
            "examples/chat": ROOT / "examples" / "chat", "app": ROOT}


def _accept_command(name: str, app: Path) -> str:
    rel = lambda p: os.path.relpath(p, ROOT)  # noqa: E731
    return (f".venv/bin/python -m prefmem codegen --functions {rel(app / 'functions')} --schema "
            f"{rel(app / 'schema.py')} --out {rel(SNAPSHOTS / name)}")


def test_every_app_has_a_snapshot():
    snapshots = {p.parent.relative_to(SNAPSHOTS).as_posix() for p in SNAPSHOTS.rglob("api.d.ts")}
    missing = [_accept_command(name, app) for name, app in APP_DIRS.items() if name not in snapshots]
    assert not missing, "apps without a snapshot; review and write them with:\n" + "\n".join(missing)
    assert snapshots <= set(APP_DIRS), f"snapshots of apps that are gone: {sorted(snapshots - set(APP_DIRS))}"


@pytest.mark.parametrize("name", sorted(APP_DIRS))
def test_generated_files_match_the_snapshot(name):
    app = APP_DIRS[name]
    files = codegen.generate(load_functions(app / "functions"), load_schema(app / "schema.py"))
    assert sorted(files) == sorted(codegen.FILES)
    for file, text in files.items():
        committed = (SNAPSHOTS / name / file).read_text(encoding="utf-8")
        if text != committed:
            diff = "".join(difflib.unified_diff(committed.splitlines(True), text.splitlines(True),
                                                f"snapshot {name}/{file}", "generated"))
            pytest.fail(f"{name}/{file} differs from its snapshot:\n{diff}\naccept it with: "
                        f"{_accept_command(name, app)}")


def test_output_does_not_depend_on_hash_order(tmp_path):
    """Two processes with different string hashing write the same bytes (sets and dicts are sorted)."""
    app = APPS / "typed"
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        subprocess.run([sys.executable, "-m", "prefmem", "codegen", "--functions", str(app / "functions"),
                        "--schema", str(app / "schema.py"), "--out", str(out)], check=True, capture_output=True,
                       env={**os.environ, "PYTHONHASHSEED": seed})
        outputs.append({f.name: f.read_bytes() for f in out.iterdir()})
    assert outputs[0] == outputs[1]
    assert outputs[0] == {f.name: f.read_bytes() for f in (SNAPSHOTS / "apps" / "typed").iterdir()}
