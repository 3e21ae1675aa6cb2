"""Budgets of tries shared by several routes or steps (pure data; counted by
epermit.extensions.allowed, per signed-in person and per client address)."""

from __future__ import annotations

from dataclasses import dataclass


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
