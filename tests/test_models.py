"""The database itself enforces the rules that must hold whatever the code does (SPEC 2, 6)."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, select

from epermit import db
from epermit.models import Endorsement, FamilyLink, Permit, Person


def person(dbsession, name):
    return dbsession.exec(select(Person).where(Person.name == name)).one()


def test_migrations_match_the_models(app):
    with db.engine_of(app).connect() as connection:
        context = MigrationContext.configure(connection, opts={"render_as_batch": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(app):
    engine = db.engine_of(app)
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas: this run is on PostgreSQL")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_id_number_is_unique(dbsession):
    zhang = person(dbsession, "张伟")
    dbsession.add(
        Person(
            id_number=zhang.id_number,
            name="张伟",
            sex="male",
            ethnicity="汉族",
            birth_date=zhang.birth_date,
            hukou="x",
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        dbsession.flush()


def test_only_one_current_permit_per_person(dbsession):
    current = dbsession.exec(select(Permit)).first()
    dbsession.add(
        Permit(
            person_id=current.person_id,
            address_id=current.address_id,
            issuing_authority="广州市公安局天河分局",
            issue_date=date(2026, 1, 1),
            valid_until=date(2027, 1, 1),
            continuity_start=date(2026, 1, 1),
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        dbsession.flush()


def test_an_old_permit_may_stay_beside_the_current_one(dbsession):
    current = dbsession.exec(select(Permit)).first()
    dbsession.add(
        Permit(
            person_id=current.person_id,
            address_id=current.address_id,
            issuing_authority="广州市公安局天河分局",
            issue_date=date(2020, 1, 1),
            valid_until=date(2021, 1, 1),
            continuity_start=date(2020, 1, 1),
            is_current=False,
        )
    )
    dbsession.flush()


def test_one_endorsement_per_permit_per_period(dbsession):
    from epermit.models import Case

    permit = dbsession.exec(select(Permit)).first()
    cases = []
    for n in range(2):
        case = Case(
            reference=f"QZ20261125ABCDE{n}",
            kind="endorse",
            permit_id=permit.id,
            applicant_id=permit.person_id,
            agent_id=permit.person_id,
            outcome="endorsed",
            details={},
            created_at=sa.func.now(),
        )
        dbsession.add(case)
        cases.append(case)
    dbsession.flush()
    for case in cases:
        dbsession.add(
            Endorsement(
                permit_id=permit.id,
                period=permit.valid_until,
                new_valid_until=date(2028, 1, 1),
                continuity_start=permit.continuity_start,
                late=False,
                endorsed_on=date(2026, 11, 25),
                case_id=case.id,
                district="天河区",
            )
        )
    with pytest.raises(sa.exc.IntegrityError):
        dbsession.flush()


def test_nobody_is_their_own_family_member(dbsession):
    zhang = person(dbsession, "张伟")
    dbsession.add(
        FamilyLink(
            person_id=zhang.id,
            member_id=zhang.id,
            relationship="spouse",
            created_at=sa.func.now(),
            basis="consented",
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        dbsession.flush()


def test_a_family_link_records_an_agreement_from_the_vocabulary(dbsession):
    zhang, zhao = person(dbsession, "张伟"), person(dbsession, "赵强")
    dbsession.add(
        FamilyLink(
            person_id=zhang.id,
            member_id=zhao.id,
            relationship="sibling",
            created_at=sa.func.now(),
            basis="none",  # no agreement is not a basis
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        dbsession.flush()


def test_foreign_keys_are_enforced(dbsession):
    dbsession.add(
        FamilyLink(
            person_id=999999,
            member_id=999998,
            relationship="spouse",
            created_at=sa.func.now(),
            basis="consented",
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        dbsession.flush()
