"""The headers a stored file is served with, so that none can run as active content.

Files are served from the app's own origin with the content type their uploader chose; an
HTML or SVG file opened from there would run its script next to the page's tokens. So:
``nosniff`` always (a browser never reads a file as another type than the one given); only
types that cannot carry script are shown inline (raster images, PDF, plain text, JSON), and
everything else is a download (``attachment``); and a CSP that allows no script, no loads
and, outside PDFs, sandboxes the document (an opaque origin, even if a browser erred).
Images stay usable in ``<img>`` whatever their type: neither header affects a subresource.
"""

from __future__ import annotations

INLINE_TYPES = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/apng", "image/bmp",
    "image/x-icon", "image/vnd.microsoft.icon",
    "application/pdf",
    "text/plain",
    "application/json",
})

_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
# Chrome will not show a PDF in a sandboxed document; a PDF's own script runs in the viewer,
# never in the page's origin.
_PDF_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; object-src 'self'"


def essence(content_type: str | None) -> str:
    """``"Text/HTML; charset=utf-8"`` -> ``"text/html"``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def serving_headers(content_type: str | None) -> dict[str, str]:
    kind = essence(content_type)
    return {
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": "inline" if kind in INLINE_TYPES else "attachment",
        "Content-Security-Policy": _PDF_CSP if kind == "application/pdf" else _CSP,
    }
