"""seed-bulk (SPEC 13): a city-sized register beside the demo world, consistent and realistic."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlmodel import select

from epermit import bulk, db, identity
from epermit.models import Address, Case, Deregistration, Permit, Person
from epermit.services import permits, references

ADDED = 3_000


def seed(app, clock):
    return bulk.seed(db.engine_of(app), permits=ADDED, today=clock.today, now=clock())


def scalar(dbsession, sql: str) -> int:
    return dbsession.connection().execute(sa.text(sql)).scalar_one()


def test_seed_bulk_adds_holders_beside_the_demo_world(app, dbsession, clock):
    before = scalar(dbsession, "SELECT count(*) FROM permit")
    seeded = seed(app, clock)
    dbsession.rollback()
    assert scalar(dbsession, "SELECT count(*) FROM permit") == before + ADDED
    assert seeded.cases == scalar(dbsession, "SELECT count(*) FROM case_record") - 1  # 刘洋's
    # The demo people are untouched and still found by name and ID number.
    assert permits.current_holder(dbsession, "张伟", "430102199003071234") is not None


def test_bulk_people_have_valid_unique_id_numbers_and_phones(app, dbsession, clock):
    seed(app, clock)
    numbers = dbsession.exec(select(Person.id_number)).all()
    assert len(numbers) == len(set(numbers))
    for number in numbers:
        assert identity.check_id_number(number, clock.today) == number
    phones = [p for p in dbsession.exec(select(Person.phone)).all() if p is not None]
    assert len(phones) == len(set(phones)) and all(re.fullmatch(r"1\d{10}", p) for p in phones)


def test_every_bulk_row_points_at_rows_that_exist(app, dbsession, clock):
    seed(app, clock)
    for sql in (
        "SELECT count(*) FROM permit p LEFT JOIN person x ON x.id = p.person_id WHERE x.id IS NULL",
        "SELECT count(*) FROM permit p LEFT JOIN address a ON a.id = p.address_id WHERE a.id IS NULL",
        "SELECT count(*) FROM address a LEFT JOIN person x ON x.id = a.landlord_id"
        " WHERE a.landlord_id IS NOT NULL AND x.id IS NULL",
        "SELECT count(*) FROM permit p LEFT JOIN organisation o ON o.id = p.employer_id"
        " WHERE p.employer_id IS NOT NULL AND o.id IS NULL",
        "SELECT count(*) FROM orgoperator m LEFT JOIN person x ON x.id = m.person_id WHERE x.id IS NULL",
        "SELECT count(*) FROM case_record c LEFT JOIN permit p ON p.id = c.permit_id WHERE p.id IS NULL",
        "SELECT count(*) FROM familylink f LEFT JOIN person x ON x.id = f.member_id WHERE x.id IS NULL",
    ):
        assert scalar(dbsession, sql) == 0, sql


def test_a_bulk_permit_says_it_is_deregistered_exactly_when_a_deregistration_names_it(
    app, dbsession, clock
):
    # Rosters read Permit.deregistered (SPEC 13): one holder in a hundred is deregistered.
    seed(app, clock)
    dbsession.rollback()
    flagged = set(dbsession.exec(select(Permit.id).where(Permit.deregistered)).all())
    named = set(dbsession.exec(select(Deregistration.permit_id)).all())
    assert flagged == named
    assert len(named) == ADDED // 100 + 1  # and 刘洋's


def test_rosters_spread_from_one_person_to_a_dormitory(app, dbsession, clock):
    seed(app, clock)
    per_address = (
        dbsession.connection()
        .execute(sa.text("SELECT count(*) FROM permit GROUP BY address_id"))
        .scalars()
        .all()
    )
    assert min(per_address) == 1
    # One holder in a hundred lives in the dormitory (30 of 3,000 here; 5,000 at full size).
    assert max(per_address) == ADDED // 100
    per_employer = (
        dbsession.connection()
        .execute(
            sa.text(
                "SELECT count(*) FROM permit WHERE employer_id IS NOT NULL GROUP BY employer_id"
            )
        )
        .scalars()
        .all()
    )
    assert max(per_employer) > 20 * min(per_employer)
    districts = dbsession.exec(select(Address.district).distinct()).all()
    assert set(bulk.DISTRICTS) <= set(districts)


def test_bulk_cases_have_well_formed_references_and_match_their_kind(app, dbsession, clock):
    seed(app, clock)
    cases = dbsession.exec(select(Case)).all()
    assert len(cases) > ADDED // 10
    assert all(references.is_well_formed(case.reference) for case in cases)
    kinds = {case.kind for case in cases}
    assert kinds == {"endorse", "deregister", "move"}
    deregistered = scalar(dbsession, "SELECT count(*) FROM deregistration")
    assert deregistered == sum(1 for case in cases if case.kind == "deregister")
    moves = scalar(dbsession, "SELECT count(*) FROM addresschange")
    assert moves == sum(1 for case in cases if case.kind == "move")


def test_bulk_events_carry_the_district_they_are_counted_in(app, dbsession, clock):
    """As the services write them: where the permit is registered (a change of address:
    where it moves to), so that statistics need no join."""
    seed(app, clock)
    for sql in (
        "SELECT count(*) FROM endorsement e JOIN permit p ON p.id = e.permit_id"
        " JOIN address a ON a.id = p.address_id WHERE e.district <> a.district",
        "SELECT count(*) FROM deregistration e JOIN permit p ON p.id = e.permit_id"
        " JOIN address a ON a.id = p.address_id WHERE e.district <> a.district",
        "SELECT count(*) FROM addresschange c JOIN address a ON a.id = c.to_address_id"
        " WHERE c.district <> a.district",
    ):
        assert scalar(dbsession, sql) == 0, sql
    assert scalar(dbsession, "SELECT count(DISTINCT district) FROM endorsement") == len(
        bulk.DISTRICTS
    )


def test_bulk_changes_of_address_are_confirmed_refused_or_lapsed_and_consistent(
    app, dbsession, clock
):
    seed(app, clock)
    states = dict(
        dbsession.connection()
        .execute(sa.text("SELECT state, count(*) FROM addresschange GROUP BY state"))
        .all()
    )
    assert set(states) == {"confirmed", "refused", "lapsed"}
    assert states["confirmed"] > states["refused"] > states["lapsed"] > 0
    for sql in (
        # A confirmed change moved its permit, from elsewhere, since the day it was made.
        "SELECT count(*) FROM addresschange c JOIN permit p ON p.id = c.permit_id"
        " WHERE c.state = 'confirmed' AND (p.address_id <> c.to_address_id"
        " OR p.registered_since <> c.moved_on)",
        "SELECT count(*) FROM addresschange c LEFT JOIN registrationhistory h"
        " ON h.change_id = c.id WHERE c.state = 'confirmed' AND h.id IS NULL",
        # Refused and lapsed ones left it where it was.
        "SELECT count(*) FROM addresschange c JOIN permit p ON p.id = c.permit_id"
        " WHERE c.state <> 'confirmed' AND p.address_id <> c.from_address_id",
        # Registered before moving, asked before deciding; a lapsed one after its 7 days.
        "SELECT count(*) FROM addresschange c JOIN permit p ON p.id = c.permit_id"
        " WHERE c.moved_on < p.issue_date OR c.decided_at <= c.submitted_at"
        " OR (c.state = 'lapsed' AND c.decided_at < c.expires_at)",
        "SELECT count(*) FROM addresschange c JOIN case_record k ON k.id = c.case_id"
        " WHERE k.permit_id <> c.permit_id",
    ):
        assert scalar(dbsession, sql) == 0, sql


def test_a_bulk_holder_signs_in_and_sees_their_permit(app, auth, client, dbsession, clock):
    seed(app, clock)
    holder = dbsession.exec(
        select(Person).join(Permit).where(Person.phone.is_not(None)).order_by(Person.id.desc())
    ).first()
    auth.login(holder.phone)
    page = client.get("/permit").get_data(as_text=True)
    assert holder.name in page
    place = dbsession.get(
        Address,
        dbsession.exec(select(Permit).where(Permit.person_id == holder.id)).one().address_id,
    )
    assert place.line in page


def test_seeding_twice_adds_as_many_again(app, dbsession, clock):
    before = scalar(dbsession, "SELECT count(*) FROM permit")
    seed(app, clock)
    seed(app, clock)
    dbsession.rollback()
    assert scalar(dbsession, "SELECT count(*) FROM permit") == before + 2 * ADDED
