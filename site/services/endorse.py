"""Endorsement (签注): assessing a permit and making the endorsement, once per period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from epermit import policy, rules
from epermit.acting import Acting
from epermit.models import Address, Case, Endorsement, Permit, Person
from epermit.services import audit, family, permits, sms
from epermit.services.references import new_reference
from epermit.sql import insert, rowcount, run, table_of
from epermit.vocabulary import CaseKind


class EndorsementError(Exception):
    pass


class NoPermit(EndorsementError):
    pass


class AlreadyEndorsed(EndorsementError):
    """This period was endorsed already (another draft, another agent, a retry)."""

    def __init__(self, case: Case | None) -> None:
        super().__init__("already endorsed for this period")
        self.case = case


@dataclass(frozen=True)
class Assessment:
    permit: Permit
    outcome: rules.EndorsementOutcome
    address: Address | None  # where the permit is registered, which the pages show


def assess(session: Session, holder_id: int, today: date) -> Assessment:
    """What endorsing this holder's permit today would do; raises why it cannot."""
    found = permits.current(session, holder_id)
    if found is None:
        raise NoPermit()
    return _assessment(found, today)


def _assessment(found: permits.Current, today: date) -> Assessment:
    permit = found.permit
    outcome = rules.plan_endorsement(
        permit.valid_until,
        permit.continuity_start,
        today,
        deregistered=found.deregistration is not None,
    )
    return Assessment(permit, outcome, found.address)


def endorsement_case(session: Session, permit_id: int, period: date) -> Case | None:
    query = (
        select(Case)
        .join(Endorsement, Endorsement.case_id == Case.id)  # type: ignore[arg-type]
        .where(Endorsement.permit_id == permit_id, Endorsement.period == period)
    )
    return session.exec(query).first()


# Asked on every page of the wizard, like permits.current: built once.
_ENDORSED_SINCE = (
    select(Case)
    .where(
        col(Case.applicant_id) == sa.bindparam("holder_id"),
        col(Case.kind) == CaseKind.ENDORSE,
        col(Case.created_at) >= sa.bindparam("since"),
    )
    .order_by(col(Case.id).desc())
    .limit(1)
)


def endorsed_since(session: Session, holder_id: int, since: datetime) -> Case | None:
    """An endorsement of this holder's permit made after `since` (another draft's, say)."""
    return session.exec(_ENDORSED_SINCE, params={"holder_id": holder_id, "since": since}).first()


# Every page of the wizard asks both: the permit with the id of such an endorsement, in one
# statement, built once; on the table, like permits.CURRENT, so that it loads no objects.
_CASES = table_of(Case)
_CURRENT_AND_ENDORSED_SINCE = permits.CURRENT.add_columns(
    sa.select(_CASES.c.id)
    .where(
        _CASES.c.applicant_id == sa.bindparam("person_id"),
        _CASES.c.kind == CaseKind.ENDORSE,
        _CASES.c.created_at >= sa.bindparam("since"),
    )
    .order_by(_CASES.c.id.desc())
    .limit(1)
    .scalar_subquery()
)


def assess_since(
    session: Session, holder_id: int, today: date, since: datetime
) -> tuple[Assessment | EndorsementError | rules.EndorsementRefused, Case | None]:
    """`assess` (the assessment, or the refusal it would raise) and `endorsed_since`
    together, in one statement when the holder has a current permit."""
    params = {"person_id": holder_id, "since": since}
    row = run(session, _CURRENT_AND_ENDORSED_SINCE, params).first()
    if row is None:
        return NoPermit(), endorsed_since(session, holder_id, since)
    earlier_id = row[-1]  # the one column added to permits.CURRENT
    earlier = session.get(Case, earlier_id) if earlier_id is not None else None
    try:
        return _assessment(permits.current_of(session, row), today), earlier
    except rules.EndorsementRefused as refusal:
        return refusal, earlier


# The permit's new period, if it is still the one assessed: built once, on the table, like
# wizard.save_answers (the ORM's UPDATE would search the session for objects it changes; the
# one permit it changes is told below).
_PERMITS = table_of(Permit)
_EXTEND = (
    sa.update(_PERMITS)
    .where(
        _PERMITS.c.id == sa.bindparam("permit_id"),
        _PERMITS.c.valid_until == sa.bindparam("period"),
    )
    .values(
        valid_until=sa.bindparam("new_valid_until"),
        continuity_start=sa.bindparam("new_continuity_start"),
    )
)


def endorse(
    session: Session,
    acting: Acting,
    *,
    holder_id: int,
    consented: bool,
    agent: dict[str, Any] | None,
    assessment: Assessment | None = None,
) -> Case:
    """Endorse in the caller's transaction: permit, endorsement, case, audit and SMS together.

    `assessment` is one the caller made of this holder in the same transaction, not to be
    read again. The permit row is updated only if its valid-until is still the one assessed,
    so of two concurrent endorsements exactly one changes it; the unique (permit, period)
    key on endorsements backs this up in the database. Raises policy.NotAllowed for an actor
    with no basis to act for the holder.
    """
    actor_id, today, now = acting.person_id, acting.today, acting.now
    basis = policy.acting_basis(session, actor_id, holder_id, consented=consented)
    if assessment is None:
        assessment = assess(session, holder_id, today)
    permit, outcome = assessment.permit, assessment.outcome
    changed = run(
        session,
        _EXTEND,
        {
            "permit_id": permit.id,
            "period": outcome.period,
            "new_valid_until": outcome.new_valid_until,
            "new_continuity_start": outcome.continuity_start,
        },
    )
    if rowcount(changed) != 1:
        raise AlreadyEndorsed(endorsement_case(session, permit.id, outcome.period))  # type: ignore[arg-type]
    set_committed_value(permit, "valid_until", outcome.new_valid_until)
    set_committed_value(permit, "continuity_start", outcome.continuity_start)
    holder = session.get(Person, holder_id)
    assert holder is not None
    details: dict[str, Any] = {
        "period": outcome.period.isoformat(),
        "new_valid_until": outcome.new_valid_until.isoformat(),
        "continuity_start": outcome.continuity_start.isoformat(),
        "late": outcome.late,
        "for_whom": "self" if actor_id == holder_id else "other",
        "basis": basis.value,
    }
    if agent:
        details["agent"] = agent
    case = Case(
        reference=new_reference(CaseKind.ENDORSE, today),
        kind=CaseKind.ENDORSE,
        permit_id=permit.id,  # type: ignore[arg-type]
        applicant_id=holder_id,
        agent_id=actor_id,
        outcome="late_endorsed" if outcome.late else "endorsed",
        details=details,
        created_at=now,
    )
    # Each written at once (sql.insert), the case's id read back with it.
    insert(session, case)
    insert(
        session,
        Endorsement(
            permit_id=permit.id,  # type: ignore[arg-type]
            period=outcome.period,
            new_valid_until=outcome.new_valid_until,
            continuity_start=outcome.continuity_start,
            late=outcome.late,
            endorsed_on=today,
            case_id=case.id,  # type: ignore[arg-type]
            district=permits.district_of(session, permit, assessment.address),
        ),
    )
    audit.record(
        session,
        action="permit_endorsed",
        actor_id=actor_id,
        subject_id=holder_id,
        client_address=acting.client_address,
        now=now,
        reference=case.reference,
        basis=basis.value,
        late=outcome.late,
        new_valid_until=outcome.new_valid_until.isoformat(),
    )
    until = outcome.new_valid_until
    until_words = f"{until.year}年{until.month}月{until.day}日"
    if holder.phone and actor_id == holder_id:
        sms.queue(
            session,
            to=holder.phone,
            text=(
                f"【广东省电子居住证】您的居住证已完成签注，有效期至{until_words}。"
                f"办件编号{case.reference}。"
            ),
            now=now,
        )
    if actor_id != holder_id:
        # Done for a member: they and everyone else who lists them are told (SPEC 2.9).
        family.tell_member_and_listers(
            session,
            holder,
            actor_id=actor_id,
            to_member=(
                f"【广东省电子居住证】经代办人{acting.person.name}申请，您的居住证已完成签注，"
                f"有效期至{until_words}。办件编号{case.reference}。"
            ),
            to_lister=(
                f"【广东省电子居住证】{acting.person.name}已为您的家庭成员{holder.name}办理"
                f"居住证签注，有效期至{until_words}。办件编号{case.reference}。"
            ),
            now=now,
        )
    session.flush()
    return case
