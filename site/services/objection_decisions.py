"""The staff's side of objections (SPEC 12.4): the queue, oldest first with its age in
working days, and the decision, taken once.

`restore` voids the deregistration: the record stays, marked void with who, when and why,
and the permit is current again with its earlier valid-until and continuity. A permit is
the holder's (SPEC 2.1: it has no number of its own), so the restored permit is a new
current row copied from the deregistered one, whose row stays as it was, deregistered: every
reader that asks "is this permit deregistered?" keeps its one simple answer, and the
register keeps what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from epermit import identity, policy, rules
from epermit.acting import StaffActing
from epermit.clock import SHANGHAI
from epermit.models import (
    Address,
    Case,
    Deregistration,
    Objection,
    Organisation,
    Permit,
    Person,
    Staff,
)
from epermit.services import audit, sms
from epermit.services.staff import OutOfScope
from epermit.sql import rowcount, saved_id
from epermit.vocabulary import DECISION_STATUS, ObjectionDecision, ObjectionStatus

NOTE_MAX_CHARS = 500
QUEUE_SHOWN = 200


class DecisionRefused(Exception):
    """Base of the reasons a decision is not taken; nothing is changed."""


class AlreadyDecided(DecisionRefused):
    """Somebody decided first (the database said so); `objection` is what they decided."""

    def __init__(self, objection: Objection) -> None:
        super().__init__(f"objection {objection.id} is {objection.status}")
        self.objection = Objection(**objection.model_dump())


class NoteMissing(DecisionRefused):
    """A decision always says why."""


class NoteTooLong(DecisionRefused):
    def __init__(self, max_chars: int) -> None:
        super().__init__(f"note longer than {max_chars} characters")
        self.max_chars = max_chars


class PermitReplaced(DecisionRefused):
    """The holder has a current permit again (a new application at a counter): there is
    nothing to restore."""


def working_days_since(start: date, today: date) -> int:
    """Working days after `start` up to and including `today`: 0 on the day it was filed."""
    return sum(
        rules.is_working_day(start + timedelta(days=offset))
        for offset in range(1, (today - start).days + 1)
    )


@dataclass(frozen=True)
class ObjectionEntry:
    objection: Objection
    holder: Person
    deregistration: Deregistration
    case: Case  # the objection's own case (YY…)
    declarant: Person
    organisation: Organisation | None
    decider: Staff | None
    district: str
    age_working_days: int


def _query(acting: StaffActing) -> sa.Select:
    declarant = aliased(Person)
    query = (
        sa.select(
            Objection, Person, Deregistration, Case, declarant, Organisation, Staff,
            col(Address.district),
        )
        .join(Permit, col(Permit.id) == col(Objection.permit_id))
        .join(Person, col(Person.id) == col(Permit.person_id))
        .join(Address, col(Address.id) == col(Permit.address_id))
        .join(Deregistration, col(Deregistration.id) == col(Objection.deregistration_id))
        .join(Case, col(Case.id) == col(Objection.case_id))
        .join(declarant, col(declarant.id) == col(Deregistration.declarant_id))
        .outerjoin(Organisation, col(Organisation.id) == col(Deregistration.organisation_id))
        .outerjoin(Staff, col(Staff.id) == col(Objection.decided_by))
    )
    district = policy.staff_district(acting.staff)
    return query.where(col(Address.district) == district) if district is not None else query


def _entry(row: sa.Row, today: date) -> ObjectionEntry:
    objection, holder, deregistration, case, declarant, organisation, decider, district = row
    filed_on = objection.filed_at.astimezone(SHANGHAI).date()
    return ObjectionEntry(
        objection=objection,
        holder=holder,
        deregistration=deregistration,
        case=case,
        declarant=declarant,
        organisation=organisation,
        decider=decider,
        district=district,
        age_working_days=working_days_since(filed_on, today),
    )


def pending(session: Session, acting: StaffActing) -> list[ObjectionEntry]:
    """Pending objections in scope, oldest first (ix_objection_status_filed_at); the view
    is recorded."""
    rows = session.execute(
        _query(acting)
        .where(col(Objection.status) == ObjectionStatus.PENDING)
        .order_by(col(Objection.filed_at), col(Objection.id))
        .limit(QUEUE_SHOWN)
    ).all()
    audit.record(
        session,
        action="staff_viewed_objections",
        actor_id=None,
        subject_id=None,
        staff_id=acting.staff_id,
        client_address=acting.client_address,
        now=acting.now,
    )
    return [_entry(row, acting.today) for row in rows]


def _find(session: Session, acting: StaffActing, objection_id: int) -> ObjectionEntry:
    row = session.execute(_query(acting).where(col(Objection.id) == objection_id)).first()
    if row is None:
        raise OutOfScope()
    return _entry(row, acting.today)


def entry(session: Session, acting: StaffActing, objection_id: int) -> ObjectionEntry:
    """One objection in scope (OutOfScope otherwise); the view is recorded."""
    found = _find(session, acting, objection_id)
    audit.record(
        session,
        action="staff_viewed_objection",
        actor_id=None,
        subject_id=found.holder.id,
        staff_id=acting.staff_id,
        client_address=acting.client_address,
        now=acting.now,
        objection_id=objection_id,
    )
    return found


def _check_note(note: str) -> str:
    note = note.strip()
    if not note:
        raise NoteMissing()
    if len(note) > NOTE_MAX_CHARS:
        raise NoteTooLong(NOTE_MAX_CHARS)
    return note


_SMS_HOLDER = {
    ObjectionStatus.RESTORED: (
        "【广东省电子居住证】您对居住证注销提出的异议（办件编号{reference}）经公安机关审核，"
        "决定撤销该注销。您的居住证已恢复使用，签注有效期和居住年限不变。"
    ),
    ObjectionStatus.UPHELD: (
        "【广东省电子居住证】您对居住证注销提出的异议（办件编号{reference}）经公安机关审核，"
        "决定维持注销。如需继续居住，请到居住地派出所重新申领居住证。"
    ),
}
_SMS_DECLARANT = {
    ObjectionStatus.RESTORED: (
        "【广东省电子居住证】您为{holder}申报的居住证注销（办件编号{reference}）经公安机关审核"
        "已撤销，该居住证恢复使用。如有疑问，请联系居住地派出所。"
    ),
    ObjectionStatus.UPHELD: (
        "【广东省电子居住证】{holder}对您申报的居住证注销（办件编号{reference}）提出异议，"
        "经公安机关审核，决定维持注销。"
    ),
}


def decide(
    session: Session, acting: StaffActing, *, objection_id: int, decision: str, note: str
) -> ObjectionEntry:
    """Decide a pending objection once, in the caller's transaction: the decision, on
    `restore` the void mark and the restored permit, the audit event and both parties' SMS
    together. The conditional UPDATE is the "once": of two decisions only one matches
    `status = 'pending'`; the other is told what was decided (AlreadyDecided)."""
    found = _find(session, acting, objection_id)
    status = DECISION_STATUS[ObjectionDecision(decision)]
    note = _check_note(note)
    taken = rowcount(
        session.execute(
            sa.update(Objection)
            .where(
                col(Objection.id) == objection_id,
                col(Objection.status) == ObjectionStatus.PENDING,
            )
            .values(
                status=status,
                decided_at=acting.now,
                decision_note=note,
                decided_by=acting.staff_id,
            )
        )
    )
    if not taken:
        session.rollback()
        decided = session.get(Objection, objection_id)
        assert decided is not None
        raise AlreadyDecided(decided)
    # The objection's own case (YY…) reads as decided in the holder's case list and receipt.
    session.execute(sa.update(Case).where(col(Case.id) == found.case.id).values(outcome=status))
    if status is ObjectionStatus.RESTORED:
        _restore(session, acting, found, note)
    audit.record(
        session,
        action="staff_decided_objection",
        actor_id=None,
        subject_id=found.holder.id,
        staff_id=acting.staff_id,
        client_address=acting.client_address,
        now=acting.now,
        objection_id=objection_id,
        reference=found.case.reference,
        decision=status.value,
    )
    _tell(session, acting, found, status)
    session.flush()
    session.expire_all()
    return _find(session, acting, objection_id)


def _restore(session: Session, acting: StaffActing, found: ObjectionEntry, note: str) -> None:
    deregistered = session.get(Permit, found.objection.permit_id)
    assert deregistered is not None
    other = session.exec(
        select(Permit.id).where(
            Permit.person_id == deregistered.person_id,
            Permit.is_current,
            col(Permit.id) != deregistered.id,
        )
    ).first()
    if other is not None or not deregistered.is_current:
        raise PermitReplaced()
    # The deregistered row steps aside first: the partial unique index allows one current
    # permit per person at any moment.
    deregistered.is_current = False
    session.flush()
    restored = Permit(
        **deregistered.model_dump(exclude={"id", "is_current", "deregistered"}),
        is_current=True,
        deregistered=False,
    )
    session.add(restored)
    session.flush()
    session.execute(
        sa.update(Deregistration)
        .where(col(Deregistration.id) == found.deregistration.id)
        .values(
            voided_at=acting.now,
            voided_by=acting.staff_id,
            void_note=note,
            restored_permit_id=saved_id(restored),
        )
    )
    audit.record(
        session,
        action="permit_restored",
        actor_id=None,
        subject_id=found.holder.id,
        staff_id=acting.staff_id,
        client_address=acting.client_address,
        now=acting.now,
        deregistration_id=found.deregistration.id,
        permit_id=saved_id(restored),
        valid_until=restored.valid_until.isoformat(),
        continuity_start=restored.continuity_start.isoformat(),
    )


def _tell(
    session: Session, acting: StaffActing, found: ObjectionEntry, status: ObjectionStatus
) -> None:
    """The holder (or, without a phone, whoever filed the objection for them) and the
    declarant; each phone once."""
    filer = session.get(Person, found.case.agent_id)
    holder_phones = [p for p in (found.holder.phone, filer.phone if filer else None) if p]
    sent: set[str] = set()
    for phone in holder_phones:
        if phone not in sent:
            text = _SMS_HOLDER[status].format(reference=found.case.reference)
            sms.queue(session, to=phone, text=text, now=acting.now)
            sent.add(phone)
    declarant_phone = found.declarant.phone
    if declarant_phone and declarant_phone not in sent:
        text = _SMS_DECLARANT[status].format(
            holder=identity.mask_name(found.holder.name), reference=found.case.reference
        )
        sms.queue(session, to=declarant_phone, text=text, now=acting.now)
