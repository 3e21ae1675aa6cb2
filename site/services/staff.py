"""The staff console's reading side (SPEC 12.3, 12.5): search, the person page, statistics.

Every question is asked through the policy's staff scope, and every view is itself an audit
event (12.3), recorded in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import FunctionElement
from sqlmodel import Session, col, select

from epermit import identity, policy
from epermit.acting import StaffActing
from epermit.clock import SHANGHAI
from epermit.models import (
    Address,
    AddressChange,
    AuditEvent,
    Case,
    Deregistration,
    Endorsement,
    FamilyLink,
    Objection,
    Permit,
    Person,
    Staff,
    VerificationEvent,
)
from epermit.services import audit, cases, permits, references
from epermit.vocabulary import ChangeState, DeclarantRole

# --- Search (12.3) ---------------------------------------------------------------------------


class SearchRefused(Exception):
    """Base of the reasons a search finds nobody; views map each to a message."""


class UnrecognisedQuery(SearchRefused):
    """Neither a reference, nor a full ID number, nor a phone number."""


class NoMatch(SearchRefused):
    """Well formed, but nobody in this staff member's scope matches: one answer for "nobody"
    and "somebody outside your district", so a search reveals nothing beyond the scope."""


def _kind_of(query: str) -> tuple[str, str]:
    """What the query is (reference, id_number or phone) and its normalised value."""
    compact = "".join(query.split()).upper()
    if references.is_well_formed(compact):
        return "reference", compact
    if len(identity.normalise_id_number(query)) == 18:
        try:
            # Any date is in the past for a stored person; the check is of the number's form.
            return "id_number", identity.check_id_number(query, date.max)
        except identity.IdentityError:
            pass
    try:
        return "phone", identity.check_phone(query)
    except identity.IdentityError:
        raise UnrecognisedQuery() from None


def search(session: Session, acting: StaffActing, query: str) -> int:
    """The id of the person the query names, within scope; raises a SearchRefused."""
    kind, value = _kind_of(query)
    person_id: int | None
    if kind == "reference":
        person_id = session.exec(select(Case.applicant_id).where(Case.reference == value)).first()
    elif kind == "id_number":
        person_id = session.exec(select(Person.id).where(Person.id_number == value)).first()
    else:
        person_id = session.exec(select(Person.id).where(Person.phone == value)).first()
    found = person_id is not None and policy.staff_may_see(session, acting.staff, person_id)
    audit.record(
        session,
        action="staff_searched",
        actor_id=None,
        subject_id=person_id if found else None,
        staff_id=acting.staff_id,
        client_address=acting.client_address,
        now=acting.now,
        kind=kind,
        found=found,
    )
    if not found:
        raise NoMatch()
    assert person_id is not None
    return person_id


# --- The person page (12.3) ------------------------------------------------------------------


class OutOfScope(Exception):
    """Nobody of that id within this staff member's scope (views answer 404)."""


@dataclass(frozen=True)
class FamilyEntry:
    other: Person
    relationship: str  # the member's relation to the person who keeps the list
    on_their_list: bool  # True: this person is on `other`'s list; False: `other` is on theirs
    since: datetime


@dataclass(frozen=True)
class Registration:
    permit: Permit
    address: Address


@dataclass(frozen=True)
class AuditEntry:
    event: AuditEvent
    actor: Person | None
    staff: Staff | None


@dataclass(frozen=True)
class Dossier:
    card: permits.PermitCard
    registrations: list[Registration]
    deregistrations: list[Deregistration]
    cases: list[cases.CaseRecord]
    family: list[FamilyEntry]
    audit: list[AuditEntry]
    verifications: list[datetime]  # when the person's shown code was checked, newest first


AUDIT_SHOWN = 50
VERIFICATIONS_SHOWN = 50


def dossier(session: Session, acting: StaffActing, person_id: int) -> Dossier:
    """Everything the register holds on a person, for a staff member who may see them; the
    view is recorded. Raises OutOfScope."""
    if not policy.staff_may_see(session, acting.staff, person_id):
        raise OutOfScope()
    holder = session.get(Person, person_id)
    assert holder is not None
    card = permits.card_of(session, holder, acting.today)
    registrations = [
        Registration(permit, address)
        for permit, address in session.execute(
            select(Permit, Address)
            .join(Address, Address.id == Permit.address_id)  # type: ignore[arg-type]
            .where(Permit.person_id == person_id)
            .order_by(col(Permit.issue_date).desc(), col(Permit.id).desc())
        ).all()
    ]
    deregistrations = list(
        session.exec(
            select(Deregistration)
            .join(Permit, Permit.id == Deregistration.permit_id)  # type: ignore[arg-type]
            .where(Permit.person_id == person_id)
            .order_by(col(Deregistration.declared_at).desc())
        ).all()
    )
    # Two indexed look-ups rather than one join on an OR, which a planner may answer with a
    # scan of every family link in the city.
    family = [
        FamilyEntry(member, link.relationship, False, link.created_at)
        for link, member in session.execute(
            select(FamilyLink, Person)
            .join(Person, col(Person.id) == col(FamilyLink.member_id))
            .where(col(FamilyLink.person_id) == person_id)
        ).all()
    ] + [
        FamilyEntry(keeper, link.relationship, True, link.created_at)
        for link, keeper in session.execute(
            select(FamilyLink, Person)
            .join(Person, col(Person.id) == col(FamilyLink.person_id))
            .where(col(FamilyLink.member_id) == person_id)
        ).all()
    ]
    family.sort(key=lambda entry: entry.since)
    actor = aliased(Person)
    events = [
        AuditEntry(event, person, staff)
        for event, person, staff in session.execute(
            select(AuditEvent, actor, Staff)
            .outerjoin(actor, actor.id == AuditEvent.actor_id)  # type: ignore[arg-type]
            .outerjoin(Staff, Staff.id == AuditEvent.staff_id)  # type: ignore[arg-type]
            .where(AuditEvent.subject_id == person_id)
            .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
            .limit(AUDIT_SHOWN)
        ).all()
    ]
    verifications = list(
        session.exec(
            select(VerificationEvent.checked_at)
            .where(VerificationEvent.person_id == person_id)
            .order_by(col(VerificationEvent.checked_at).desc(), col(VerificationEvent.id).desc())
            .limit(VERIFICATIONS_SHOWN)
        ).all()
    )
    audit.record(
        session,
        action="staff_viewed_person",
        actor_id=None,
        subject_id=person_id,
        staff_id=acting.staff_id,
        client_address=acting.client_address,
        now=acting.now,
    )
    return Dossier(
        card=card,
        registrations=registrations,
        deregistrations=deregistrations,
        cases=cases.cases_for(session, person_id),
        family=family,
        audit=events,
        verifications=verifications,
    )


# --- Statistics (12.5) -----------------------------------------------------------------------


class local_day(FunctionElement[date]):
    """The date in Guangzhou of a stored UTC moment, computed by the database, so that
    counting per day is one GROUP BY. China keeps no daylight saving: +8 hours all year."""

    type = sa.Date()
    inherit_cache = True


@compiles(local_day, "sqlite")
def _local_day_sqlite(element: local_day, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, '+8 hours')"


@compiles(local_day, "postgresql")
def _local_day_postgresql(element: local_day, compiler: Any, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)} AT TIME ZONE 'Asia/Shanghai') AS DATE)"


# What is counted, in the order the table and the CSV show it.
ENDORSEMENT_METRICS = ("endorse_on_time", "endorse_late")
DEREGISTRATION_METRICS = tuple(f"deregister_{role.value}" for role in DeclarantRole)
MOVE_STATES = (ChangeState.CONFIRMED, ChangeState.REFUSED, ChangeState.LAPSED)
MOVE_METRICS = tuple(f"move_{state.value}" for state in MOVE_STATES)
OBJECTION_METRICS = ("objection_restored", "objection_upheld")
METRICS: tuple[str, ...] = (
    ENDORSEMENT_METRICS + DEREGISTRATION_METRICS + MOVE_METRICS + OBJECTION_METRICS
)
# The chart's groups: each a sum of metrics.
GROUPS: dict[str, tuple[str, ...]] = {
    "endorse": ENDORSEMENT_METRICS,
    "deregister": DEREGISTRATION_METRICS,
    "move": MOVE_METRICS,
    "objection": OBJECTION_METRICS,
}
DEFAULT_DAYS = 30
MAX_DAYS = 366


class StatsRangeRefused(ValueError):
    """The range ends before it starts, or is longer than MAX_DAYS."""


@dataclass(frozen=True)
class StatsRow:
    day: date
    district: str
    counts: dict[str, int]

    def group(self, name: str) -> int:
        return sum(self.counts[metric] for metric in GROUPS[name])


@dataclass(frozen=True)
class Stats:
    start: date
    end: date  # inclusive
    district: str | None  # None: the whole city
    by_day: list[StatsRow]  # every day of the range, districts summed ("" as district)
    by_day_and_district: list[StatsRow]  # only (day, district) pairs with something counted

    @property
    def totals(self) -> dict[str, int]:
        return {m: sum(row.counts[m] for row in self.by_day) for m in METRICS}


def _utc_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC moments that begin `start` and end `end` in Guangzhou, for an index range."""
    begin = datetime.combine(start, time(), SHANGHAI)
    finish = datetime.combine(end + timedelta(days=1), time(), SHANGHAI)
    return begin, finish


def _move_metric(state: str) -> str | None:
    # Withdrawn and cancelled requests are not counted. They are skipped here rather than in
    # the query, where a condition on the state would tempt the planner to the
    # (state, expires_at) index and a read of every request ever confirmed.
    return f"move_{state}" if state in MOVE_STATES else None


@dataclass(frozen=True)
class _Counted:
    """A kind of event row counted in statistics: when it happened (a moment, of which the
    Guangzhou day counts; or, `dated`, a day already), the column that says which metric,
    and that metric. Every such row has its `district`, and an index on (when, district,
    kind)."""

    when: Any
    kind: Any
    metric: Callable[[Any], str | None]
    dated: bool = False

    def query(self, start: date, end: date, district: str | None) -> sa.Select:
        """Counts per (day, kind, district) over [start, end], of one district if given."""
        when: Any = col(self.when)
        day: Any
        if self.dated:
            day, where = when, [when.between(start, end)]
        else:
            begin, finish = _utc_bounds(start, end)
            day, where = local_day(self.when), [when >= begin, when < finish]
        place = col(self.when.class_.district)
        if district is not None:
            where.append(place == district)
        kind = col(self.kind)
        return sa.select(day, kind, place, sa.func.count()).where(*where).group_by(day, place, kind)


_COUNTED = (
    _Counted(
        Endorsement.endorsed_on,
        Endorsement.late,
        lambda late: "endorse_late" if late else "endorse_on_time",
        dated=True,
    ),
    _Counted(
        Deregistration.declared_at, Deregistration.declarant_role, lambda role: f"deregister_{role}"
    ),
    _Counted(AddressChange.decided_at, AddressChange.state, _move_metric),
    _Counted(Objection.decided_at, Objection.status, lambda status: f"objection_{status}"),
)


def statistics(
    session: Session,
    acting: StaffActing,
    *,
    start: date,
    end: date,
    district: str | None,
    download: bool = False,
) -> Stats:
    """Counts per day and district over [start, end] for the staff member's scope
    (policy.staff_stats_district). The view is recorded.

    Flat by design: each kind of event row carries its district, written when it happens
    (where the holder was registered then; a change of address where it moves to), and an
    index on (day, district, kind) holds all a query needs, so each kind is one range read
    of that index alone, grouped in index order: its cost is the events of the range, not
    the size of the register, and nothing is joined. A month of the whole city at 10
    million permits is about 90,000 index entries.

    Kept daily counts (one row per day, district and metric, bumped in each event's
    transaction) would read less still, but every endorsement of a district on a day would
    update the same row: on PostgreSQL each writer then waits for the row lock of the one
    before until it commits, which turns a busy morning's endorsements into a queue (and
    SQLite has one writer anyway). Rows that are written once anyway, with a district on
    them, cost an index entry and contend with nobody."""
    if end < start or (end - start).days >= MAX_DAYS:
        raise StatsRangeRefused()
    district = policy.staff_stats_district(acting.staff, district)
    counted: dict[tuple[date, str], dict[str, int]] = {}
    for source in _COUNTED:
        for day, kind, place, count in session.execute(source.query(start, end, district)):
            metric = source.metric(kind)
            if metric is None:
                continue
            # SQLite hands back the day as text when the expression is grouped.
            day = date.fromisoformat(day) if isinstance(day, str) else day
            counts = counted.setdefault((day, place), dict.fromkeys(METRICS, 0))
            counts[metric] += count

    by_day: list[StatsRow] = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        totals = dict.fromkeys(METRICS, 0)
        for (counted_day, _place), counts in counted.items():
            if counted_day == day:
                for metric, count in counts.items():
                    totals[metric] += count
        by_day.append(StatsRow(day, district or "", totals))
    audit.record(
        session,
        action="staff_downloaded_stats" if download else "staff_viewed_stats",
        actor_id=None,
        subject_id=None,
        staff_id=acting.staff_id,
        client_address=acting.client_address,
        now=acting.now,
        start=start.isoformat(),
        end=end.isoformat(),
        district=district,
    )
    return Stats(
        start=start,
        end=end,
        district=district,
        by_day=by_day,
        by_day_and_district=[
            StatsRow(day, place, counts) for (day, place), counts in sorted(counted.items())
        ],
    )
