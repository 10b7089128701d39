"""Placeholder product images (tiny SVGs named by category and colour) and photo checks.

The seeded catalogue has no photographs, so each (category, first colour) pair gets one
generated image in file storage, shared by its products (a few hundred files, not one per
product). A shopper's inspiration photo must be a raster image: ``sniff_image`` tells
which one its bytes are, whatever type the upload claimed.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

SWATCH = {
    "black": "#1d1d1f", "white": "#f5f5f2", "navy": "#1f2a4d", "grey": "#8a8d91", "beige": "#d9c8a9",
    "blue": "#3b6fb6", "brown": "#6b4a2f", "green": "#3f7d4e", "red": "#c0392b", "pink": "#e8a0b4",
    "cream": "#f3ead3", "burgundy": "#7a1f33", "olive": "#6b6b2e", "yellow": "#f1c40f", "purple": "#7d4e9e",
    "orange": "#e67e22", "camel": "#c19a6b", "khaki": "#b5a76c",
}


def image_key(product: dict) -> str:
    color = (product.get("colors") or ["none"])[0]
    return f"{product.get('category', 'item')}/{color}"


def placeholder_svg(category: str, color: str) -> bytes:
    fill = SWATCH.get(color, "#b0b0b0")
    ink = "#ffffff" if color in ("black", "navy", "burgundy", "brown", "purple", "green", "olive", "red", "blue") \
        else "#222222"
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="300" viewBox="0 0 240 300">'
        f'<rect width="240" height="300" fill="{fill}"/>'
        f'<text x="120" y="150" font-family="sans-serif" font-size="22" fill="{ink}" text-anchor="middle">'
        f'{escape(category)}</text>'
        f'<text x="120" y="180" font-family="sans-serif" font-size="14" fill="{ink}" text-anchor="middle">'
        f'{escape(color)}</text></svg>'
    ).encode()


MAX_PHOTO_BYTES = 10 * 1024 * 1024
PHOTO_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/avif")


def sniff_image(data: bytes) -> str | None:
    """The raster image type ``data`` starts like (its file signature), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return "image/avif"
    return None
