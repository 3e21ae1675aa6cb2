"""Arranging an objection for the staff console's tests: 陈军, 孙丽's landlord, declares her
deregistration through the deregistration service, and she objects.

The objection row is written against the holder side's model (issue 13) until its filing
service is on main; then `file_objection` calls that service instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from epermit.acting import Acting
from epermit.models import Case, Objection, Permit, Person
from epermit.services import deregister
from epermit.services.references import new_reference
from epermit.sql import saved_id
from epermit.vocabulary import CaseKind, DeclarantRole, Reason


def person(session: Session, name: str) -> Person:
    return session.exec(select(Person).where(Person.name == name)).one()


def landlord_deregisters(session: Session, holder: str, landlord: str, now: datetime) -> Permit:
    today = (now + timedelta(hours=8)).date()
    tenant = person(session, holder)
    declaration = deregister.Declaration(
        role=DeclarantRole.LANDLORD,
        applicant_id=saved_id(tenant),
        reason=Reason.MOVED_OUT,
        reason_detail=None,
        leave_date=today,
    )
    acting = Acting(person=person(session, landlord), now=now, today=today, client_address=None)
    deregister.declare(session, declaration, acting)
    session.commit()
    permit = session.exec(
        select(Permit).where(Permit.person_id == tenant.id, Permit.is_current)
    ).one()
    return permit


def file_objection(
    session: Session, holder: str, now: datetime, statement: str = "我仍住在这里,房东弄错了。"
) -> Objection:
    tenant = person(session, holder)
    permit = session.exec(
        select(Permit).where(Permit.person_id == tenant.id, Permit.is_current)
    ).one()
    deregistration = deregister.deregistration_of(session, saved_id(permit))
    assert deregistration is not None
    case = Case(
        reference=new_reference(CaseKind.OBJECTION, (now + timedelta(hours=8)).date()),
        kind=CaseKind.OBJECTION,
        permit_id=saved_id(permit),
        applicant_id=saved_id(tenant),
        agent_id=saved_id(tenant),
        outcome="pending",
        details={},
        created_at=now,
    )
    session.add(case)
    session.flush()
    objection = Objection(
        deregistration_id=saved_id(deregistration),
        case_id=saved_id(case),
        permit_id=saved_id(permit),
        statement=statement,
        filed_at=now,
        district=deregistration.district,
    )
    session.add(objection)
    session.commit()
    return objection
