"""Response hardening: CSP and security headers, caching, compression, idle sessions."""

from __future__ import annotations

import gzip
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, g, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

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


class _KeyOnceSigner(TimestampSigner):
    """itsdangerous' signer, deriving the key from the secret and salt once rather than
    on every signature made or checked."""

    _derived: dict[tuple[bytes, bytes, str, Any], bytes] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        key = secret_key if secret_key is not None else self.secret_keys[-1]
        raw = key.encode() if isinstance(key, str) else key
        cache_key = (raw, self.salt, self.key_derivation, self.digest_method)
        derived = self._derived.get(cache_key)
        if derived is None:
            derived = self._derived[cache_key] = super().derive_key(secret_key)
        return derived


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, its serializer made once per set of keys: Flask makes
    one (and derives its key) twice a request, to read the cookie and to write it."""

    def __init__(self) -> None:
        self._serializers: dict[tuple[Any, ...], URLSafeTimedSerializer] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        fallbacks = tuple(app.config["SECRET_KEY_FALLBACKS"] or ())
        keys = (*fallbacks, app.secret_key)  # itsdangerous expects the current key last
        serializer = self._serializers.get(keys)
        if serializer is None:
            serializer = self._serializers[keys] = URLSafeTimedSerializer(
                list(keys),
                salt=self.salt,
                serializer=self.serializer,
                signer=_KeyOnceSigner,
                signer_kwargs={
                    "key_derivation": self.key_derivation,
                    "digest_method": self.digest_method,
                },
            )
        return serializer


def init_app(app: Flask) -> None:
    app.session_interface = SessionInterface()

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

    # What every response carries unless its view set it otherwise.
    defaults = [
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        # The names the response has already, read once: each `setdefault` would compare
        # every header's lower-cased name again.
        present = {name.lower() for name, _ in headers}
        for name, value in defaults:
            if name.lower() not in present:
                headers.add(name, value)
        if app.config.get("PRODUCTION") and "strict-transport-security" not in present:
            headers.add("Strict-Transport-Security", "max-age=31536000")
        if request.endpoint == "static":
            # Immutable only under the address of this very content: a stale or made-up
            # version must not be cached for a year.
            filename = (request.view_args or {}).get("filename", "")
            if response.status_code == 200 and request.args.get("v") == static_version(filename):
                headers["Cache-Control"] = "public, max-age=31536000, immutable"
        elif "cache-control" not in present:
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
