"""Flask extensions shared by blueprints, initialised in create_app."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from limits import parse_many

from epermit import identity

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


@dataclass(frozen=True)
class Budget:
    """Tries shared by several routes, or by some steps of a route, which a route decorator
    cannot express: counted per signed-in person and per client address."""

    scope: str
    rates: str


# Looking a person up by name and ID number (naming an applicant in either wizard, adding a
# family member) tells whether such a permit exists, and may send that person an SMS.
LOOKUP = Budget("lookup", "10 per minute;30 per hour")
# Entering a consent code (wizards' consent steps, adding a family member).
CONSENT_TRIES = Budget("consent", "10 per hour;20 per day")
# Starting a wizard: a GET makes a draft, so a script or a cross-site link could make many.
DRAFTS = Budget("draft", "30 per hour;100 per day")


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
