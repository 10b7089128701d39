"""The generated `api.py` in mypy and at run time: right calls of tests/apps/typed pass
`mypy --strict` and run against a server with the official Python client; wrong ones fail
with the expected errors (py/wrong.py says which, line by line)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from prefmem import codegen
from prefmem.functions import load_functions, load_schema
from tests.helpers.server import APPS, RunningServer

FIXTURES = Path(__file__).with_name("py")
_ERROR = re.compile(r"^(?P<file>[\w.]+):(?P<line>\d+): error: (?P<message>.*?)  \[(?P<code>[\w-]+)\]$")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The typed app's generated api.py beside the fixtures, as a Python caller would have it."""
    folder = tmp_path_factory.mktemp("typed-py")
    app = APPS / "typed"
    files = codegen.generate(load_functions(app / "functions"), load_schema(app / "schema.py"))
    (folder / "api.py").write_text(files["api.py"], encoding="utf-8")
    for fixture in FIXTURES.glob("*.py"):
        shutil.copy(fixture, folder)
    return folder


def _mypy(project: Path, *files: str) -> tuple[int, list[tuple[str, int, str, str]], str]:
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", "/dev/null",
                           *files], cwd=project, capture_output=True, text=True, timeout=300)
    errors = [(m["file"], int(m["line"]), m["code"], m["message"])
              for m in map(_ERROR.match, done.stdout.splitlines()) if m]
    return done.returncode, errors, done.stdout + done.stderr


def test_the_generated_module_and_right_calls_pass_strict_mypy(project):
    status, errors, output = _mypy(project, "api.py", "client.py")
    assert (status, errors) == (0, []), output


def test_wrong_calls_fail_with_the_expected_errors(project):
    expected = {}
    for number, line in enumerate((FIXTURES / "wrong.py").read_text().splitlines(), start=1):
        found = re.match(r"\s*# expect: ([\w-]+) (.*)$", line)
        if found:
            expected[number + 1] = (found[1], found[2])
    assert len(expected) >= 10
    status, errors, output = _mypy(project, "wrong.py")
    assert status != 0
    got = {line: (code, message) for file, line, code, message in errors if file == "wrong.py"}
    assert sorted(got) == sorted(expected), output
    for line, (code, text) in expected.items():
        assert got[line][0] == code and text in got[line][1], f"wrong.py:{line}: {got[line]}"


def test_right_calls_run_against_the_app_with_the_official_client(project, tmp_path):
    server = RunningServer("typed", tmp_path / "db.sqlite3").start()
    try:
        done = subprocess.run([sys.executable, "client.py", server.url], cwd=project, capture_output=True, text=True,
                              timeout=120)
    finally:
        server.stop()
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stdout + done.stderr


def test_every_snapshot_api_py_passes_strict_mypy(tmp_path):
    """Each app's generated module is valid, fully typed Python (one mypy run: the modules
    are copied under names of their own)."""
    snapshots = Path(__file__).with_name("snapshots")
    names = []
    for n, path in enumerate(sorted(snapshots.rglob("api.py"))):
        names.append(f"api_{n}.py")
        shutil.copy(path, tmp_path / names[-1])
    assert len(names) >= 15
    status, errors, output = _mypy(tmp_path, *names)
    assert (status, errors) == (0, []), output
