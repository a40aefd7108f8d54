"""Owns the dashboard page's files: the HTML, script and style of this package and `plotly.min.js`
from the installed plotly package, served from memory with their caching headers.

Nothing is fetched from another site: the page works on a machine without internet (a test
checks that the HTML names no external URL).
"""
from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
from pathlib import Path

# Folder of the page's own files.
STATIC_DIR = Path(__file__).with_name("static")
# The page's own files: name -> content type.
OWN_FILES = {"dashboard.js": "application/javascript", "dashboard.css": "text/css"}
# Cache-Control of plotly (named by its version: never changes) and of the page's own files.
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
    """A file the page needs is missing (plotly not installed)."""


@functools.lru_cache(maxsize=1)
def plotly_js() -> tuple[str, bytes]:
    """(file name with plotly's version, bytes of plotly.min.js) from the installed package."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise AssetError("the dashboard needs the plotly package: pip install plotly")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise AssetError(f"plotly is installed without {path.name} (expected at {path})")
    version = importlib.metadata.version("plotly")
    return f"plotly-{version}.min.js", path.read_bytes()


@functools.lru_cache(maxsize=4)
def _own(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()


def index_html() -> str:
    """The dashboard page, naming the versioned plotly file."""
    name, _ = plotly_js()
    return (STATIC_DIR / "index.html").read_text().replace("{{PLOTLY_JS}}", name)


def static(name: str):
    """(body, content type, Cache-Control) of a static file, or None for an unknown name."""
    if name in OWN_FILES:
        return _own(name), OWN_FILES[name], CACHE_SHORT
    plotly_name, body = plotly_js()
    if name == plotly_name:
        return body, "application/javascript", CACHE_FOREVER
    return None
