"""The generated API in `tsc`: right calls of tests/apps/typed pass, wrong ones fail with the
expected error (ts/wrong.ts says which, line by line)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.helpers.server import APPS
from tests.helpers.typescript import FIXTURES, tsc, typescript_project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return typescript_project(tmp_path_factory.mktemp("typed") / "ts", APPS / "typed")


def test_right_calls_type_check(project):
    status, errors, output = tsc(project, "client.ts")
    assert (status, errors) == (0, []), output


def _expectations() -> dict[int, tuple[str, str]]:
    """``line -> (code, text)`` for each ``// expect: CODE text`` comment of wrong.ts (it names the next line)."""
    expected = {}
    for number, line in enumerate((FIXTURES / "wrong.ts").read_text().splitlines(), start=1):
        found = re.match(r"\s*// expect: (TS\d+) (.*)$", line)
        if found:
            expected[number + 1] = (found[1], found[2])
    return expected


def test_wrong_calls_fail_with_the_expected_errors(project):
    expected = _expectations()
    assert len(expected) >= 15
    status, errors, output = tsc(project, "wrong.ts")
    assert status != 0
    reported = {e.line: e for e in errors}
    assert all(e.file == "wrong.ts" for e in errors), output
    assert sorted(reported) == sorted(expected), output
    for line, (code, text) in expected.items():
        assert reported[line].code == code and text in reported[line].message, (line, reported[line], output)


def test_a_changed_validator_breaks_the_call_that_no_longer_fits(project, tmp_path):
    """The point of it all: edit a Python validator, regenerate, and tsc finds the callers."""
    app = tmp_path / "typed"
    shutil.copytree(APPS / "typed", app)
    source = app / "functions" / "notes.py"
    before = '@query(args={"views": v.int64()}'
    assert before in source.read_text()
    source.write_text(source.read_text().replace(before, '@query(args={"views": v.float64()}'))
    changed = typescript_project(tmp_path / "ts", app)
    status, errors, output = tsc(changed, "client.ts")
    assert status != 0
    call = next(n for n, line in enumerate((FIXTURES / "client.ts").read_text().splitlines(), start=1)
                if "api.notes.viewed_at_least, { views: 3n }" in line)
    assert [(e.file, e.line, e.code, e.message) for e in errors] == [
        ("client.ts", call, "TS2322", "Type 'bigint' is not assignable to type 'number'.")], output


def test_every_snapshot_compiles(project, tmp_path):
    """The declarations of every app in tests/codegen/snapshots pass tsc (skipLibCheck off)."""
    snapshots = Path(__file__).with_name("snapshots")
    names = []
    for api in sorted(snapshots.rglob("api.d.ts")):
        target = project / "snapshots" / api.parent.relative_to(snapshots)
        shutil.copytree(api.parent, target, dirs_exist_ok=True)
        names += [f"{target.relative_to(project).as_posix()}/{f}" for f in ("api.d.ts", "dataModel.d.ts")]
    assert len(names) >= 20
    status, errors, output = tsc(project, *names)
    assert (status, errors) == (0, []), output
