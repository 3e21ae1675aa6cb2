"""Batches of departures are submitted once, whatever the concurrency (SPEC 10.4): the
database lets one submission through, and a batch lists each person once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from epermit import db, demo
from epermit.acting import Acting
from epermit.models import Case, DepartureEntry, Deregistration, Permit, Person, SmsOutbox
from epermit.services import departures, workspace

SECRET = "test-secret"


def acting_as(session, name: str, clock) -> Acting:
    person = session.exec(select(Person).where(Person.name == name)).one()
    return Acting(person=person, now=clock(), today=clock.today, client_address="127.0.0.1")


def home_batch(app, clock, *names: str) -> str:
    with db.session_scope(db.engine_of(app)) as session:
        who = acting_as(session, "陈军", clock)
        home = session.execute(sa.text("SELECT id FROM address WHERE line = :l"), {"l": demo.HOME[1]}).scalar_one()
        roster = workspace.open_roster(session, who.person_id, "address", str(home))
        members = workspace.members_by_row_id(session, roster, SECRET)
        chosen = [rid for rid, m in members.items() if m.name in names]
        batch = departures.start_from_roster(session, who, roster, chosen, SECRET)
        departures.set_reason(session, batch, reason=departures.Reason.MOVED_OUT, reason_detail=None, leave_date=clock.today - timedelta(days=1))
        return batch.token


def submit(app, clock, token: str) -> bool:
    with db.session_scope(db.engine_of(app)) as session:
        who = acting_as(session, "陈军", clock)
        batch, roster = departures.batch_for(session, who.person_id, token)
        return departures.submit(session, who, batch, roster)


def count(dbsession, model) -> int:
    dbsession.rollback()
    return dbsession.exec(select(sa.func.count()).select_from(model)).one()


def test_a_second_submission_of_a_batch_creates_nothing(app, clock, dbsession):
    token = home_batch(app, clock, "张伟", "李娜", "张小明")
    assert submit(app, clock, token) is True
    cases, messages = count(dbsession, Case), count(dbsession, SmsOutbox)
    assert submit(app, clock, token) is False
    assert (count(dbsession, Case), count(dbsession, SmsOutbox)) == (cases, messages)
    assert count(dbsession, Deregistration) == 4  # 刘洋's, and three now


def test_a_batch_marks_the_permits_it_deregisters_and_no_other(app, clock, dbsession):
    # Rosters read Permit.deregistered (SPEC 13): set for the batch's people, in the batch.
    token = home_batch(app, clock, "张伟", "李娜")
    assert submit(app, clock, token) is True
    dbsession.rollback()
    flagged = dbsession.exec(
        select(Person.name).join(Permit, Permit.person_id == Person.id).where(Permit.deregistered)
    ).all()
    assert sorted(flagged) == sorted(["张伟", "李娜", "刘洋"])
    named = dbsession.exec(select(Deregistration.permit_id)).all()
    assert set(dbsession.exec(select(Permit.id).where(Permit.deregistered)).all()) == set(named)


def test_two_submissions_at_once_deregister_each_person_once(app, clock, dbsession):
    token = home_batch(app, clock, "张伟", "李娜", "张小明")
    barrier = threading.Barrier(2)
    results: list[bool] = []
    errors: list[BaseException] = []

    def race() -> None:
        try:
            barrier.wait()
            results.append(submit(app, clock, token))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=race) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(results) == [False, True]
    assert count(dbsession, Deregistration) == 4
    dbsession.rollback()
    outcomes = dbsession.exec(select(DepartureEntry.outcome)).all()
    assert outcomes == ["declared"] * 3


def test_a_batch_lists_each_person_once_in_the_database(app, clock, dbsession):
    token = home_batch(app, clock, "张伟")
    entry = dbsession.exec(select(DepartureEntry)).one()
    dbsession.add(DepartureEntry(batch_id=entry.batch_id, person_id=entry.person_id, position=2))
    with pytest.raises(sa.exc.IntegrityError):
        dbsession.commit()
    assert token


def test_the_batch_goes_through_the_deregistration_rules_leave_date_before_issue(app, clock, dbsession):
    token = home_batch(app, clock, "张伟")
    with db.session_scope(db.engine_of(app)) as session:
        who = acting_as(session, "陈军", clock)
        batch, roster = departures.batch_for(session, who.person_id, token)
        departures.set_reason(session, batch, reason=departures.Reason.MOVED_OUT, reason_detail=None, leave_date=clock.today - timedelta(days=800))
        views = departures.entries(session, who, batch, roster)
        assert [v.outcome for v in views] == [departures.Outcome.BEFORE_ISSUE]
        assert departures.submit(session, who, batch, roster) is True
    assert count(dbsession, Deregistration) == 1
    dbsession.rollback()
    assert dbsession.exec(select(DepartureEntry.outcome)).one() == "before_issue"


def statements_of(app, run) -> int:
    """How many SQL statements `run` sends."""
    sent: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement)

    engine = db.engine_of(app)
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        run()
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    return len(sent)


def landlord_batch(app, clock, count: int) -> str:
    """A batch of `count` of 陈军's tenants, from the roster of all his addresses."""
    with db.session_scope(db.engine_of(app)) as session:
        who = acting_as(session, "陈军", clock)
        roster = workspace.open_roster(session, who.person_id, "address", workspace.ALL)
        members = workspace.members_by_row_id(session, roster, SECRET)
        chosen = sorted(members, key=lambda rid: members[rid].person_id)[:count]
        assert len(chosen) == count
        batch = departures.start_from_roster(session, who, roster, chosen, SECRET)
        departures.set_reason(session, batch, reason=departures.Reason.MOVED_OUT, reason_detail=None, leave_date=clock.today - timedelta(days=1))
        return batch.token


def test_a_batch_costs_the_same_statements_for_six_people_as_for_one(app, clock, dbsession):
    # Set-based through the deregistration service: a batch of a thousand departures must
    # not cost a thousand times one (SPEC 13: at most 10 s).
    one = landlord_batch(app, clock, 1)
    six = landlord_batch(app, clock, 7)  # the first one again (skipped, already done) and six more
    for_one = statements_of(app, lambda: submit(app, clock, one))
    for_six = statements_of(app, lambda: submit(app, clock, six))
    dbsession.rollback()
    declared = select(sa.func.count()).select_from(DepartureEntry).where(DepartureEntry.outcome == "declared")
    assert dbsession.exec(declared).one() == 7
    assert for_six == for_one
