"""Response hardening: CSP and security headers, caching, compression, idle sessions."""

from __future__ import annotations

import gzip
import hashlib
from functools import cache
from pathlib import Path

from flask import Flask, Response, abort, g, request, session

from epermit import assets, clock

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
COMPRESSIBLE = {
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/json",
    "image/svg+xml",
    "text/plain",
}
STATIC = Path(__file__).parent / "static"
# Requests that htmx makes on a timer, not the visitor: they must not count as activity, or
# an open page would keep its session alive for ever.
PASSIVE_ENDPOINTS = {"permit.code_live"}
# How stale the session's record of the last activity may get before a request renews it.
# The session is a signed cookie: renewing the record re-signs it and sends it again, which
# on every response cost CPU and about 200 bytes down the wire each time (issue 10).
SEEN_RESOLUTION_SECONDS = 60


@cache
def static_version(filename: str) -> str:
    return hashlib.sha256((STATIC / filename).read_bytes()).hexdigest()[:12]


def init_app(app: Flask) -> None:
    @app.template_global()
    def static_url(filename: str) -> str:
        return f"/static/{filename}?v={static_version(filename)}"

    @app.before_request
    def _refuse_nul_in_path() -> None:
        # No address of ours holds a NUL, and PostgreSQL refuses one in any text it is sent
        # (a draft id, a reference): answer "not found" before it gets that far.
        if "\x00" in request.path:
            abort(404)

    @app.before_request
    def _expire_idle_session() -> None:
        # Files are not activity, and must not carry a renewed session cookie.
        if request.endpoint in ("static", assets.ENDPOINT):
            return
        g.session_expired = False
        seen = session.get("seen")
        moment = clock.epoch()
        if "person_id" in session and seen is not None:
            if moment - seen > app.config["SESSION_IDLE_SECONDS"]:
                session.clear()
                g.session_expired = True
        if "person_id" in session and request.endpoint not in PASSIVE_ENDPOINTS:
            # Renewed at most once a minute: the idle limit then counts from a moment at most
            # a minute before the last request, so an idle session never outlives it, and an
            # active one may end up to a minute early, never later.
            if seen is None or moment - seen >= SEEN_RESOLUTION_SECONDS:
                session["seen"] = moment

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config.get("PRODUCTION"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.endpoint == "static":
            # Immutable only under the address of this very content: a stale or made-up
            # version must not be cached for a year.
            filename = (request.view_args or {}).get("filename", "")
            if response.status_code == 200 and request.args.get("v") == static_version(filename):
                headers["Cache-Control"] = "public, max-age=31536000, immutable"
        elif "Cache-Control" not in headers:
            # Pages carry personal data or form state: never keep them in a shared cache.
            headers["Cache-Control"] = "no-store" if "person_id" in session else "no-cache"
        return _compress(response)


def _compress(response: Response) -> Response:
    if (
        "gzip" not in request.headers.get("Accept-Encoding", "")
        or response.mimetype not in COMPRESSIBLE
        or response.status_code < 200
        or response.status_code in (204, 304)
        or "Content-Encoding" in response.headers
    ):
        return response
    response.direct_passthrough = False
    data = response.get_data()
    if len(data) < 500:
        return response
    response.set_data(gzip.compress(data, compresslevel=6, mtime=0))
    response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    # The ETag described the uncompressed body.
    if response.headers.get("ETag"):
        response.headers["ETag"] = response.headers["ETag"].rstrip('"') + '-gz"'
    return response
