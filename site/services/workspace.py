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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from epermit import identity, policy
from epermit.acting import Acting
from epermit.models import Address, AddressChange, Organisation, Permit, Person
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
    # Read from the permit itself (Permit.deregistered), not asked of the deregistrations: a
    # look-up per person into a key that deepens with every departure ever declared.
    return sa.not_(col(Permit.deregistered))


def _where_registered(roster: Roster) -> list[sa.ColumnElement[bool]]:
    """The permits of this roster: current, at its place, whether deregistered or not."""
    # `= true`, which PostgreSQL reads as `is_current` and SQLite writes `= 1`, as the roster
    # indexes' condition says (models.roster_where): PostgreSQL does not take
    # `is_current IS true` to imply `is_current`, and would not use them.
    conditions: list[sa.ColumnElement[bool]] = [col(Permit.is_current) == sa.true()]
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


def _matches(q: str) -> list[sa.ColumnElement[bool]]:
    """Who a search finds: by the last 4 characters of the ID number, or part of the name."""
    if not q:
        return []
    if re.fullmatch(r"[0-9]{3}[0-9Xx]", q):
        return [col(Person.id_number).endswith(q.upper(), autoescape=True)]
    return [col(Person.name).contains(q, autoescape=True)]


def _registered(roster: Roster) -> sa.CTE:
    """The roster's permits still in force, found through the place's own index and kept
    apart from the page's ordering: left to choose, PostgreSQL would walk the whole address
    register in address order to save sorting a few hundred rows (seconds at 10 million
    permits). Only the permits are read: whether each is deregistered is on the permit."""
    found: sa.Select[Any, Any, Any, Any] = sa.select(
        col(Permit.id).label("permit_id"),
        col(Permit.person_id).label("person_id"),
        col(Permit.address_id).label("address_id"),
        col(Permit.registered_since).label("registered_since"),
    ).where(*_where_registered(roster), _not_deregistered())
    return found.cte("registered").prefix_with("MATERIALIZED")


def _places(found: sa.CTE) -> sa.CTE:
    """The addresses of `found` (rows with an address_id) and their lines, each read once.

    Joined as a set: as a scalar subquery per row PostgreSQL plans one probe at a time and,
    when the address table is small, scans all of it for each of a thousand rows; asked for
    the set, it probes each address once by its key (or hashes a small table once). Kept
    apart (materialised) so that the few addresses are each read once, not once per person:
    merged into the page, PostgreSQL probed the address key for every row."""
    return (
        sa.select(col(Address.id).label("id"), col(Address.line).label("line"))
        .where(col(Address.id).in_(sa.select(found.c.address_id)))
        .cte("places")
        .prefix_with("MATERIALIZED")
    )


def _count(roster: Roster, q: str = "") -> sa.Select:
    """How many are on the roster, or found by the search `q`."""
    if q:
        return select(func.count()).select_from(_members(roster, q).subquery())
    return select(func.count()).select_from(_registered(roster))


def _members(roster: Roster, q: str = "") -> sa.Select:
    """Everyone on the roster whom the search `q` finds (everyone without one), with their
    name, ID number and address line. The people first, then the addresses of those found
    only: a search that finds two people reads two addresses, not the whole roster's."""
    registered = _registered(roster)
    found = (
        sa.select(
            registered.c.permit_id,
            col(Person.id).label("person_id"),
            col(Person.name).label("name"),
            col(Person.id_number).label("id_number"),
            registered.c.registered_since,
            registered.c.address_id,
        )
        .select_from(registered)
        .join(Person, col(Person.id) == registered.c.person_id)
        .where(*_matches(q))
        .cte("found")
        .prefix_with("MATERIALIZED")
    )
    places = _places(found)
    return (
        sa.select(
            found.c.permit_id,
            found.c.person_id,
            found.c.name,
            found.c.id_number,
            found.c.registered_since,
            places.c.line,
        )
        .select_from(found)
        .join(places, places.c.id == found.c.address_id)
    )


def _page_of_places(roster: Roster, page: int, *, with_total: bool) -> sa.Select:
    """One page of the whole roster (no search), reading the people of the page's addresses
    only.

    The roster's order is by address line, then name: which addresses a page spans follows
    from how many people each address has, which the permits alone tell. So the page reads
    the person rows (name, ID number) of those few addresses, some fifty people, not of
    everyone on the roster: each person's row is a descent of the person key, which deepens
    as the city grows, and a roster of a thousand paid a thousand of them for every page."""
    registered = _registered(roster)
    places = _places(registered)
    people = (
        sa.select(places.c.id, places.c.line, func.count().label("n"))
        .select_from(registered)
        .join(places, places.c.id == registered.c.address_id)
        .group_by(places.c.id, places.c.line)
        .subquery("people")
    )
    # How many people come before each address in the roster's order (lines are unique).
    counted = (
        sa.select(
            people.c.id,
            people.c.line,
            people.c.n,
            sa.cast(
                func.sum(people.c.n).over(order_by=people.c.line) - people.c.n, sa.Integer
            ).label("before"),
            sa.cast(func.sum(people.c.n).over(), sa.Integer).label("total"),
        )
        .cte("counted")
        .prefix_with("MATERIALIZED")
    )
    start, end = (page - 1) * PER_PAGE, page * PER_PAGE
    position = counted.c.before + func.row_number().over(
        partition_by=counted.c.id, order_by=(col(Person.name), registered.c.permit_id)
    )
    ranked = (
        sa.select(
            registered.c.permit_id,
            col(Person.id).label("person_id"),
            col(Person.name),
            col(Person.id_number),
            registered.c.registered_since,
            counted.c.line,
            counted.c.total,
            position.label("position"),
        )
        .select_from(counted)
        .join(registered, registered.c.address_id == counted.c.id)
        .join(Person, col(Person.id) == registered.c.person_id)
        .where(counted.c.before < end, counted.c.before + counted.c.n > start)
        .subquery("ranked")
    )
    shown = [
        ranked.c.permit_id,
        ranked.c.person_id,
        ranked.c.name,
        ranked.c.id_number,
        ranked.c.registered_since,
        ranked.c.line,
    ]
    if with_total:
        shown.append(ranked.c.total)
    return (
        sa.select(*shown)
        .where(ranked.c.position > start, ranked.c.position <= end)
        .order_by(ranked.c.position)
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
    if not q:
        return _page_of_places(roster, page, with_total=with_total)
    matching = _members(roster, q)
    if with_total:
        matching = matching.add_columns(func.count().over().label("total"))
    return _in_order(matching).limit(PER_PAGE).offset((page - 1) * PER_PAGE)


def _pages(total: int) -> int:
    """How many pages `total` people fill (one, empty, for none)."""
    return max(1, -(-total // PER_PAGE))


def roster_page(
    session: Session, acting: Acting, roster: Roster, *, q: str, page: int, secret: str
) -> RosterPage:
    """One page of the people registered there now, PER_PAGE a page, ordered by address and
    name; the view is an audit event (SPEC 10.8)."""
    # The page and how many match come from the same pass over the roster: each person is
    # read once (their permit, whether it is still in force, their name and ID number), not
    # once for the page and once more for a separate count. The count's own pass was the
    # part of the page that grew with the city (one look-up per person into the
    # deregistration index, whose depth grows with every departure ever declared).
    found = session.execute(page_query(roster, q, page, with_total=True)).all()
    values: Sequence[Any] = [row[:-1] for row in found]
    total = found[0][-1] if found else 0
    if not found and page > 1:
        # A page past the end: count on its own, and show the last page.
        total = session.execute(_count(roster, q)).scalar_one()
        page = _pages(total)
        values = session.execute(page_query(roster, q, page)).all() if total else []
    pages = _pages(total)
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
        registered = session.execute(_count(roster)).scalar_one()
        found.append(
            Place(
                roster, organisation.name, None, registered, awaiting_confirmation(session, roster)
            )
        )
    return found
