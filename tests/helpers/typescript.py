"""A TypeScript project in a temporary folder: an app's generated API, fixtures from
tests/codegen/ts, and the npm packages of tests/js (the official `convex` client and `tsc`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from prefmem import codegen
from prefmem.functions import load_functions, load_schema
from tests.helpers.server import ROOT

FIXTURES = ROOT / "tests" / "codegen" / "ts"
NODE_MODULES = ROOT / "tests" / "js" / "node_modules"
TSC = NODE_MODULES / ".bin" / "tsc"
_DIAGNOSTIC = re.compile(r"^(?P<file>[^(\s]+)\((?P<line>\d+),(?P<col>\d+)\): error (?P<code>TS\d+): (?P<message>.*)$")


@dataclass(frozen=True)
class Diagnostic:
    file: str
    line: int
    code: str
    message: str  # with the indented lines of detail that follow it


def typescript_folder(folder: Path) -> Path:
    """``folder`` with the fixtures and ``node_modules``."""
    if not TSC.exists():
        pytest.fail("tests/js/node_modules has no tsc: run `make test` (it runs npm ci in tests/js)")
    folder.mkdir(parents=True, exist_ok=True)
    for fixture in FIXTURES.iterdir():
        shutil.copy(fixture, folder / fixture.name)
    (folder / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    return folder


def typescript_project(folder: Path, app: Path) -> Path:
    """``folder`` with the fixtures, ``node_modules`` and ``_generated`` from the app at ``app``."""
    typescript_folder(folder)
    codegen.write(folder / codegen.GENERATED_DIR,
                  codegen.generate(load_functions(app / "functions"), load_schema(app / "schema.py")))
    return folder


def tsc(project: Path, *files: str, emit: bool = False) -> tuple[int, list[Diagnostic], str]:
    """Type-check ``files`` with the fixtures' compiler options (compiling them next to
    themselves when ``emit``): the exit status, the errors and the whole output."""
    (project / "tsconfig.json").write_text(json.dumps({"extends": "./tsconfig.base.json", "files": list(files)}))
    return run_tsc(TSC, project, *([] if emit else ["--noEmit"]))


def run_tsc(compiler: Path, project: Path, *options: str) -> tuple[int, list[Diagnostic], str]:
    """``compiler -p project/tsconfig.json``: the exit status, the errors and the whole output."""
    done = subprocess.run([str(compiler), "-p", "tsconfig.json", *options], cwd=project, capture_output=True,
                          text=True, timeout=120)
    output = done.stdout + done.stderr
    errors: list[Diagnostic] = []
    for line in output.splitlines():
        found = _DIAGNOSTIC.match(line)
        if found:
            errors.append(Diagnostic(found["file"], int(found["line"]), found["code"], found["message"]))
        elif line.startswith(" ") and errors:
            last = errors[-1]
            errors[-1] = Diagnostic(last.file, last.line, last.code, f"{last.message}\n{line.strip()}")
    return done.returncode, errors, output
