"""``prefmem codegen`` as a subprocess: where it writes, what it says, and its errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers.server import APPS

SNAPSHOT = Path(__file__).with_name("snapshots") / "apps" / "typed"


def _codegen(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prefmem", "codegen", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def test_defaults_write_beside_the_functions_and_rewrite_only_what_changed(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(APPS / "typed", app)
    first = _codegen(app)
    generated = app / "functions" / "_generated"
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"wrote api.d.ts, api.js, dataModel.d.ts, api.py in {Path('functions') / '_generated'}\n"
    assert {f.name: f.read_text() for f in generated.iterdir()} == {f.name: f.read_text() for f in SNAPSHOT.iterdir()}

    mtimes = {f.name: f.stat().st_mtime_ns for f in generated.iterdir()}
    os.utime(generated / "api.d.ts", ns=(1, 1))  # an mtime no rewrite could keep
    again = _codegen(app)
    assert again.stdout == f"{Path('functions') / '_generated'} is up to date\n"
    assert (generated / "api.d.ts").stat().st_mtime_ns == 1
    assert {f.name: f.stat().st_mtime_ns for f in generated.iterdir() if f.name != "api.d.ts"} == \
        {k: t for k, t in mtimes.items() if k != "api.d.ts"}

    notes = app / "functions" / "notes.py"
    notes.write_text(notes.read_text().replace('"title": v.string(),', '"title": v.optional(v.string()),', 1))
    changed = _codegen(app, "--out", str(tmp_path / "elsewhere"))
    assert changed.stdout == f"wrote api.d.ts, api.js, dataModel.d.ts, api.py in {tmp_path / 'elsewhere'}\n"
    assert "title?: string;" in (tmp_path / "elsewhere" / "api.d.ts").read_text()
    assert "title?: string;" not in (generated / "api.d.ts").read_text()  # --out left the default alone


def test_an_app_without_a_schema_gets_the_loose_data_model(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(APPS / "typed" / "functions", app / "functions")
    done = _codegen(app, "--out", "gen")
    assert done.returncode == 0, done.stderr
    assert "export type DataModel = AnyDataModel;" in (app / "gen" / "dataModel.d.ts").read_text()
    assert 'Id<"notes">' in (app / "gen" / "api.d.ts").read_text()


def test_errors_say_what_is_wrong_and_write_nothing(tmp_path):
    missing = _codegen(tmp_path, "--functions", "nope")
    assert missing.returncode == 1
    assert missing.stderr == "prefmem codegen: functions directory nope does not exist (use --functions DIR)\n"

    app = tmp_path / "app"
    shutil.copytree(APPS / "typed", app)
    (app / "functions" / "broken.py").write_text("from prefmem import query\n\n@query(\ndef nope(:\n")
    broken = _codegen(app)
    assert broken.returncode == 1
    assert broken.stderr.startswith("prefmem codegen: could not load the application: SyntaxError")
    assert not (app / "functions" / "_generated").exists()

    (app / "functions" / "broken.py").unlink()
    (app / "schema.py").write_text("schema = 42\n")
    bad_schema = _codegen(app)
    assert bad_schema.returncode == 1
    assert "schema.py: `schema` must be made by define_schema, got int" in bad_schema.stderr
    assert not (app / "functions" / "_generated").exists()
