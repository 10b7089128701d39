"""The page (web/src, TypeScript) type-checks on the API `prefmem codegen` writes from the
app's validators, so a change to a Python validator that breaks a call of the page fails.

Each test type-checks a copy of web/src with a freshly generated API, with web's own tsc
and tsconfig; `make test` also runs that check before building web/dist.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from prefmem import codegen
from prefmem.functions import load_functions, load_schema
from tests.helpers.server import ROOT
from tests.helpers.typescript import run_tsc

WEB = ROOT / "web"
TSC = WEB / "node_modules" / ".bin" / "tsc"


def _page(folder: Path, app: Path) -> Path:
    """A copy of the page's sources and tsconfig, its API generated from the app at ``app``."""
    if not TSC.exists():
        pytest.fail("web/node_modules has no tsc: run `make test` (it runs npm ci in web/)")
    shutil.copytree(WEB / "src", folder / "src", ignore=shutil.ignore_patterns(codegen.GENERATED_DIR))
    shutil.copy(WEB / "tsconfig.json", folder / "tsconfig.json")
    (folder / "node_modules").symlink_to(WEB / "node_modules", target_is_directory=True)
    codegen.write(folder / "src" / codegen.GENERATED_DIR,
                  codegen.generate(load_functions(app / "functions"), load_schema(app / "schema.py")))
    return folder


def test_the_page_type_checks_on_the_generated_api(tmp_path):
    status, errors, output = run_tsc(TSC, _page(tmp_path / "web", ROOT))
    assert (status, errors) == (0, []), output


def test_a_validator_change_that_breaks_the_page_fails(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(ROOT / "functions", app / "functions", ignore=shutil.ignore_patterns("__pycache__", "_generated"))
    shutil.copy(ROOT / "schema.py", app / "schema.py")
    preferences = app / "functions" / "preferences.py"
    before = '@mutation(args={"enabled": v.boolean()})'
    assert before in preferences.read_text()
    preferences.write_text(preferences.read_text().replace(before, '@mutation(args={"enabled": v.string()})'))
    status, errors, output = run_tsc(TSC, _page(tmp_path / "web", app))
    call = next(n for n, line in enumerate((WEB / "src" / "Shop.tsx").read_text().splitlines(), start=1)
                if "set({ enabled })" in line)
    assert status != 0
    assert [(e.file, e.line, e.code, e.message) for e in errors] == [
        ("src/Shop.tsx", call, "TS2322", "Type 'boolean' is not assignable to type 'string'.")], output
