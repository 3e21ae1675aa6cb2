"""Reading permits: who may see which, and the permit as the pages show it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, select

from epermit import rules
from epermit.models import Address, Deregistration, FamilyLink, Organisation, Permit, Person


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


def is_family_member(session: Session, person_id: int, member_id: int) -> bool:
    query = select(FamilyLink.id).where(
        FamilyLink.person_id == person_id, FamilyLink.member_id == member_id
    )
    return session.exec(query).first() is not None


def may_act_for(session: Session, actor_id: int, holder_id: int) -> bool:
    return actor_id == holder_id or is_family_member(session, actor_id, holder_id)


def card_for(session: Session, *, viewer_id: int, holder_id: int, today: date) -> PermitCard:
    if not may_act_for(session, viewer_id, holder_id):
        raise NotAllowed()
    holder = session.get(Person, holder_id)
    if holder is None:
        raise NotAllowed()
    return card_of(session, holder, today)


def card_of(session: Session, holder: Person, today: date) -> PermitCard:
    permit = current_permit(session, holder.id)  # type: ignore[arg-type]
    if permit is None:
        return PermitCard(holder, None, None, None, None, None, None, None, None)
    deregistration = session.exec(
        select(Deregistration).where(Deregistration.permit_id == permit.id)
    ).first()
    status = rules.permit_status(permit.valid_until, today, deregistered=deregistration is not None)

    def org(org_id: int | None) -> Organisation | None:
        return session.get(Organisation, org_id) if org_id is not None else None

    return PermitCard(
        holder=holder,
        permit=permit,
        address=session.get(Address, permit.address_id),
        deregistration=deregistration,
        status=status,
        window=rules.endorsement_window(permit.valid_until),
        employer=org(permit.employer_id),
        school=org(permit.school_id),
        hotel=org(permit.hotel_id),
    )
