"""Flask extensions shared by blueprints, initialised in create_app."""

from __future__ import annotations

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from limits import parse_many

from epermit import identity
from epermit.budgets import CONSENT_TRIES, DRAFTS, LOOKUP, Budget

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


# The budgets are pure data (epermit.budgets), so wizard declarations can name them without
# importing Flask; they are counted here.
__all__ = ["CONSENT_TRIES", "DRAFTS", "LOOKUP", "Budget", "allowed", "csrf", "limiter", "phone_key"]


def allowed(budget: Budget, person_id: int, client_address: str | None) -> bool:
    """Count one try against the budget for the person and for their address; False once
    either is over."""
    if not limiter.enabled:
        return True
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "")
    scope, rates = budget.scope, budget.rates
    keys = [f"{scope}:person:{person_id}", f"{scope}:address:{client_address}"]
    # Both counters are hit every time, so one cannot be kept low by resetting the other.
    hits = [limiter.limiter.hit(item, prefix, key) for key in keys for item in parse_many(rates)]
    return all(hits)


def phone_key() -> str:
    """Rate-limit key for the number being signed in, whatever way it was typed."""
    raw = request.form.get("phone", "")
    if not raw:
        from flask import session

        raw = session.get("login_phone", "")
    return "phone:" + identity.normalise_phone(raw)
