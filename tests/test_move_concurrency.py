"""A change of address ends once, whatever the concurrency (SPEC 9.3, 9.4): two racing
confirmations, or a confirmation racing a deregistration, leave exactly one outcome.

Each party runs in its own thread with its own connection and transaction, released at the
same moment by a barrier, on SQLite and (with TEST_DATABASE_URL) on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from epermit import db, demo
from epermit.acting import Acting
from epermit.models import (
    Address,
    AddressChange,
    Deregistration,
    Permit,
    Person,
    RegistrationHistory,
)
from epermit.services import deregister, move
from epermit.vocabulary import DeclarantRole, Housing, Reason

GAO_FLATS = [demo.GAOFENG_FLAT[1], *(f"广州市海珠区{rest}" for rest in demo.NEIGHBOURS)]


def person_in(session: Session, name: str) -> Person:
    return session.exec(select(Person).where(Person.name == name)).one()


def acting_as(session: Session, name: str, clock) -> Acting:
    return Acting(
        person=person_in(session, name), now=clock(), today=clock.today, client_address="127.0.0.1"
    )


def request_move(engine: sa.Engine, clock, line: str) -> int:
    """赵强 asks to move to `line`; returns the pending change's id."""
    with db.session_scope(engine) as session:
        to = session.exec(select(Address).where(Address.line == line)).one()
        zhao = person_in(session, "赵强")
        case = move.request(
            session,
            move.MoveRequest(
                holder_id=zhao.id,  # type: ignore[arg-type]
                to_address_id=to.id,  # type: ignore[arg-type]
                moved_on=clock.today - timedelta(days=1),
                housing=Housing.RENTED,
            ),
            acting_as(session, "赵强", clock),
        )
        change = session.exec(select(AddressChange).where(AddressChange.case_id == case.id)).one()
        assert change.state == "pending"
        return change.id  # type: ignore[return-value]


def race(engine: sa.Engine, *parties: Callable[[Session], Any]) -> list[Any]:
    """Run each party in its own thread and transaction, all released together; each result
    is what the party returned, or the exception it raised (its transaction rolled back)."""
    barrier = threading.Barrier(len(parties))
    results: list[Any] = [None] * len(parties)

    def run(index: int, party: Callable[[Session], Any]) -> None:
        session = db.new_session(engine, write=True)
        try:
            barrier.wait()
            results[index] = party(session)
            session.commit()
        except Exception as error:  # noqa: BLE001 - the loser's refusal is the result
            session.rollback()
            results[index] = error
        finally:
            session.close()

    threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(parties)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a party did not finish"
    return results


def confirm(change_id: int, clock) -> Callable[[Session], Any]:
    def party(session: Session) -> Any:
        return move.decide(
            session, acting_as(session, "高峰", clock), change_id=change_id, confirm=True
        )

    return party


def refuse(change_id: int, clock) -> Callable[[Session], Any]:
    def party(session: Session) -> Any:
        return move.decide(
            session,
            acting_as(session, "高峰", clock),
            change_id=change_id,
            confirm=False,
            refuse_reason="未入住",
        )

    return party


def deregister_zhao(clock) -> Callable[[Session], Any]:
    def party(session: Session) -> Any:
        zhao = person_in(session, "赵强")
        declaration = deregister.Declaration(
            role=DeclarantRole.SELF,
            applicant_id=zhao.id,  # type: ignore[arg-type]
            reason=Reason.LEFT_CITY,
            reason_detail=None,
            leave_date=clock.today,
        )
        return deregister.declare(session, declaration, acting_as(session, "赵强", clock))

    return party


def facts(engine: sa.Engine, change_id: int) -> tuple[str, int, int, int]:
    """(state, history rows, permit's address, the change's new address)."""
    with db.session_scope(engine, write=False) as session:
        change = session.get(AddressChange, change_id)
        assert change is not None
        history = session.exec(
            select(func.count())
            .select_from(RegistrationHistory)
            .where(RegistrationHistory.change_id == change_id)
        ).one()
        permit = session.get(Permit, change.permit_id)
        assert permit is not None
        return change.state, history, permit.address_id, change.to_address_id


@pytest.fixture
def engine(app) -> sa.Engine:
    engine = db.engine_of(app)
    # 高峰 answers for the neighbouring flats too, so that 赵强 can move on, round after round.
    with db.session_scope(engine) as session:
        gao = person_in(session, "高峰")
        session.execute(
            sa.update(Address).where(col(Address.line).in_(GAO_FLATS)).values(landlord_id=gao.id)
        )
    return engine


def test_two_racing_confirmations_apply_the_change_once(engine, clock):
    for line in GAO_FLATS:
        change_id = request_move(engine, clock, line)
        results = race(engine, confirm(change_id, clock), confirm(change_id, clock))
        winners = [r for r in results if isinstance(r, AddressChange)]
        losers = [r for r in results if isinstance(r, move.AlreadyDecided)]
        assert (len(winners), len(losers)) == (1, 1), results
        assert losers[0].state == "confirmed"
        state, history, at, to = facts(engine, change_id)
        assert (state, history) == ("confirmed", 1) and at == to


def test_a_confirmation_racing_a_refusal_leaves_one_decision(engine, clock):
    change_id = request_move(engine, clock, GAO_FLATS[0])
    results = race(engine, confirm(change_id, clock), refuse(change_id, clock))
    assert sum(isinstance(r, AddressChange) for r in results) == 1, results
    state, history, at, to = facts(engine, change_id)
    assert (state, history, at == to) in [("confirmed", 1, True), ("refused", 0, False)]


@pytest.mark.parametrize("round_", range(3))
def test_a_confirmation_racing_a_deregistration_leaves_exactly_one_outcome(engine, clock, round_):
    change_id = request_move(engine, clock, GAO_FLATS[0])
    results = race(engine, confirm(change_id, clock), deregister_zhao(clock))
    # The deregistration always stands: nothing in a change of address can undo it.
    assert not isinstance(results[1], Exception), results
    with db.session_scope(engine, write=False) as session:
        assert (
            session.exec(select(func.count()).select_from(Deregistration)).one() == 2
        )  # 刘洋's too
    state, history, at, to = facts(engine, change_id)
    if isinstance(results[0], AddressChange):
        # Confirmed first: the move applied, and the deregistration found nothing pending.
        assert (state, history, at == to) == ("confirmed", 1, True)
    else:
        # Deregistered first: the change was cancelled and the confirmation told so.
        assert isinstance(results[0], move.AlreadyDecided), results
        assert (state, history, at == to) == ("cancelled", 0, False)
