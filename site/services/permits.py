"""Reading permits: who may see which, and the permit as the pages show it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from epermit import identity, policy, rules
from epermit.models import Address, Deregistration, Organisation, Permit, Person
from epermit.sql import attach, attach_joined, columns_of, run, saved_id, split, table_of


class NotAllowed(Exception):
    """The viewer has no right to this person's permit."""


@dataclass(frozen=True)
class PermitCard:
    holder: Person
    permit: Permit | None
    address: Address | None
    deregistration: Deregistration | None
    status: rules.PermitStatus | None
    window: tuple[date, date] | None
    employer: Organisation | None
    school: Organisation | None
    hotel: Organisation | None

    @property
    def can_endorse(self) -> bool:
        return self.status in (rules.PermitStatus.DUE, rules.PermitStatus.SUSPENDED)

    @property
    def can_deregister(self) -> bool:
        return self.permit is not None and self.status != rules.PermitStatus.DEREGISTERED

    @property
    def can_show_code(self) -> bool:
        return self.status in (rules.PermitStatus.VALID, rules.PermitStatus.DUE)


def current_permit(session: Session, person_id: int) -> Permit | None:
    query = select(Permit).where(Permit.person_id == person_id, Permit.is_current)
    return session.exec(query).first()


def district_of(session: Session, permit: Permit, address: Address | None = None) -> str:
    """The district the permit is registered in now: written on each event row (endorsement,
    deregistration, objection) so that statistics count it where it happened. `address`:
    the permit's address if the caller read it already (`current` does), not to read again."""
    if address is not None and address.id == permit.address_id:
        return address.district
    return districts_of(session, [permit])[saved_id(permit)]


def districts_of(session: Session, permits: Sequence[Permit]) -> dict[int, str]:
    """`district_of` of many permits (a workspace batch), one read per thousand addresses."""
    addresses = list(dict.fromkeys(p.address_id for p in permits))
    by_address: dict[int, str] = {}
    for start in range(0, len(addresses), 1000):
        query = sa.select(col(Address.id), col(Address.district)).where(
            col(Address.id).in_(addresses[start : start + 1000])
        )
        by_address.update((int(i), district) for i, district in session.execute(query))
    return {saved_id(p): by_address[p.address_id] for p in permits}


@dataclass(frozen=True)
class Current:
    """A person's current permit with what every page about it shows."""

    permit: Permit
    address: Address | None
    deregistration: Deregistration | None


# The permit page and every endorsement page ask this: one statement, built once (and built
# on by services.endorse, which asks more in the same statement, after these columns). Of
# columns, made into objects by `current_of` (sql.attach): the ORM readies its loading of
# three kinds of object on every run, which took longer than the read.
_PERMITS, _ADDRESSES, _DEREGISTRATIONS = map(table_of, (Permit, Address, Deregistration))
CURRENT = (
    sa.select(*columns_of(Permit), *columns_of(Address), *columns_of(Deregistration))
    .select_from(
        _PERMITS.outerjoin(_ADDRESSES, _ADDRESSES.c.id == _PERMITS.c.address_id).outerjoin(
            _DEREGISTRATIONS, _DEREGISTRATIONS.c.permit_id == _PERMITS.c.id
        )
    )
    .where(_PERMITS.c.person_id == sa.bindparam("person_id"), _PERMITS.c.is_current)
)


def current_of(session: Session, row: Sequence[Any]) -> Current:
    """The permit, address and deregistration of a row of CURRENT (or of a statement built
    on it, whose own columns come after them)."""
    permit, address, deregistration = split(row, Permit, Address, Deregistration)
    return Current(
        attach(session, Permit, permit),
        attach_joined(session, Address, address),
        attach_joined(session, Deregistration, deregistration),
    )


def current(session: Session, person_id: int) -> Current | None:
    """The person's current permit, its address and its deregistration if any; None
    without a current permit."""
    row = run(session, CURRENT, {"person_id": person_id}).first()
    return current_of(session, row) if row is not None else None


def current_holder(session: Session, name: str, id_number: str) -> Person | None:
    """The person with exactly this name and ID number who holds a current permit; None
    when there is none, one answer for every way of not matching, so that the question
    cannot be used to learn which part was wrong."""
    person = session.exec(
        select(Person).where(Person.id_number == identity.normalise_id_number(id_number))
    ).first()
    if person is None or person.id is None:
        return None
    if identity.normalise_name(person.name) != identity.normalise_name(name):
        return None
    return person if current_permit(session, person.id) is not None else None


def card_for(session: Session, *, viewer_id: int, holder_id: int, today: date) -> PermitCard:
    if not policy.may_view(session, viewer_id, holder_id):
        raise NotAllowed()
    holder = session.get(Person, holder_id)
    if holder is None:
        raise NotAllowed()
    return card_of(session, holder, today)


def card_of(session: Session, holder: Person, today: date) -> PermitCard:
    found = current(session, holder.id)  # type: ignore[arg-type]
    if found is None:
        return PermitCard(holder, None, None, None, None, None, None, None, None)
    permit, deregistration = found.permit, found.deregistration
    status = rules.permit_status(permit.valid_until, today, deregistered=deregistration is not None)

    def org(org_id: int | None) -> Organisation | None:
        return session.get(Organisation, org_id) if org_id is not None else None

    return PermitCard(
        holder=holder,
        permit=permit,
        address=found.address,
        deregistration=deregistration,
        status=status,
        window=rules.endorsement_window(permit.valid_until),
        employer=org(permit.employer_id),
        school=org(permit.school_id),
        hotel=org(permit.hotel_id),
    )
