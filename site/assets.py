"""The one script (SPEC 8): vendored htmx and static/site.js, served as ONE file.

SPEC 8 allows one script, deferred and cached as immutable; site.js (the timeout warning, the
live region, error-summary links) is ours, htmx is vendored, and both stay separate files in
static/ so that either can be read, replaced or diffed alone. Joined here once, at start-up,
and compressed once at the strongest level: one request instead of two on a cold first visit
(on 2G each response also costs its headers), no gzip per request, and nothing inline, so the
Content-Security-Policy stays `script-src 'self'`.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flask import Flask, Response, request

STATIC = Path(__file__).parent / "static"
# In this order: site.js listens to htmx's events, and a deferred script runs after parsing,
# when <body> exists.
PARTS = ("htmx.min.js", "site.js")
SCRIPT = "app.js"  # its address, /static/app.js, names no file: it is built from PARTS
ENDPOINT = "script"
YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class Bundle:
    body: bytes
    gzipped: bytes
    version: str  # of this very content: a new deploy is a new address


@cache
def script() -> Bundle:
    # Each part ends its own statements: `;` guards against one that does not.
    body = b"".join((STATIC / part).read_bytes().rstrip() + b"\n;\n" for part in PARTS)
    return Bundle(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        version=hashlib.sha256(body).hexdigest()[:12],
    )


def script_url() -> str:
    return f"/static/{SCRIPT}?v={script().version}"


def init_app(app: Flask) -> None:
    script()  # built before the first request, not during it

    @app.template_global()
    def script_src() -> str:
        """The address of the one script (layouts/full.html, staff_full.html)."""
        return script_url()

    # A rule without converters is matched before the static folder's `<path:filename>`.
    @app.get(f"/static/{SCRIPT}", endpoint=ENDPOINT)
    def serve_script() -> Response:
        bundle = script()
        gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
        response = Response(
            bundle.gzipped if gzipped else bundle.body, mimetype="text/javascript"
        )
        response.vary.add("Accept-Encoding")
        if gzipped:
            response.headers["Content-Encoding"] = "gzip"
        # Immutable only under the address of this very content: a stale or made-up version
        # must not be cached for a year (as security.py does for static files).
        response.headers["Cache-Control"] = (
            f"public, max-age={YEAR}, immutable"
            if request.args.get("v") == bundle.version
            else "no-cache"
        )
        return response
