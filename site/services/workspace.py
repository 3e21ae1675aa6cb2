"""The workspace of landlords and organisations (SPEC 10): their places, the people
registered at each (rosters), and the roster as a file.

Who answers for which place is the policy module's (`policy.roster_scope`); this module
reads rosters and records every view and export as an audit event. No Flask, no clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from epermit import identity, policy
from epermit.acting import Acting
from epermit.models import Address, AddressChange, Deregistration, Organisation, Permit, Person
from epermit.services import audit
from epermit.vocabulary import ChangeState, DeclarantRole

PER_PAGE = 50
ALL = "all"  # the place of the roster of every address a landlord answers for


@dataclass(frozen=True)
class Roster:
    """Whose people: one address, every address the person answers for, or an organisation."""

    kind: str  # "address" or "org"
    address: Address | None = None  # None with kind "address": every address answered for
    organisation: Organisation | None = None
    answerer_id: int | None = None

    @property
    def place(self) -> str:
        """The place as it appears in URLs: an id, or ALL."""
        if self.organisation is not None:
            return str(self.organisation.id)
        return str(self.address.id) if self.address is not None else ALL

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.place}"

    @property
    def role(self) -> DeclarantRole:
        """The role its answerer declares departures in (SPEC 2.8)."""
        if self.organisation is not None:
            return DeclarantRole(self.organisation.kind)
        return DeclarantRole.LANDLORD

    @property
    def spans_addresses(self) -> bool:
        """Whether its people live at several addresses (then each row names theirs)."""
        return self.kind == "address" and self.address is None or self.kind == "org"


def open_roster(session: Session, person_id: int, kind: str, place: str) -> Roster:
    """The roster of `kind`/`place` if `person_id` answers for it; policy.NotInScope for
    anything else, whether it exists or not."""
    if kind == "address" and place == ALL:
        policy.roster_scope(session, person_id, "address", None)
        return Roster("address", answerer_id=person_id)
    if not re.fullmatch(r"[1-9][0-9]{0,17}", place) or int(place) > 2**63 - 1:
        raise policy.NotInScope()
    found = policy.roster_scope(session, person_id, kind, int(place))
    if isinstance(found, Organisation):
        return Roster("org", organisation=found, answerer_id=person_id)
    return Roster("address", address=found, answerer_id=person_id)


def _not_deregistered() -> sa.ColumnElement[bool]:
    # A scalar subquery is a probe of the unique index per roster row; written as NOT EXISTS
    # the planner may instead hash the whole deregistration table, which grows with the city.
    deregistered = (
        select(Deregistration.id)
        .where(col(Deregistration.permit_id) == col(Permit.id))
        .scalar_subquery()
    )
    return deregistered.is_(None)


def _where_registered(roster: Roster) -> list[sa.ColumnElement[bool]]:
    """The permits of this roster: current, at its place, whether deregistered or not."""
    conditions: list[sa.ColumnElement[bool]] = [col(Permit.is_current).is_(True)]
    if roster.organisation is not None:
        column = getattr(Permit, f"{roster.organisation.kind}_id")
        conditions.append(column == roster.organisation.id)
    elif roster.address is not None:
        conditions.append(col(Permit.address_id) == roster.address.id)
    else:
        answered = select(Address.id).where(Address.landlord_id == roster.answerer_id)
        conditions.append(col(Permit.address_id).in_(answered.scalar_subquery()))
    return conditions


@dataclass(frozen=True)
class RosterRow:
    row_id: str  # opaque: means nothing outside this roster
    person_id: int
    name: str
    masked_id_number: str
    registered_since: date
    address_line: str


@dataclass(frozen=True)
class RosterPage:
    rows: list[RosterRow]
    total: int  # people matching the search
    page: int
    pages: int
    q: str


def row_id(roster: Roster, permit_id: int, secret: str) -> str:
    """A row's id in this roster's form: keyed, so that it names nobody anywhere else."""
    message = f"roster:{roster.key}:{permit_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:20]


def normalise_query(raw: str | None) -> str:
    return " ".join(unicodedata.normalize("NFKC", raw or "").split())[:30]


def _matching(query: sa.Select, q: str) -> sa.Select:
    if not q:
        return query
    if re.fullmatch(r"[0-9]{3}[0-9Xx]", q):
        return query.where(col(Person.id_number).endswith(q.upper(), autoescape=True))
    return query.where(col(Person.name).contains(q, autoescape=True))


def _registered(roster: Roster) -> sa.CTE:
    """The roster's permits, found through the place's own index and kept apart from the
    page's ordering: left to choose, PostgreSQL would walk the whole address register in
    address order to save sorting a few hundred rows (seconds at 10 million permits).

    Whether each is still in force is a column (`live`), not a condition of the set: as a
    condition PostgreSQL guesses it keeps one row in two hundred, plans the page for five
    people instead of a thousand, and joins them one by one against whole tables."""
    found: sa.Select[Any, Any, Any, Any, Any] = sa.select(
        col(Permit.id).label("permit_id"),
        col(Permit.person_id).label("person_id"),
        col(Permit.address_id).label("address_id"),
        col(Permit.registered_since).label("registered_since"),
        _not_deregistered().label("live"),
    ).where(*_where_registered(roster))
    return found.cte("registered").prefix_with("MATERIALIZED")


def _count_registered(roster: Roster) -> sa.Select:
    registered = _registered(roster)
    return select(func.count()).select_from(registered).where(registered.c.live)


def _members(roster: Roster) -> sa.Select:
    registered = _registered(roster)
    # Each row's address line from the roster's few addresses, joined as a set: as a scalar
    # subquery per row PostgreSQL plans one probe at a time and, when the address table is
    # small, scans all of it for each of a thousand rows; asked for the set, it probes each
    # address once by its key (or hashes a small table once).
    # Kept apart (materialised) so that the few addresses are each read once, not once per
    # person: merged into the page, PostgreSQL probed the address key for every row.
    places = (
        sa.select(col(Address.id).label("id"), col(Address.line).label("line"))
        .where(col(Address.id).in_(sa.select(registered.c.address_id)))
        .cte("places")
        .prefix_with("MATERIALIZED")
    )
    return (
        sa.select(
            registered.c.permit_id,
            col(Person.id),
            col(Person.name),
            col(Person.id_number),
            registered.c.registered_since,
            places.c.line,
        )
        .select_from(registered)
        .join(Person, col(Person.id) == registered.c.person_id)
        .join(places, places.c.id == registered.c.address_id)
        .where(registered.c.live)
    )


def _in_order(query: sa.Select) -> sa.Select:
    """By address (a landlord's rooms, a dormitory's buildings), then name."""
    columns = query.selected_columns
    return query.order_by(columns.line, columns.name, columns.permit_id)


def _row(roster: Roster, secret: str, values: sa.Row) -> RosterRow:
    permit_id, person_id, name, id_number, since, line = values
    return RosterRow(
        row_id(roster, permit_id, secret),
        person_id,
        name,
        identity.mask_id_number(id_number),
        since,
        line,
    )


def page_query(roster: Roster, q: str, page: int, *, with_total: bool = False) -> sa.Select:
    """The statement of one page of the roster (what `roster_page` shows); `with_total`
    adds how many match in all as a last column."""
    matching = _matching(_members(roster), q)
    if with_total:
        matching = matching.add_columns(func.count().over().label("total"))
    return _in_order(matching).limit(PER_PAGE).offset((page - 1) * PER_PAGE)


def roster_page(
    session: Session, acting: Acting, roster: Roster, *, q: str, page: int, secret: str
) -> RosterPage:
    """One page of the people registered there now, PER_PAGE a page, ordered by address and
    name; the view is an audit event (SPEC 10.8)."""
    values: list[Any] | None = None
    total = 0
    # The page and how many match come from the same pass over the roster: each person is
    # read once (their permit, whether it is still in force, their name and ID number), not
    # once for the page and once more for a separate count. The count's own pass was the
    # part of the page that grew with the city (one look-up per person into the
    # deregistration index, whose depth grows with every departure ever declared).
    found = session.execute(page_query(roster, q, page, with_total=True)).all()
    if found:
        total, values = found[0][-1], [row[:-1] for row in found]
    elif page == 1:
        values = []
    pages = max(1, -(-total // PER_PAGE))
    if values is None or page > pages:
        # A page past the end (or, searching, one that found nothing): count, show the last.
        counting: sa.Select
        if q:
            counting = select(func.count()).select_from(_matching(_members(roster), q).subquery())
        else:
            counting = _count_registered(roster)
        total = session.execute(counting).scalar_one()
        pages = max(1, -(-total // PER_PAGE))
        page = min(max(1, page), pages)
        values = list(session.execute(page_query(roster, q, page)).all())
    audit.record(
        session,
        action="workspace_roster_viewed",
        actor_id=acting.person_id,
        subject_id=None,
        client_address=acting.client_address,
        now=acting.now,
        roster=roster.key,
        page=page,
        q=q or None,
        shown=[row[1] for row in values],
    )
    return RosterPage([_row(roster, secret, v) for v in values], total, page, pages, q)


def export_rows(session: Session, acting: Acting, roster: Roster) -> Iterator[RosterRow]:
    """Everyone on the roster, for the CSV export (an audit event, SPEC 10.6, 10.8)."""
    values = session.execute(_in_order(_members(roster))).all()
    audit.record(
        session,
        action="workspace_roster_exported",
        actor_id=acting.person_id,
        subject_id=None,
        client_address=acting.client_address,
        now=acting.now,
        roster=roster.key,
        rows=len(values),
    )
    return (_row(roster, "", v) for v in values)


@dataclass(frozen=True)
class Member:
    """A person on a roster, as a batch or a file row needs them."""

    person_id: int
    permit_id: int
    name: str
    id_number: str
    issue_date: date


def members_by_row_id(session: Session, roster: Roster, secret: str) -> dict[str, Member]:
    """The people on the roster now, by their row id (to resolve what was ticked)."""
    return {row_id(roster, m.permit_id, secret): m for m in _all_members(session, roster)}


def members_by_id_number(session: Session, roster: Roster) -> dict[str, Member]:
    return {m.id_number: m for m in _all_members(session, roster)}


def _all_members(session: Session, roster: Roster) -> list[Member]:
    query = (
        sa.select(
            col(Person.id),
            col(Permit.id),
            col(Person.name),
            col(Person.id_number),
            col(Permit.issue_date),
        )
        .join(Person, col(Person.id) == col(Permit.person_id))
        .where(*_where_registered(roster), _not_deregistered())
    )
    return [Member(*values) for values in session.execute(query).all()]


def registered_person_ids(session: Session, roster: Roster, person_ids: list[int]) -> set[int]:
    """Which of these people hold a current permit registered on this roster, deregistered
    or not (a deregistered one is told apart by the deregistration service)."""
    query = select(col(Permit.person_id)).where(
        *_where_registered(roster), col(Permit.person_id).in_(person_ids)
    )
    return set(session.execute(query).scalars().all())


# --- The workspace's front page (SPEC 10.2) -------------------------------------------------


@dataclass(frozen=True)
class Place:
    roster: Roster
    name: str
    district: str | None
    registered: int  # people registered there now
    awaiting_confirmation: int  # changes of address waiting for this answerer (SPEC 9.3)


def awaiting_confirmation(session: Session, roster: Roster) -> int:
    """Changes of address to this place waiting for its answerer (SPEC 9.3, 10.7): to this
    address, or to the addresses an organisation answers for (its dormitories)."""
    query = (
        select(sa.func.count())
        .select_from(AddressChange)
        .where(col(AddressChange.state) == ChangeState.PENDING)
    )
    if roster.organisation is not None:
        places = select(col(Address.id)).where(Address.organisation_id == roster.organisation.id)
        query = query.where(col(AddressChange.to_address_id).in_(places))
    elif roster.address is not None:
        query = query.where(AddressChange.to_address_id == roster.address.id)
    else:
        return 0
    return int(session.execute(query).scalar_one())


def places(session: Session, person_id: int) -> list[Place]:
    """Every address and organisation the person answers for, with how many are registered
    there now (one grouped count per kind, not a count per place)."""
    addresses = policy.answered_addresses(session, person_id)
    organisations = policy.operated_organisations(session, person_id)
    counts: dict[int | None, int] = {}
    if addresses:
        grouped = (
            select(col(Permit.address_id), func.count())
            .where(
                col(Permit.is_current).is_(True),
                col(Permit.address_id).in_([a.id for a in addresses]),
                _not_deregistered(),
            )
            .group_by(col(Permit.address_id))
        )
        counts = {address_id: n for address_id, n in session.execute(grouped).all()}
    found: list[Place] = []
    for address in addresses:
        roster = Roster("address", address=address, answerer_id=person_id)
        found.append(
            Place(
                roster,
                address.line,
                address.district,
                counts.get(address.id, 0),
                awaiting_confirmation(session, roster),
            )
        )
    for organisation in organisations:
        roster = Roster("org", organisation=organisation, answerer_id=person_id)
        registered = session.execute(_count_registered(roster)).scalar_one()
        found.append(
            Place(
                roster, organisation.name, None, registered, awaiting_confirmation(session, roster)
            )
        )
    return found
