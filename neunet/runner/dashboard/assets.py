"""Owns the dashboard page's files: the HTML, scripts and style of this package and the
vendored chart library (uPlot, `static/vendor/`), served from memory under names that carry
their version or content hash, so browsers cache them for good.

Nothing is fetched from another site: the page works on a machine without internet (a test
checks that the HTML names no external URL).
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

# Folder of the page's own files, and of the vendored chart library.
STATIC_DIR = Path(__file__).with_name("static")
VENDOR_DIR = STATIC_DIR / "vendor"
# Version of the vendored uPlot (its files are named by it; see static/vendor/README.md).
UPLOT_VERSION = "1.6.32"
# The page's own files (served as NAME-<hash>.EXT), and the content type of each extension.
OWN_FILES = ("dashboard.js", "charts.js", "dashboard.css")
TYPES = {".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# Files named by their version or content hash never change; the page itself is revalidated.
CACHE_FOREVER, CACHE_SHORT = "public, max-age=31536000, immutable", "no-cache"
# Headers of every response: no framing, no sniffing, no referrer, scripts only from here.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; "
                                "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                                "connect-src 'self'; frame-ancestors 'none'; form-action 'self'"),
}


class AssetError(RuntimeError):
    """A file the page needs is missing from the installed package."""


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AssetError(f"the dashboard's file {path.name} is missing ({exc.strerror}): "
                         "reinstall neunet") from None


@functools.lru_cache(maxsize=1)
def files() -> dict:
    """Served name -> (bytes, content type, ETag), for every static file."""
    out = {}
    for name in OWN_FILES:
        body = _read(STATIC_DIR / name)
        digest = hashlib.sha256(body).hexdigest()[:12]
        stem, ext = name.rsplit(".", 1)
        out[f"{stem}-{digest}.{ext}"] = (body, TYPES["." + ext], f'"{digest}"')
    for suffix in (".iife.min.js", ".min.css"):
        name = f"uPlot-{UPLOT_VERSION}{suffix}"
        out[name] = (_read(VENDOR_DIR / name), TYPES[Path(suffix).suffix],
                     f'"uplot-{UPLOT_VERSION}"')
    return out


def served_name(name: str) -> str:
    """The versioned name under which an own file (e.g. ``charts.js``) is served."""
    stem, ext = name.rsplit(".", 1)
    return next(n for n in files() if n.startswith(stem + "-") and n.endswith("." + ext)
                and not n.startswith("uPlot-"))


@functools.lru_cache(maxsize=1)
def index_html() -> str:
    """The dashboard page, naming its files by their served names."""
    page = _read(STATIC_DIR / "index.html").decode()
    for name in OWN_FILES:
        page = page.replace("{{" + name + "}}", served_name(name))
    return page.replace("{{UPLOT}}", f"uPlot-{UPLOT_VERSION}")


def static(name: str):
    """(body, content type, Cache-Control, ETag) of a static file, or None for another name."""
    found = files().get(name)
    if found is None:
        return None
    body, kind, etag = found
    return body, kind, CACHE_FOREVER, etag
