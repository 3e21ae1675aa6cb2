"""Objections to a deregistration (SPEC 11.1), as the holder files them; the staff's
decision (12.4) is `objection_decisions.decide`.

A deregistration someone else declared ends a permit at once; the holder (or a family
member through 切换) may object within 30 days. The objection is its own case (`YY…`),
pending until the staff decide. "One per deregistration" holds in the database: a unique key
on the deregistration.

Refusals are typed; views turn each into a Chinese message. Filing writes in the caller's
transaction, which the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from epermit import identity, policy, rules
from epermit.acting import Acting
from epermit.models import Case, Deregistration, Objection, Organisation, Person
from epermit.services import audit, permits, sms
from epermit.services.references import new_reference
from epermit.sql import saved_id
from epermit.vocabulary import (
    CaseKind,
    DeclarantRole,
    ObjectionStatus,
)

STATEMENT_MAX_CHARS = 500

# The SMS texts, composed where the message is queued (SPEC 5), like the other services'.
_FILED_SMS = (
    "【广东省电子居住证】已收到{filer}对注销您居住证的异议，办件编号{reference}。"
    "派出所将尽快处理并以短信告知结果。"
)
_FILED_FOR_SMS = (
    "【广东省电子居住证】已收到您为{holder}提出的居住证注销异议，办件编号{reference}。"
    "派出所将尽快处理并以短信告知结果。"
)
class ObjectionRefused(Exception):
    """Base of every reason an objection is not taken."""


class NotDeregistered(ObjectionRefused):
    """The permit is not deregistered (or there is no permit): nothing to object to."""


class OwnDeclaration(ObjectionRefused):
    """The holder declared it themself, or the objector is the one who declared it."""


class ObjectionPeriodOver(ObjectionRefused):
    """More than 30 days since the declaration; `deadline` was the last day."""

    def __init__(self, deadline: date) -> None:
        super().__init__(f"objection period ended on {deadline}")
        self.deadline = deadline


class AlreadyObjected(ObjectionRefused):
    """This deregistration has its objection already; `reference` is its case."""

    def __init__(self, reference: str) -> None:
        super().__init__(reference)
        self.reference = reference


class StatementEmpty(ObjectionRefused):
    pass


class StatementTooLong(ObjectionRefused):
    pass


@dataclass(frozen=True)
class Objectable:
    """A deregistration the viewer may object to, and until when."""

    deregistration: Deregistration
    declarant: Person
    organisation: Organisation | None
    deadline: date  # the last day


def objection_of(session: Session, deregistration_id: int) -> tuple[Objection, Case] | None:
    row = session.exec(
        select(Objection, Case)
        .join(Case, col(Case.id) == Objection.case_id)
        .where(Objection.deregistration_id == deregistration_id)
    ).first()
    return (row[0], row[1]) if row else None


def objectable(session: Session, acting: Acting, holder_id: int) -> Objectable:
    """The deregistration of the holder's permit the actor may object to now, or why not.
    Only reads; `file` asks it again inside its transaction."""
    policy.objecting_basis(session, acting.person_id, holder_id)
    permit = permits.current_permit(session, holder_id)
    deregistration = (
        session.exec(
            select(Deregistration).where(Deregistration.permit_id == permit.id)
        ).first()
        if permit is not None
        else None
    )
    if deregistration is None:
        raise NotDeregistered()
    if deregistration.declarant_id in (holder_id, acting.person_id) or (
        deregistration.declarant_role == DeclarantRole.SELF
    ):
        raise OwnDeclaration()
    existing = objection_of(session, saved_id(deregistration))
    if existing is not None:
        raise AlreadyObjected(existing[1].reference)
    deadline = rules.objection_deadline(deregistration.declared_at)
    if acting.today > deadline:
        raise ObjectionPeriodOver(deadline)
    declarant = session.get(Person, deregistration.declarant_id)
    assert declarant is not None
    organisation = (
        session.get(Organisation, deregistration.organisation_id)
        if deregistration.organisation_id is not None
        else None
    )
    return Objectable(deregistration, declarant, organisation, deadline)


def _statement(text: str) -> str:
    statement = text.strip()
    if not statement:
        raise StatementEmpty()
    if len(statement) > STATEMENT_MAX_CHARS:
        raise StatementTooLong()
    return statement


def file(session: Session, acting: Acting, *, holder_id: int, statement: str) -> Case:
    """File the objection: its case, the objection row, audit event and SMS together.

    Of two concurrent filings the unique deregistration key lets one in; the other's writes
    are undone to a savepoint and it is told the winner's reference.
    """
    target = objectable(session, acting, holder_id)
    text = _statement(statement)
    deregistration = target.deregistration
    holder = session.get(Person, holder_id)
    declared = session.get(Case, deregistration.case_id)
    assert holder is not None and declared is not None
    now = acting.now
    try:
        with session.begin_nested():
            case = Case(
                reference=new_reference(CaseKind.OBJECTION, acting.today),
                kind=CaseKind.OBJECTION,
                permit_id=deregistration.permit_id,
                applicant_id=holder_id,
                agent_id=acting.person_id,
                outcome=ObjectionStatus.PENDING,
                details={
                    "deregistration_reference": declared.reference,
                    "declarant_role": deregistration.declarant_role,
                    "statement": text,
                },
                created_at=now,
            )
            session.add(case)
            session.flush()
            session.add(
                Objection(
                    deregistration_id=saved_id(deregistration),
                    case_id=saved_id(case),
                    permit_id=deregistration.permit_id,
                    statement=text,
                    status=ObjectionStatus.PENDING,
                    filed_at=now,
                    # A deregistered permit moves no more: the decision is counted there too.
                    district=deregistration.district,
                )
            )
            session.flush()
    except sa.exc.IntegrityError:
        winner = objection_of(session, saved_id(deregistration))
        if winner is None:
            raise
        raise AlreadyObjected(winner[1].reference) from None
    audit.record(
        session,
        action="objection_filed",
        actor_id=acting.person_id,
        subject_id=holder_id,
        client_address=acting.client_address,
        now=now,
        reference=case.reference,
        deregistration_reference=declared.reference,
    )
    if holder.phone:
        filer = "您" if acting.person_id == holder_id else identity.mask_name(acting.person.name)
        sms.queue(
            session,
            to=holder.phone,
            text=_FILED_SMS.format(filer=filer, reference=case.reference),
            now=now,
        )
    elif acting.person.phone:
        # A holder without a phone (a child) hears of it through whoever filed it for them.
        sms.queue(
            session,
            to=acting.person.phone,
            text=_FILED_FOR_SMS.format(holder=holder.name, reference=case.reference),
            now=now,
        )
    return case


@dataclass(frozen=True)
class DeclaredBy:
    """Who deregistered a permit and what became of the objection (SPEC 11.1: /permit shows
    it when someone else declared it)."""

    deregistration: Deregistration
    declarant: Person
    organisation: Organisation | None
    by_someone_else: bool
    objection: Objection | None
    objection_reference: str | None
    deadline: date
    may_object: bool  # the viewer may object now


def declared_by(session: Session, acting: Acting, deregistration: Deregistration) -> DeclaredBy:
    permit_holder = session.exec(
        select(Case.applicant_id).where(Case.id == deregistration.case_id)
    ).one()
    declarant = session.get(Person, deregistration.declarant_id)
    assert declarant is not None
    organisation = (
        session.get(Organisation, deregistration.organisation_id)
        if deregistration.organisation_id is not None
        else None
    )
    existing = objection_of(session, saved_id(deregistration))
    try:
        objectable(session, acting, permit_holder)
        may_object = True
    except (ObjectionRefused, policy.NotAllowed):
        may_object = False
    return DeclaredBy(
        deregistration=deregistration,
        declarant=declarant,
        organisation=organisation,
        by_someone_else=deregistration.declarant_id != permit_holder,
        objection=existing[0] if existing else None,
        objection_reference=existing[1].reference if existing else None,
        deadline=rules.objection_deadline(deregistration.declared_at),
        may_object=may_object,
    )
