"""The shopper page in a real browser: a `prefmem dev` process serving the repository's app
(on a temporary database with a small seeded catalogue) and its built page (web/dist),
driven by Debian's chromium through Playwright's Python package.

`make test` builds web/dist and installs chromium first; run alone, these tests fail with a
message saying what is missing rather than skipping silently.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers.server import ROOT, RunningServer

WEB_DIST = ROOT / "web" / "dist"
ARTIFACTS = ROOT / "test-artifacts" / "web"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SEED_PRODUCTS = 400


class PageServer(RunningServer):
    """`python -m prefmem dev` on the repository's app and its built page; restartable on the
    same port and database."""

    def __init__(self, db: Path, log: Path) -> None:
        super().__init__(ROOT, db, extra=["--web", str(WEB_DIST)], log=log)

    def call(self, kind: str, path: str, args: dict, token: str) -> object:
        """A function call over the HTTP API as the shopper holding ``token``."""
        r = httpx.post(f"{self.url}/api/{kind}", json={"path": path, "args": args, "format": "convex_encoded_json"},
                       headers={"Authorization": f"Bearer {token}"}, timeout=20)
        body = r.json()
        assert r.status_code == 200 and body.get("status") == "success", f"{path}: {r.status_code} {body}"
        return body["value"]


@pytest.fixture(scope="module")
def page_server(tmp_path_factory):
    if not (WEB_DIST / "index.html").is_file():
        pytest.fail("web/dist is not built: run `make test` (it runs npm ci and vite build in web/)")
    if not (ROOT / "functions" / "auth_config.py").is_file():
        pytest.fail("functions/auth_config.py is missing: the page signs in with the built-in password provider")
    tmp = tmp_path_factory.mktemp("web")
    db = tmp / "data.sqlite3"
    seeded = subprocess.run([sys.executable, "-m", "prefmem", "run", "catalog:seed_if_empty",
                             f'{{"count": {SEED_PRODUCTS}}}', "--db", str(db)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    server = PageServer(db, tmp / "server.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("chromium is not installed: run `make test` (it installs Debian's chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
