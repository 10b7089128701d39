"""Serving a built web page (``prefmem dev --web DIR``) from the same origin as the API.

Static files are the last resort: the runtime's routes and the app's HTTP actions are
matched first, and only a GET / HEAD that nothing else answers is looked up in the
directory (``/`` is ``index.html``). Paths are resolved and must stay inside the
directory. Vite puts content-hashed files under ``assets/``: those may be cached for
good; everything else (``index.html``) is revalidated on each load.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

DEFAULT_WEB_DIR = Path("web") / "dist"


def default_web_dir() -> Path | None:
    """``./web/dist`` when it holds a built page, else None."""
    return DEFAULT_WEB_DIR if (DEFAULT_WEB_DIR / "index.html").is_file() else None


def static_response(web_dir: Path | None, request: Request, prefix: str = "") -> Response | None:
    """The file of ``web_dir`` a GET asks for; a page mounted under ``prefix`` (the
    dashboard's ``/_dashboard``) has its files asked for below it."""
    if web_dir is None or request.method not in ("GET", "HEAD"):
        return None
    root = web_dir.resolve()
    path = request.url.path
    if not path.startswith(prefix):
        return None
    rel = path[len(prefix):].lstrip("/") or "index.html"
    try:
        target = (root / rel).resolve()
        if not target.is_relative_to(root):
            return None
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            return None
    except (OSError, ValueError):  # a name too long for the filesystem, a NUL byte: no such file
        return None
    immutable = target.parent == root / "assets"
    cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
    return FileResponse(target, headers={"Cache-Control": cache})
