"""Budgets of tries shared by several routes or steps (pure data; counted by
epermit.extensions, per signed-in person).

Signed-in people are counted one by one, never by client address: mobile users in China share
public addresses (carrier-grade NAT), as do offices, schools and internet cafés, so one
person's tries must not use up everyone else's. Anyone who signs in was sent a code to a
registered phone, so a person is a dearer thing to multiply than an address. Lookups and
codes are counted when they fail, not on every submit: a person who types the right name and
ID number, or the right code, spends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """Tries shared by several routes, or by some steps of a route, which a route decorator
    cannot express: counted per signed-in person."""

    scope: str
    rates: str


# Looking a person up by name and ID number (naming an applicant in either wizard, adding a
# family member): a miss tells a prober their guess was wrong; counted on misses.
LOOKUP = Budget("lookup", "10 per minute;30 per hour;100 per day")
# Entering a consent code (wizards' consent steps, adding a family member): wrong codes.
CONSENT_TRIES = Budget("consent", "10 per hour;20 per day")
# Starting a wizard: a GET makes a draft, so a script or a cross-site link could make many.
DRAFTS = Budget("draft", "30 per hour;100 per day")
