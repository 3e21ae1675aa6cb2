"""Case reference numbers (SPEC 4.6): prefix, date, six random characters, check character."""

from __future__ import annotations

import secrets
from datetime import date

# No 0/O, 1/I/L, 5/S or 8/B: references are read aloud over the phone and copied by hand.
ALPHABET = "234679ACDEFGHJKMNPQRTUVWXYZ"
PREFIXES = {"endorse": "QZ", "deregister": "ZX"}


def check_character(body: str) -> str:
    """Weighted sum over the body, so a swap of two neighbours changes the result."""
    values = [
        ALPHABET.index(c) if c in ALPHABET else int(c) if c.isdigit() else ord(c) for c in body
    ]
    total = sum((i + 1) * v for i, v in enumerate(values))
    return ALPHABET[total % len(ALPHABET)]


def new_reference(kind: str, today: date) -> str:
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(6))
    body = f"{PREFIXES[kind]}{today:%Y%m%d}{random_part}"
    return body + check_character(body)


def is_well_formed(reference: str) -> bool:
    if len(reference) != 17 or reference[:2] not in PREFIXES.values():
        return False
    if not reference[2:10].isdigit() or any(c not in ALPHABET for c in reference[10:]):
        return False
    return check_character(reference[:16]) == reference[16]
