"""办理与核验记录 (SPEC 11.2): everything done on or about a person's permit, newest first.

Cases on the permit (whoever made them) and cases the person made for others, staff
decisions on objections, family links involving the person, verifications of their code and
their sign-ins. Each source is read through an index that starts with the person, newest
first, at most a page and one more; the page is the newest of those. A page is found by
keyset (the last entry's time, source and id), never OFFSET, so the thousandth page costs
what the first does, with a thousand permits or ten million.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from epermit.models import Case, FamilyLink, Objection, Person, SignIn, VerificationEvent
from epermit.services.cases import CaseRecord

PAGE_SIZE = 20
# Cursors count whole microseconds from the epoch: exact, where a float timestamp is not.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class Source(IntEnum):
    """What an entry is; its value orders entries of the same moment (and is in the cursor)."""

    CASE = 1  # a case on my permit, or one I made for someone else
    DECISION = 2  # staff decided my objection
    ADDED_ME = 3  # someone put me on their family list
    I_ADDED = 4  # I put someone on my family list
    VERIFICATION = 5  # my code was checked
    SIGN_IN = 6


@dataclass(frozen=True)
class Entry:
    source: Source
    at: datetime
    id: int
    record: CaseRecord | None = None  # CASE, DECISION (the objection's case)
    objection: Objection | None = None  # DECISION
    link: FamilyLink | None = None  # ADDED_ME, I_ADDED
    other: Person | None = None  # the other person of a family link
    device: str | None = None  # SIGN_IN

    @property
    def key(self) -> tuple[datetime, int, int]:
        return (self.at, int(self.source), self.id)


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    next_cursor: str | None  # for the page after this one; None on the last


class BadCursor(ValueError):
    """A cursor this service did not make (edited or truncated)."""


def encode_cursor(key: tuple[datetime, int, int]) -> str:
    at, source, row_id = key
    micros = (at.astimezone(UTC) - _EPOCH) // _MICROSECOND
    raw = f"{micros}.{source}.{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, source, row_id = (int(part) for part in raw.split("."))
        at = _EPOCH + micros * _MICROSECOND
        Source(source)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError, OSError):
        raise BadCursor(cursor) from None
    if not 0 < row_id < 2**63:
        raise BadCursor(cursor)
    return at, source, row_id


def _after(
    source: Source, at_column: Any, id_column: Any, cursor: tuple[datetime, int, int] | None
) -> list[sa.ColumnElement[bool]]:
    """The keyset condition for one source: entries older than the cursor in the listing's
    order (time, then source, then id, all descending)."""
    if cursor is None:
        return []
    at, cursor_source, row_id = cursor
    if source < cursor_source:
        return [at_column <= at]
    if source > cursor_source:
        return [at_column < at]
    return [sa.tuple_(at_column, id_column) < sa.tuple_(sa.literal(at, at_column.type), row_id)]


def page(
    session: Session, person_id: int, *, cursor: str | None = None, size: int = PAGE_SIZE
) -> Page:
    """One page of the person's record, newest first; BadCursor for a cursor not ours."""
    after = decode_cursor(cursor) if cursor else None
    limit = size + 1
    entries: list[Entry] = []
    applicant = aliased(Person)
    agent = aliased(Person)

    def cases_where(condition: sa.ColumnElement[bool]) -> list[Entry]:
        query = (
            select(Case, applicant, agent)
            .join(applicant, col(applicant.id) == Case.applicant_id)
            .join(agent, col(agent.id) == Case.agent_id)
            .where(condition, *_after(Source.CASE, col(Case.created_at), col(Case.id), after))
            .order_by(col(Case.created_at).desc(), col(Case.id).desc())
            .limit(limit)
        )
        return [
            Entry(Source.CASE, case.created_at, case.id, record=CaseRecord(case, app, ag))
            for case, app, ag in session.execute(query).all()
        ]

    # Two index ranges rather than one OR, so each is read newest first and stops early.
    by_id = {e.id: e for e in cases_where(col(Case.applicant_id) == person_id)}
    for entry in cases_where(col(Case.agent_id) == person_id):
        by_id.setdefault(entry.id, entry)
    entries.extend(sorted(by_id.values(), key=lambda e: e.key, reverse=True)[:limit])

    decisions = (
        select(Objection, Case, applicant, agent)
        .join(Case, col(Case.id) == Objection.case_id)
        .join(applicant, col(applicant.id) == Case.applicant_id)
        .join(agent, col(agent.id) == Case.agent_id)
        .where(
            col(Case.applicant_id) == person_id,
            col(Objection.decided_at).is_not(None),
            *_after(Source.DECISION, col(Objection.decided_at), col(Objection.id), after),
        )
        .order_by(col(Objection.decided_at).desc(), col(Objection.id).desc())
        .limit(limit)
    )
    for objection, case, app, ag in session.execute(decisions).all():
        assert objection.decided_at is not None
        entries.append(
            Entry(
                Source.DECISION,
                objection.decided_at,
                objection.id,
                record=CaseRecord(case, app, ag),
                objection=objection,
            )
        )

    other = aliased(Person)
    for source, mine, theirs in (
        (Source.ADDED_ME, FamilyLink.member_id, FamilyLink.person_id),
        (Source.I_ADDED, FamilyLink.person_id, FamilyLink.member_id),
    ):
        links = (
            select(FamilyLink, other)
            .join(other, col(other.id) == theirs)
            .where(
                col(mine) == person_id,
                *_after(source, col(FamilyLink.created_at), col(FamilyLink.id), after),
            )
            .order_by(col(FamilyLink.created_at).desc(), col(FamilyLink.id).desc())
            .limit(limit)
        )
        entries.extend(
            Entry(source, link.created_at, link.id, link=link, other=person)
            for link, person in session.execute(links).all()
        )

    checks = (
        select(VerificationEvent.id, VerificationEvent.checked_at)
        .where(
            col(VerificationEvent.person_id) == person_id,
            *_after(
                Source.VERIFICATION,
                col(VerificationEvent.checked_at),
                col(VerificationEvent.id),
                after,
            ),
        )
        .order_by(col(VerificationEvent.checked_at).desc(), col(VerificationEvent.id).desc())
        .limit(limit)
    )
    entries.extend(
        Entry(Source.VERIFICATION, at, row_id) for row_id, at in session.execute(checks).all()
    )

    sign_ins = (
        select(SignIn.id, SignIn.signed_in_at, SignIn.device)
        .where(
            col(SignIn.person_id) == person_id,
            *_after(Source.SIGN_IN, col(SignIn.signed_in_at), col(SignIn.id), after),
        )
        .order_by(col(SignIn.signed_in_at).desc(), col(SignIn.id).desc())
        .limit(limit)
    )
    entries.extend(
        Entry(Source.SIGN_IN, at, row_id, device=device)
        for row_id, at, device in session.execute(sign_ins).all()
    )

    entries.sort(key=lambda e: e.key, reverse=True)
    shown = entries[:size]
    more = len(entries) > size
    return Page(shown, encode_cursor(shown[-1].key) if more and shown else None)
