"""Case reference numbers (SPEC 4.6): prefix, date, six random characters, check character.

A prefix per case kind (epermit.vocabulary: QZ 签注, ZX 注销, BG 变更, YY 异议), the date
as YYYYMMDD, six random characters, one check character.
"""

from __future__ import annotations

import secrets
from datetime import date

from epermit.vocabulary import REFERENCE_PREFIXES, CaseKind

# References are read aloud over the phone and copied by hand: of each group of characters
# easily taken for one another (0 O Q, 1 I L, 5 S, 8 B, 2 Z, U V) at most one is used.
# 23 characters: a prime count, which the check below needs.
ALPHABET = "234679ACDEFGHJKMNPRTWXY"
_DATE = slice(2, 10)
_RANDOM = slice(10, 16)


def _values(body: str) -> list[int]:
    """Each character's value by what its position holds: date digits as numbers, random
    characters by their place in ALPHABET. Both stay below 23, so no single mistyped
    character can change the sum by a multiple of 23."""
    values = [ord(c) for c in body[:2]]
    values += [int(c) for c in body[_DATE]]
    values += [ALPHABET.index(c) for c in body[_RANDOM]]
    return values


def check_character(body: str) -> str:
    """Weighted sum modulo 23: any one wrong character, and any swap of two different
    neighbours within the date or the random part, gives another check character."""
    total = sum((i + 1) * v for i, v in enumerate(_values(body)))
    return ALPHABET[total % len(ALPHABET)]


def new_reference(kind: CaseKind | str, today: date) -> str:
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(6))
    body = f"{REFERENCE_PREFIXES[CaseKind(kind)]}{today:%Y%m%d}{random_part}"
    return body + check_character(body)


def is_well_formed(reference: str) -> bool:
    if len(reference) != 17 or reference[:2] not in REFERENCE_PREFIXES.values():
        return False
    if not reference[_DATE].isascii() or not reference[_DATE].isdigit():
        return False
    if any(c not in ALPHABET for c in reference[10:]):
        return False
    return check_character(reference[:16]) == reference[16]
