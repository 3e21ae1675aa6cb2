"""办件记录: the cases a person made or that were made for them."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from epermit.models import Case, Person
from epermit.sql import attach, columns_of, run, split, table_of


@dataclass(frozen=True)
class CaseRecord:
    case: Case
    applicant: Person
    agent: Person


def _query() -> sa.Select:
    applicant = aliased(Person)
    agent = aliased(Person)
    return (
        select(Case, applicant, agent)
        .join(applicant, applicant.id == Case.applicant_id)  # type: ignore[arg-type]
        .join(agent, agent.id == Case.agent_id)  # type: ignore[arg-type]
    )


def cases_for(session: Session, person_id: int, limit: int = 100) -> list[CaseRecord]:
    """Newest first; as applicant (holder) or as agent/declarant."""
    query = (
        _query()
        .where(sa.or_(col(Case.applicant_id) == person_id, col(Case.agent_id) == person_id))
        .order_by(Case.created_at.desc(), Case.id.desc())  # type: ignore[attr-defined, union-attr]
        .limit(limit)
    )
    return [CaseRecord(*row) for row in session.execute(query).all()]


def record_for(session: Session, person_id: int, reference: str) -> CaseRecord | None:
    """One case, only for a party to it."""
    query = _query().where(
        col(Case.reference) == reference,
        sa.or_(col(Case.applicant_id) == person_id, col(Case.agent_id) == person_id),
    )
    row = session.execute(query).first()
    return CaseRecord(*row) if row else None


# Every done page reads its case's record: built once, of columns, made into objects by
# sql.attach (the ORM readied its loading of the three on every run, longer than the read).
_CASES = table_of(Case)
_APPLICANTS, _AGENTS = table_of(Person).alias("applicant"), table_of(Person).alias("agent")
_BY_ID = (
    sa.select(
        *columns_of(Case), *columns_of(Person, _APPLICANTS), *columns_of(Person, _AGENTS)
    )
    .select_from(
        _CASES.join(_APPLICANTS, _APPLICANTS.c.id == _CASES.c.applicant_id).join(
            _AGENTS, _AGENTS.c.id == _CASES.c.agent_id
        )
    )
    .where(_CASES.c.id == sa.bindparam("case_id"))
)


def record_of(session: Session, case_id: int) -> CaseRecord | None:
    row = run(session, _BY_ID, {"case_id": case_id}).first()
    if row is None:
        return None
    case, applicant, agent = split(row, Case, Person, Person)
    return CaseRecord(
        attach(session, Case, case),
        attach(session, Person, applicant),
        attach(session, Person, agent),
    )
