"""Deregistration (注销, SPEC 2.8): who may declare it for whom, and recording it once.

A declarant is the holder, a family member (2.10), or the landlord, employer, school or hotel
recorded on the holder's registration. Persons are identified by name + 公民身份号码 and
organisations by 统一社会信用代码, and the declared identity must be the signed-in account's,
so nobody can borrow a role by typing in someone else's details.

Refusals are typed exceptions; the view layer turns each into a Chinese message. `authorise`
only reads; `declare` writes in the caller's transaction, which the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from epermit import identity, policy
from epermit.acting import Acting
from epermit.models import Case, Deregistration, Permit, Person
from epermit.services import audit, family, move, permits
from epermit.services.references import new_reference
from epermit.sql import saved_id
from epermit.vocabulary import ORGANISATION_ROLES, CaseKind, DeclarantRole, Reason

__all__ = [
    "REASON_DETAIL_MAX_CHARS",
    "AlreadyDeregistered",
    "DeclarantMismatch",
    "Declaration",
    "DeregistrationRefused",
    "DirectLinkCannotDeregister",
    "LeaveDateBeforeIssue",
    "LeaveDateInFuture",
    "NoPermit",
    "NotFamilyMember",
    "NotOperator",
    "NotRecordedLandlord",
    "NotRecordedOrganisation",
    "ReasonDetailMissing",
    "ReasonDetailTooLong",
    "UnknownOrganisation",
    "authorise",
    "check_declarant_person",
    "check_relation",
    "declare",
    "deregistration_of",
]

# Deregistration.reason_detail's column width; PostgreSQL would refuse anything longer.
REASON_DETAIL_MAX_CHARS = 200

# The one text in this module: the SMS to the holder, which, like the other services' SMS,
# is composed where the message is queued (SPEC 5: in the same transaction as the change).
_SMS_TEXT = (
    "【广东省电子居住证】{declarant}已申报注销您的居住证，居住证自即日起停止使用。"
    "办件编号{reference}。如有异议，请联系居住地派出所。"
)

_SMS_TO_LISTER = (
    "【广东省电子居住证】{declarant}已申报注销您的家庭成员{member}的居住证，该居住证自即日起"
    "停止使用。办件编号{reference}。如有异议，请联系居住地派出所。"
)

# Who may declare for whom is the policy module's; its refusals are named here too, so that
# callers of this service catch them by the service's name.
NotFamilyMember = policy.NotFamilyMember
DeclarantMismatch = policy.DeclarantMismatch
NotRecordedLandlord = policy.NotRecordedLandlord
NotRecordedOrganisation = policy.NotRecordedOrganisation
UnknownOrganisation = policy.UnknownOrganisation
NotOperator = policy.NotOperator
DirectLinkCannotDeregister = policy.DirectLinkCannotDeregister


# --- Refusals --------------------------------------------------------------------------------


class DeregistrationRefused(Exception):
    """Base of every reason a deregistration is refused other than who may declare it
    (policy.NotAllowed); views map each to a message."""


class NoPermit(DeregistrationRefused):
    """The applicant holds no current permit."""


class AlreadyDeregistered(DeregistrationRefused):
    """The permit was deregistered before; `deregistration` says when and by whom."""

    def __init__(self, deregistration: Deregistration) -> None:
        super().__init__(f"permit {deregistration.permit_id} is already deregistered")
        # A copy outside the session, so it stays readable after the caller rolls back.
        self.deregistration = Deregistration(**deregistration.model_dump())


class LeaveDateInFuture(DeregistrationRefused):
    """Only a departure that has happened (today at the latest) can be declared."""


class LeaveDateBeforeIssue(DeregistrationRefused):
    """The holder cannot have left before the permit was issued; `issue_date` says when."""

    def __init__(self, issue_date: date) -> None:
        super().__init__(f"leave date before the issue date {issue_date.isoformat()}")
        self.issue_date = issue_date


class ReasonDetailMissing(DeregistrationRefused):
    """Reason "other" needs a text saying what it is."""


class ReasonDetailTooLong(DeregistrationRefused):
    """The reason text does not fit the record; `max_chars` says how much does."""

    def __init__(self, max_chars: int) -> None:
        super().__init__(f"reason detail longer than {max_chars} characters")
        self.max_chars = max_chars


# --- The declaration -------------------------------------------------------------------------


@dataclass(frozen=True)
class Declaration:
    """What is declared; who declares it is the `Acting` passed beside it."""

    role: DeclarantRole
    applicant_id: int  # the holder whose permit is deregistered (the actor for "self")
    reason: Reason
    reason_detail: str | None
    leave_date: date
    organisation_uscc: str | None = None  # employer, school or hotel roles
    consented: bool = False  # family role: the applicant consented by SMS code in the wizard


def check_declarant_person(session: Session, actor_id: int, name: str, id_number: str) -> None:
    """Refuse unless the declared name and ID number are the signed-in person's own."""
    actor = session.get(Person, actor_id)
    if (
        actor is None
        or actor.id_number != identity.normalise_id_number(id_number)
        or actor.name != identity.normalise_name(name)
    ):
        raise DeclarantMismatch()


def deregistration_of(session: Session, permit_id: int) -> Deregistration | None:
    return session.exec(select(Deregistration).where(Deregistration.permit_id == permit_id)).first()


def _reason_detail(declaration: Declaration) -> str | None:
    detail = (declaration.reason_detail or "").strip() or None
    if declaration.reason == "other" and detail is None:
        raise ReasonDetailMissing()
    if detail is not None and len(detail) > REASON_DETAIL_MAX_CHARS:
        raise ReasonDetailTooLong(REASON_DETAIL_MAX_CHARS)
    return detail


def check_relation(session: Session, declaration: Declaration, actor_id: int) -> Permit:
    """The holder's current permit, if the actor may declare in the declared role
    (policy.declaring_basis); raises NoPermit or the policy's refusal. Changes nothing.

    Only who may declare for whom: the wizard's applicant step asks this before the reason
    and leave date are known.
    """
    permit = permits.current_permit(session, declaration.applicant_id)
    if permit is None:
        raise NoPermit()
    policy.declaring_basis(
        session,
        role=declaration.role,
        actor_id=actor_id,
        permit=permit,
        organisation_uscc=declaration.organisation_uscc,
        consented=declaration.consented,
    )
    return permit


def authorise(session: Session, declaration: Declaration, acting: Acting) -> Permit:
    """Return the permit the declaration may deregister, or raise why not; changes nothing.

    The relation is checked before anything about the permit's state, so someone with no
    relation to the holder learns nothing about it (not even that it is deregistered).
    """
    Reason(declaration.reason)  # a ValueError for a value outside the vocabulary
    permit = check_relation(session, declaration, acting.person_id)
    existing = deregistration_of(session, permit.id)  # type: ignore[arg-type]
    if existing is not None:
        raise AlreadyDeregistered(existing)
    _reason_detail(declaration)
    if declaration.leave_date > acting.today:
        raise LeaveDateInFuture()
    if declaration.leave_date < permit.issue_date:
        raise LeaveDateBeforeIssue(permit.issue_date)
    return permit


def declare(session: Session, declaration: Declaration, acting: Acting) -> Case:
    """Deregister in the caller's transaction: record, case, audit event and SMS together.

    The unique permit key on deregistrations makes "once" hold in the database: of two
    concurrent declarations one inserts, the other fails on flush, its writes are undone to a
    savepoint and it is told the winner's record.
    """
    permit = authorise(session, declaration, acting)
    today, now = acting.today, acting.now
    organisation = (
        policy.operated_organisation(
            session, acting.person_id, declaration.role, declaration.organisation_uscc or ""
        )
        if declaration.role in ORGANISATION_ROLES
        else None
    )
    reason_detail = _reason_detail(declaration)
    actor = acting.person
    holder = session.get(Person, declaration.applicant_id)
    assert actor is not None and holder is not None
    details: dict[str, Any] = {
        "declarant_role": declaration.role,
        "org_name": organisation.name if organisation else None,
        "org_uscc": organisation.uscc if organisation else None,
        "reason": declaration.reason,
        "reason_detail": reason_detail,
        "leave_date": declaration.leave_date.isoformat(),
        "consented": declaration.consented,
    }
    try:
        with session.begin_nested():
            case = Case(
                reference=new_reference(CaseKind.DEREGISTER, today),
                kind=CaseKind.DEREGISTER,
                permit_id=permit.id,  # type: ignore[arg-type]
                applicant_id=holder.id,  # type: ignore[arg-type]
                agent_id=actor.id,  # type: ignore[arg-type]
                outcome="deregistered",
                details=details,
                created_at=now,
            )
            session.add(case)
            session.flush()
            session.add(
                Deregistration(
                    permit_id=permit.id,  # type: ignore[arg-type]
                    declarant_role=declaration.role,
                    declarant_id=actor.id,  # type: ignore[arg-type]
                    organisation_id=organisation.id if organisation else None,
                    reason=declaration.reason,
                    reason_detail=reason_detail,
                    leave_date=declaration.leave_date,
                    declared_at=now,
                    case_id=case.id,  # type: ignore[arg-type]
                    district=permits.district_of(session, permit),
                )
            )
            session.flush()
            # A deregistered permit keeps no pending change of address (SPEC 9.4).
            move.cancel_for_deregistration(session, permit.id, now)  # type: ignore[arg-type]
    except sa.exc.IntegrityError:
        winner = deregistration_of(session, permit.id)  # type: ignore[arg-type]
        if winner is None:
            raise
        raise AlreadyDeregistered(winner) from None
    audit.record(
        session,
        action="permit_deregistered",
        actor_id=actor.id,
        subject_id=holder.id,
        client_address=acting.client_address,
        now=now,
        reference=case.reference,
        declarant_role=declaration.role,
        organisation_id=organisation.id if organisation else None,
        reason=declaration.reason,
        leave_date=declaration.leave_date.isoformat(),
    )
    if holder.id != actor.id:
        # Done for someone else: they and everyone who lists them are told (SPEC 2.8, 2.9).
        declarant = organisation.name if organisation else identity.mask_name(actor.name)
        family.tell_member_and_listers(
            session,
            holder,
            actor_id=saved_id(actor),
            to_member=_SMS_TEXT.format(declarant=declarant, reference=case.reference),
            to_lister=_SMS_TO_LISTER.format(
                declarant=declarant, member=holder.name, reference=case.reference
            ),
            now=now,
        )
    session.flush()
    return case
