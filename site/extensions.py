"""Flask extensions shared by blueprints, initialised in create_app."""

from __future__ import annotations

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from epermit import identity

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


def phone_key() -> str:
    """Rate-limit key for the number being signed in, whatever way it was typed."""
    raw = request.form.get("phone", "")
    if not raw:
        from flask import session

        raw = session.get("login_phone", "")
    return "phone:" + identity.normalise_phone(raw)
