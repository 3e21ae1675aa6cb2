"""Flask extensions shared by blueprints, initialised in create_app."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from limits import parse_many

from epermit.budgets import CONSENT_TRIES, DRAFTS, LOOKUP, Budget

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


# The budgets are pure data (epermit.budgets), so wizard declarations can name them without
# importing Flask; they are counted here.
__all__ = [
    "CONSENT_TRIES",
    "DRAFTS",
    "LOOKUP",
    "Budget",
    "allowed",
    "csrf",
    "limiter",
    "spend",
    "within",
]


def _counters(budget: Budget, person_id: int) -> list[tuple[Any, str, str]]:
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX", "")
    key = f"{budget.scope}:person:{person_id}"
    return [(item, prefix, key) for item in parse_many(budget.rates)]


def within(budget: Budget, person_id: int) -> bool:
    """Whether the person has tries left, without spending one."""
    if not limiter.enabled:
        return True
    return all(limiter.limiter.test(item, *keys) for item, *keys in _counters(budget, person_id))


def spend(budget: Budget, person_id: int) -> None:
    """Count one try (a failed one: a lookup that missed, a wrong code)."""
    if limiter.enabled:
        for item, *keys in _counters(budget, person_id):
            limiter.limiter.hit(item, *keys)


def allowed(budget: Budget, person_id: int) -> bool:
    """Count one try and say whether it was within the budget (for what always counts, such
    as starting a draft)."""
    if not limiter.enabled:
        return True
    # Every rate is hit, so one cannot be kept low by resetting another.
    hits = [limiter.limiter.hit(item, *keys) for item, *keys in _counters(budget, person_id)]
    return all(hits)
