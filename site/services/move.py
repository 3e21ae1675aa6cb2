"""Change of address (居住变更登记, SPEC 9): requesting it, confirming or refusing it, and
applying it once, whatever the concurrency.

A request is a case (`BG…`) and an `addresschange` row. The partial unique index on pending
rows keeps one pending request per permit in the database. Every way a request ends
(confirm, refuse, lapse, withdraw, cancel on deregistration) is one conditional UPDATE from
`pending`: of two racing endings exactly one matches the row, and the other is told what
happened instead. Applying a change moves the permit's address and district, writes a
registration-history row and leaves valid-until and continuity untouched (SPEC 2.14), in the
transaction of the confirmation.

Refusals are typed exceptions; views map them to Chinese messages. The SMS texts are
composed here, where they are queued (SPEC 5: in the transaction of the change).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from epermit import identity, policy
from epermit.acting import Acting
from epermit.models import (
    Address,
    AddressChange,
    Case,
    Deregistration,
    Permit,
    Person,
    RegistrationHistory,
    SmsOutbox,
)
from epermit.services import audit, permits, sms
from epermit.services.references import new_reference
from epermit.sql import attach, columns_of, rowcount, run, saved_id, split, table_of
from epermit.vocabulary import CaseKind, ChangeState, Housing

# SPEC 9.3: the answerer has 7 days to confirm; then send-reminders lapses the request.
CONFIRM_DAYS = 7
REFUSE_REASON_MAX_CHARS = 200

# Case outcomes, one per way a request stands or ended.
PENDING = "pending"
MOVED = "moved"
OUTCOME_OF_STATE = {
    ChangeState.CONFIRMED: MOVED,
    ChangeState.REFUSED: "refused",
    ChangeState.LAPSED: "lapsed",
    ChangeState.WITHDRAWN: "withdrawn",
    ChangeState.CANCELLED: "cancelled",
}
TAG = "【广东省电子居住证】"


# --- Refusals ---------------------------------------------------------------------------------


class MoveRefused(Exception):
    """Base of every reason a change of address cannot be requested or decided."""


class NoPermit(MoveRefused):
    pass


class PermitDeregistered(MoveRefused):
    pass


class NotInRegister(MoveRefused):
    """No address of the register has that id."""


class SameAddress(MoveRefused):
    """The new address is the one the permit is registered at."""


class MovedOnInFuture(MoveRefused):
    pass


class MovedOnBeforeRegistration(MoveRefused):
    """Nobody moves out before they moved in: `since` is when the registration began."""

    def __init__(self, since: date) -> None:
        super().__init__(f"moved on before {since.isoformat()}")
        self.since = since


class NotOwner(MoveRefused):
    """Housing "owned" needs the applicant to be the new address's recorded owner."""


class PendingExists(MoveRefused):
    """The permit has a pending change already (one per permit)."""

    def __init__(self, change: AddressChange | None) -> None:
        super().__init__("a change of address is pending")
        self.change = change


class AlreadyDecided(MoveRefused):
    """The request ended meanwhile (decided, lapsed, withdrawn or cancelled); `state` says
    how."""

    def __init__(self, state: str) -> None:
        super().__init__(f"request is {state}")
        self.state = state


class NoSuchRequest(MoveRefused):
    """Absent, or not the actor's to see: the same answer for both (a 404)."""


class RefuseReasonMissing(MoveRefused):
    pass


# --- Checks the wizard asks step by step --------------------------------------------------------


def registered_since(permit: Permit) -> date:
    """Since when the permit is registered at its current address."""
    return permit.registered_since or permit.issue_date


def live_permit(session: Session, holder_id: int) -> Permit:
    permit = permits.current_permit(session, holder_id)
    if permit is None:
        raise NoPermit()
    if is_deregistered(session, saved_id(permit)):
        raise PermitDeregistered()
    return permit


def is_deregistered(session: Session, permit_id: int) -> bool:
    query = select(Deregistration.id).where(Deregistration.permit_id == permit_id)
    return session.exec(query).first() is not None


def check_address(session: Session, permit: Permit, address_id: int) -> Address:
    address = session.get(Address, address_id)
    if address is None:
        raise NotInRegister()
    if address.id == permit.address_id:
        raise SameAddress()
    return address


def check_moved_on(permit: Permit, moved_on: date, today: date) -> None:
    if moved_on > today:
        raise MovedOnInFuture()
    if moved_on < registered_since(permit):
        raise MovedOnBeforeRegistration(registered_since(permit))


def check_housing(address: Address, holder_id: int, housing: Housing | str) -> None:
    if Housing(housing) is Housing.OWNED and address.owner_id != holder_id:
        raise NotOwner()


def pending_change(session: Session, permit_id: int) -> AddressChange | None:
    query = select(AddressChange).where(
        AddressChange.permit_id == permit_id, AddressChange.state == ChangeState.PENDING
    )
    return session.exec(query).first()


# --- Requesting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MoveRequest:
    holder_id: int
    to_address_id: int
    moved_on: date
    housing: Housing
    consented: bool = False  # for another person not on the family list: consent by SMS code
    agent: dict[str, Any] | None = None  # the agent's details as the applicant step took them


def request(session: Session, req: MoveRequest, acting: Acting) -> Case:
    """Make the case; apply at once when the holder answers for the new address, else leave
    it pending for whoever does, and tell them. In the caller's transaction."""
    actor_id, now, today = acting.person_id, acting.now, acting.today
    basis = policy.acting_basis(session, actor_id, req.holder_id, consented=req.consented)
    permit = live_permit(session, req.holder_id)
    address = check_address(session, permit, req.to_address_id)
    check_moved_on(permit, req.moved_on, today)
    check_housing(address, req.holder_id, req.housing)
    existing = pending_change(session, saved_id(permit))
    if existing is not None:
        raise PendingExists(existing)
    holder = session.get(Person, req.holder_id)
    assert holder is not None
    from_address = session.get(Address, permit.address_id)
    assert from_address is not None
    at_once = policy.answers_for_address(session, req.holder_id, address)
    details: dict[str, Any] = {
        "from": from_address.line,
        "to": address.line,
        "to_district": address.district,
        "moved_on": req.moved_on.isoformat(),
        "housing": req.housing.value,
        "for_whom": "self" if actor_id == req.holder_id else "other",
        "basis": basis.value,
        "confirm_by": (today + timedelta(days=CONFIRM_DAYS)).isoformat(),
    }
    if req.agent:
        details["agent"] = req.agent
    try:
        with session.begin_nested():
            case = Case(
                reference=new_reference(CaseKind.MOVE, today),
                kind=CaseKind.MOVE,
                permit_id=saved_id(permit),
                applicant_id=req.holder_id,
                agent_id=actor_id,
                outcome=MOVED if at_once else PENDING,
                details=details,
                created_at=now,
            )
            session.add(case)
            session.flush()
            change = AddressChange(
                case_id=saved_id(case),
                permit_id=saved_id(permit),
                from_address_id=saved_id(from_address),
                to_address_id=saved_id(address),
                moved_on=req.moved_on,
                housing=req.housing.value,
                state=ChangeState.PENDING,
                submitted_at=now,
                expires_at=now + timedelta(days=CONFIRM_DAYS),
                district=address.district,
            )
            session.add(change)
            session.flush()
    except sa.exc.IntegrityError:
        # Another request for this permit got in first (two tabs, two agents).
        raise PendingExists(pending_change(session, saved_id(permit))) from None
    audit.record(
        session,
        action="move_requested",
        actor_id=actor_id,
        subject_id=req.holder_id,
        client_address=acting.client_address,
        now=now,
        reference=case.reference,
        basis=basis.value,
        to_address_id=address.id,
    )
    if at_once:
        _end(session, change, ChangeState.CONFIRMED, by=req.holder_id, now=now)
        _apply(session, change, confirmed_by=req.holder_id, now=now)
        _tell_parties(session, change, f"您的居住地址已变更为{address.line}", now)
    else:
        for answerer_id in policy.address_answerer_ids(session, address):
            answerer = session.get(Person, answerer_id)
            if answerer is not None and answerer.phone:
                sms.queue(
                    session,
                    to=answerer.phone,
                    text=(
                        f"{TAG}{identity.mask_name(holder.name)}申报搬入{address.line}，"
                        f"请于{CONFIRM_DAYS}日内登录电子居住证“工作台”确认或拒绝。"
                        f"办件编号{case.reference}。"
                    ),
                    now=now,
                )
        if actor_id != req.holder_id:
            _tell(
                session,
                holder,
                f"{acting.person.name}为您申报居住变更登记至{address.line}，"
                f"待房屋登记人确认。办件编号{case.reference}。",
                now,
            )
    session.flush()
    return case


# --- Ending a request -------------------------------------------------------------------------


def _end(
    session: Session,
    change: AddressChange,
    state: ChangeState,
    *,
    by: int | None,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Move the request from pending to `state`, once: raise AlreadyDecided when another
    ending got there first."""
    ended = session.execute(
        sa.update(AddressChange)
        .where(col(AddressChange.id) == change.id, col(AddressChange.state) == ChangeState.PENDING)
        .values(state=state, decided_at=now, decided_by_id=by, refuse_reason=reason)
    )
    if rowcount(ended) != 1:
        session.refresh(change)
        raise AlreadyDecided(change.state)
    change.state, change.decided_at, change.decided_by_id = state, now, by
    change.refuse_reason = reason
    session.execute(
        sa.update(Case)
        .where(col(Case.id) == change.case_id)
        .values(outcome=OUTCOME_OF_STATE[state])
    )


def _apply(session: Session, change: AddressChange, *, confirmed_by: int, now: datetime) -> None:
    """The permit moves: address (its district comes with it) and since when; valid-until and
    continuity stay as they are. Conditional on the permit still being where the request
    found it, so a change can never apply to a permit that moved meanwhile."""
    moved = session.execute(
        sa.update(Permit)
        .where(
            col(Permit.id) == change.permit_id,
            col(Permit.address_id) == change.from_address_id,
            col(Permit.is_current),
        )
        .values(address_id=change.to_address_id, registered_since=change.moved_on)
    )
    if rowcount(moved) != 1:
        raise AlreadyDecided(ChangeState.CANCELLED)
    session.add(
        RegistrationHistory(
            permit_id=change.permit_id,
            from_address_id=change.from_address_id,
            to_address_id=change.to_address_id,
            moved_on=change.moved_on,
            confirmed_by_id=confirmed_by,
            confirmed_at=now,
            change_id=change.id,
        )
    )
    permit = session.get(Permit, change.permit_id)
    if permit is not None:
        session.refresh(permit)


def _tell(session: Session, person: Person | None, text: str, now: datetime) -> None:
    if person is not None and person.phone:
        sms.queue(session, to=person.phone, text=TAG + text, now=now)


def _tell_parties(session: Session, change: AddressChange, text: str, now: datetime) -> None:
    """The holder, and the agent who made the request for them (SPEC 9.4)."""
    case = session.get(Case, change.case_id)
    assert case is not None
    suffix = f"办件编号{case.reference}。"
    _tell(session, session.get(Person, case.applicant_id), f"{text}。{suffix}", now)
    if case.agent_id != case.applicant_id:
        holder = session.get(Person, case.applicant_id)
        name = holder.name if holder else ""
        _tell(
            session,
            session.get(Person, case.agent_id),
            f"您为{name}申报的居住变更登记：{text}。{suffix}",
            now,
        )


def change_for_answerer(session: Session, person_id: int, change_id: int) -> AddressChange:
    """A request to an address the person answers for; NoSuchRequest otherwise."""
    change = session.get(AddressChange, change_id)
    if change is None:
        raise NoSuchRequest()
    address = session.get(Address, change.to_address_id)
    if address is None or not policy.answers_for_address(session, person_id, address):
        raise NoSuchRequest()
    return change


def decide(
    session: Session,
    acting: Acting,
    *,
    change_id: int,
    confirm: bool,
    refuse_reason: str | None = None,
) -> AddressChange:
    """The answerer's decision (SPEC 10.7): confirm applies the change, refuse ends it with
    the reason. In the caller's transaction; AlreadyDecided when it ended meanwhile."""
    actor_id, now = acting.person_id, acting.now
    change = change_for_answerer(session, actor_id, change_id)
    reason = (refuse_reason or "").strip() or None
    if not confirm and reason is None:
        raise RefuseReasonMissing()
    if confirm and is_deregistered(session, change.permit_id):
        # Deregistration cancels a pending change in its own transaction; one committed
        # before this one began is seen here.
        raise AlreadyDecided(ChangeState.CANCELLED)
    address = session.get(Address, change.to_address_id)
    assert address is not None
    if confirm:
        _end(session, change, ChangeState.CONFIRMED, by=actor_id, now=now)
        _apply(session, change, confirmed_by=actor_id, now=now)
        _tell_parties(session, change, f"房屋登记人已确认，您的居住地址已变更为{address.line}", now)
    else:
        _end(session, change, ChangeState.REFUSED, by=actor_id, now=now, reason=reason)
        _tell_parties(
            session,
            change,
            f"搬入{address.line}的居住变更登记未获房屋登记人确认，原因：{reason}",
            now,
        )
    case = session.get(Case, change.case_id)
    audit.record(
        session,
        action="move_confirmed" if confirm else "move_refused",
        actor_id=actor_id,
        subject_id=case.applicant_id if case else None,
        client_address=acting.client_address,
        now=now,
        reference=case.reference if case else None,
        reason=reason,
    )
    session.flush()
    return change


def change_for_holder_side(session: Session, person_id: int, change_id: int) -> AddressChange:
    """A request the person may withdraw: its holder's, or one they may act on (the agent
    who made it, or a family member viewing the holder)."""
    change = session.get(AddressChange, change_id)
    case = session.get(Case, change.case_id) if change else None
    if change is None or case is None:
        raise NoSuchRequest()
    if person_id != case.agent_id and not policy.may_view(session, person_id, case.applicant_id):
        raise NoSuchRequest()
    return change


def withdraw(session: Session, acting: Acting, *, change_id: int) -> AddressChange:
    change = change_for_holder_side(session, acting.person_id, change_id)
    _end(session, change, ChangeState.WITHDRAWN, by=acting.person_id, now=acting.now)
    case = session.get(Case, change.case_id)
    assert case is not None
    audit.record(
        session,
        action="move_withdrawn",
        actor_id=acting.person_id,
        subject_id=case.applicant_id,
        client_address=acting.client_address,
        now=acting.now,
        reference=case.reference,
    )
    # Whoever was asked to confirm need not any more.
    to_address = session.get(Address, change.to_address_id)
    holder = session.get(Person, case.applicant_id)
    if to_address is not None and holder is not None:
        for answerer_id in policy.address_answerer_ids(session, to_address):
            _tell(
                session,
                session.get(Person, answerer_id),
                f"{identity.mask_name(holder.name)}已撤回搬入{to_address.line}的居住变更登记申请，"
                f"无需再确认。办件编号{case.reference}。",
                acting.now,
            )
    if acting.person_id != case.applicant_id:
        _tell(
            session,
            session.get(Person, case.applicant_id),
            f"您的居住变更登记申请已由{acting.person.name}撤回。办件编号{case.reference}。",
            acting.now,
        )
    session.flush()
    return change


def cancel_for_deregistration(session: Session, permit_id: int, now: datetime) -> int:
    """A deregistered permit keeps no pending change (SPEC 9.4). Called in the
    deregistration's transaction; a change confirmed meanwhile is left as it is."""
    return cancel_for_deregistrations(session, [permit_id], now)


def cancel_for_deregistrations(session: Session, permit_ids: Sequence[int], now: datetime) -> int:
    """`cancel_for_deregistration` of many permits: one read finds the few with a pending
    change (a workspace batch of a thousand departures has one or none)."""
    cancelled = 0
    for start in range(0, len(permit_ids), 1000):
        query = select(AddressChange).where(
            col(AddressChange.permit_id).in_(permit_ids[start : start + 1000]),
            AddressChange.state == ChangeState.PENDING,
        )
        for change in session.exec(query).all():
            try:
                _end(session, change, ChangeState.CANCELLED, by=None, now=now)
            except AlreadyDecided:
                continue
            _tell_parties(session, change, "因居住证已注销，居住变更登记申请已取消", now)
            cancelled += 1
    return cancelled


def lapse_due(session: Session, now: datetime) -> int:
    """Lapse every pending request past its 7 days and tell each holder; set-based and safe
    to run every hour (send-reminders). The caller commits."""
    lapsed = session.execute(
        sa.update(AddressChange)
        .where(
            col(AddressChange.state) == ChangeState.PENDING, col(AddressChange.expires_at) <= now
        )
        .values(state=ChangeState.LAPSED, decided_at=now)
        .returning(col(AddressChange.id))
    )
    ids = [row[0] for row in lapsed]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        session.execute(
            sa.update(Case)
            .where(
                col(Case.id).in_(
                    select(AddressChange.case_id).where(col(AddressChange.id).in_(chunk))
                )
            )
            .values(outcome=OUTCOME_OF_STATE[ChangeState.LAPSED])
        )
        to_address = aliased(Address)
        text = (
            sa.literal(f"{TAG}您申报搬入")
            + col(to_address.line)
            + "的居住变更登记，房屋登记人7日内未确认，申请已失效。如仍需变更，请重新申报。办件编号"
            + col(Case.reference)
            + "。"
        )
        messages = (
            sa.select(col(Person.phone), text, sa.literal(now, sa.DateTime(timezone=True)))
            .select_from(AddressChange)
            .join(Case, col(Case.id) == AddressChange.case_id)
            .join(Person, col(Person.id) == Case.applicant_id)
            .join(to_address, col(to_address.id) == AddressChange.to_address_id)
            .where(col(AddressChange.id).in_(chunk), col(Person.phone).is_not(None))
        )
        session.execute(sa.insert(SmsOutbox).from_select(["to", "text", "created_at"], messages))
    if ids:
        session.info["sms_queued"] = True
    return len(ids)


# --- Reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeView:
    """A request as the pages show it."""

    change: AddressChange
    case: Case
    holder: Person
    from_address: Address
    to_address: Address


def _with_views(query: sa.Select) -> sa.Select:
    """`query` of address changes, with what the pages show of each."""
    from_a, to_a = aliased(Address), aliased(Address)
    return (
        query.add_columns(Case, Person, from_a, to_a)
        .join(Case, col(Case.id) == AddressChange.case_id)
        .join(Person, col(Person.id) == Case.applicant_id)
        .join(from_a, col(from_a.id) == AddressChange.from_address_id)
        .join(to_a, col(to_a.id) == AddressChange.to_address_id)
    )


# The permit page asks on every view: built once, like history_of's (aliases and joins made
# per call took SQLAlchemy longer to key than the query took to run). First whether there is
# a pending request at all, in a statement that loads no objects: nearly always there is
# none, and the ORM readies its loading of the view's five kinds of row even for no row,
# which took three times as long as the question.
_PENDING_OF_PERMIT = (
    col(AddressChange.permit_id) == sa.bindparam("permit_id"),
    col(AddressChange.state) == ChangeState.PENDING,
)
_PENDING = sa.select(col(AddressChange.id)).where(*_PENDING_OF_PERMIT)
_PENDING_VIEW = _with_views(select(AddressChange).where(*_PENDING_OF_PERMIT))
_CONFIRMATIONS = _with_views(
    select(AddressChange)
    .where(
        col(AddressChange.to_address_id).in_(sa.bindparam("addresses", expanding=True)),
        AddressChange.state == ChangeState.PENDING,
    )
    .order_by(col(AddressChange.submitted_at), col(AddressChange.id))
)


def _views(session: Session, query: sa.Select, params: dict[str, Any]) -> list[ChangeView]:
    return [ChangeView(*row) for row in session.execute(query, params).all()]


def pending_view(session: Session, permit_id: int) -> ChangeView | None:
    if run(session, _PENDING, {"permit_id": permit_id}).first() is None:
        return None
    found = _views(session, _PENDING_VIEW, {"permit_id": permit_id})
    return found[0] if found else None


def confirmations_for(session: Session, person_id: int) -> list[ChangeView]:
    """Pending requests to the addresses the person answers for, oldest first."""
    addresses = policy.answered_address_ids(session, person_id)
    if not addresses:
        return []
    return _views(session, _CONFIRMATIONS, {"addresses": list(addresses)})


@dataclass(frozen=True)
class HistoryRow:
    from_address: Address
    to_address: Address
    moved_on: date
    confirmed_at: datetime


def _history() -> sa.Select:
    """Of columns, its addresses made into objects by sql.attach: the permit page asks on
    every view, and the ORM readied its loading of two kinds of object even with no move."""
    history = table_of(RegistrationHistory)
    from_a, to_a = table_of(Address).alias("from_address"), table_of(Address).alias("to_address")
    return (
        sa.select(
            *columns_of(Address, from_a),
            *columns_of(Address, to_a),
            history.c.moved_on,
            history.c.confirmed_at,
        )
        .select_from(
            history.join(from_a, from_a.c.id == history.c.from_address_id).join(
                to_a, to_a.c.id == history.c.to_address_id
            )
        )
        .where(history.c.permit_id == sa.bindparam("permit_id"))
        .order_by(history.c.moved_on.desc(), history.c.id.desc())
    )


_HISTORY = _history()


def history_of(session: Session, permit_id: int) -> list[HistoryRow]:
    """Where the permit was registered before, newest move first."""
    rows = run(session, _HISTORY, {"permit_id": permit_id}).all()
    history = []
    for row in rows:
        from_address, to_address = split(row, Address, Address)
        moved_on, confirmed_at = row[-2:]
        history.append(
            HistoryRow(
                attach(session, Address, from_address),
                attach(session, Address, to_address),
                moved_on,
                confirmed_at,
            )
        )
    return history
