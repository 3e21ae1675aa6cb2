"""Who may act for whom, and on what basis (STYLE: policy.py).

Every service asks here, and nobody re-derives it: a holder acts for themself; a family
member for the people on their list (SPEC 2.9), or for anyone who consented by SMS code in a
wizard (2.10); the recorded landlord, employer, school or hotel may declare a deregistration
(2.8); a staff member sees the people of their district, or the whole city (12.2).

Refusals are typed (all `NotAllowed`); views turn each into a Chinese message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from epermit import identity
from epermit.models import Address, FamilyLink, Organisation, OrgOperator, Permit, Person, Staff
from epermit.sql import attach, columns_of, run, table_of
from epermit.vocabulary import ORGANISATION_ROLES, DeclarantRole, LinkBasis, StaffRole


class Basis(StrEnum):
    """Why an actor may act for a holder; recorded with what they did."""

    SELF = "self"
    FAMILY = "family"  # the holder is on the actor's family list
    CONSENT = "consent"  # the holder gave the actor a code sent to their phone
    LANDLORD = "landlord"
    EMPLOYER = "employer"
    SCHOOL = "school"
    HOTEL = "hotel"


class NotAllowed(Exception):
    """The actor has no basis to act for this holder."""


class NotFamilyMember(NotAllowed):
    """The holder is not on the actor's family list, and did not consent by SMS."""


class DeclarantMismatch(NotAllowed):
    """The declared person (name + ID number) is not the signed-in account."""


class NotRecordedLandlord(NotAllowed):
    """The actor is not the landlord of the holder's registered address."""


class NotRecordedOrganisation(NotAllowed):
    """The organisation is not the holder's registered employer, school or hotel."""


class UnknownOrganisation(NotAllowed):
    """No organisation has that credit code, or not one of the kind the role needs."""


class NotOperator(NotAllowed):
    """The actor is not a recorded operator of the organisation."""


def is_family_member(session: Session, owner_id: int, member_id: int) -> bool:
    """Whether `member_id` is on `owner_id`'s family list."""
    query = select(FamilyLink.id).where(
        FamilyLink.person_id == owner_id, FamilyLink.member_id == member_id
    )
    return session.exec(query).first() is not None


def viewing_basis(session: Session, viewer_id: int, holder_id: int) -> Basis | None:
    """Who may see a permit, show its code and switch to it (切换): the holder, or a person
    with the holder on their list. None for anyone else."""
    if viewer_id == holder_id:
        return Basis.SELF
    return Basis.FAMILY if is_family_member(session, viewer_id, holder_id) else None


def may_view(session: Session, viewer_id: int, holder_id: int) -> bool:
    return viewing_basis(session, viewer_id, holder_id) is not None


def acting_basis(session: Session, actor_id: int, holder_id: int, *, consented: bool) -> Basis:
    """The basis for acting for a holder as themself or their agent (签注, a family member's
    注销): self, family list, or consent given in this application. Raises NotFamilyMember."""
    basis = viewing_basis(session, actor_id, holder_id)
    if basis is not None:
        return basis
    if consented:
        return Basis.CONSENT
    raise NotFamilyMember()


def operated_organisation(session: Session, actor_id: int, role: str, uscc: str) -> Organisation:
    """The organisation of the role's kind with this credit code, if the actor operates it.

    Answered once per transaction and question: a batch of a thousand departures asks it
    for each person, and within one transaction the answer holds for all of them.
    """
    if role not in ORGANISATION_ROLES:
        raise ValueError(f"role {role!r} is not declared by an organisation")
    transaction, known = session.info.get("operated_organisation", (None, {}))
    if transaction is not session.get_transaction():
        known = {}
        session.info["operated_organisation"] = (session.get_transaction(), known)
    key = (actor_id, role, uscc)
    if key not in known:
        try:
            known[key] = _operated_organisation(session, actor_id, role, uscc)
        except NotAllowed as refusal:
            known[key] = type(refusal)
    found = known[key]
    if isinstance(found, type):
        raise found()
    return found


def _operated_organisation(session: Session, actor_id: int, role: str, uscc: str) -> Organisation:
    organisation = session.exec(
        select(Organisation).where(
            Organisation.uscc == identity.normalise_uscc(uscc), Organisation.kind == role
        )
    ).first()
    if organisation is None:
        raise UnknownOrganisation()
    operator = session.exec(
        select(OrgOperator.id).where(
            OrgOperator.organisation_id == organisation.id, OrgOperator.person_id == actor_id
        )
    ).first()
    if operator is None:
        raise NotOperator()
    return organisation


def declaring_basis(
    session: Session,
    *,
    role: DeclarantRole | str,
    actor_id: int,
    permit: Permit,
    organisation_uscc: str | None = None,
    consented: bool = False,
) -> Basis:
    """The basis for declaring this permit's deregistration in this role (SPEC 2.8), or the
    typed reason why not. Reads only."""
    role = DeclarantRole(role)
    holder_id = permit.person_id
    if role is DeclarantRole.SELF:
        if actor_id != holder_id:
            raise DeclarantMismatch()
        return Basis.SELF
    if role is DeclarantRole.FAMILY:
        # Nobody is their own family member: the holder declares as "self".
        if actor_id == holder_id:
            raise NotFamilyMember()
        basis = acting_basis(session, actor_id, holder_id, consented=consented)
        if basis is Basis.FAMILY and link_basis(session, actor_id, holder_id) is LinkBasis.DIRECT:
            raise DirectLinkCannotDeregister()
        return basis
    if role is DeclarantRole.LANDLORD:
        address = session.get(Address, permit.address_id)
        if address is None or address.landlord_id != actor_id:
            raise NotRecordedLandlord()
        return Basis.LANDLORD
    if not organisation_uscc:
        raise UnknownOrganisation()
    organisation = operated_organisation(session, actor_id, role, organisation_uscc)
    if getattr(permit, f"{role.value}_id") != organisation.id:
        raise NotRecordedOrganisation()
    return Basis(role.value)


# --- Workspace scopes (SPEC 10.1, 10.8) ------------------------------------------------------
# Who answers for a place: the landlord recorded on an address (Address.landlord_id), and the
# operators recorded for an organisation (OrgOperator). The workspace, its rosters, batches,
# uploads and the confirmations of a change of address (SPEC 9.3, 10.7) all ask here.


class NotInScope(NotAllowed):
    """The place is not one the actor answers for (or does not exist): views answer 404."""


def answered_addresses(session: Session, person_id: int) -> list[Address]:
    """The addresses `person_id` answers for as landlord or owner, in register order."""
    query = select(Address).where(Address.landlord_id == person_id).order_by(Address.line)
    return list(session.exec(query).all())


def operated_organisations(session: Session, person_id: int) -> list[Organisation]:
    """The organisations `person_id` is a recorded operator of."""
    query = (
        select(Organisation)
        .join(OrgOperator, OrgOperator.organisation_id == Organisation.id)  # type: ignore[arg-type]
        .where(OrgOperator.person_id == person_id)
        .order_by(Organisation.name)
    )
    return list(session.exec(query).all())


def _answers_for_a_place(person_id: Any) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.exists().where(col(Address.landlord_id) == person_id),
        sa.exists().where(col(OrgOperator.person_id) == person_id),
    )


_HAS_WORKSPACE = sa.select(_answers_for_a_place(sa.bindparam("person_id")))
# The signed-in person is read on every request, and every page that draws the navigation
# asks whether they have a workspace: both in one statement, built once.
# The person's columns, not the entity: a statement that loads no objects (sql.attach), and
# so on the table's own id, not the entity's attribute.
_PEOPLE = table_of(Person)
_PERSON_AND_WORKSPACE = sa.select(
    *columns_of(Person), _answers_for_a_place(_PEOPLE.c.id)
).where(_PEOPLE.c.id == sa.bindparam("person_id"))


def has_workspace(session: Session, person_id: int) -> bool:
    """Whether the person answers for at least one address or organisation (SPEC 10.1)."""
    return bool(session.execute(_HAS_WORKSPACE, {"person_id": person_id}).scalar())


def person_and_workspace(session: Session, person_id: int) -> tuple[Person, bool] | None:
    """The person, read from the database (not only the session's identity map), and
    whether they have a workspace (has_workspace); None if there is no such person."""
    row = run(session, _PERSON_AND_WORKSPACE, {"person_id": person_id}).first()
    return (attach(session, Person, row[:-1]), bool(row[-1])) if row is not None else None


def answered_address(session: Session, person_id: int, address_id: int) -> Address:
    """The address, if `person_id` answers for it; NotInScope otherwise (unknown or not theirs
    alike, so that nobody learns which addresses exist)."""
    address = session.get(Address, address_id)
    if address is None or address.landlord_id != person_id:
        raise NotInScope()
    return address


def operated_organisation_by_id(
    session: Session, person_id: int, organisation_id: int
) -> Organisation:
    """The organisation, if `person_id` operates it; NotInScope otherwise."""
    operator = select(OrgOperator.id).where(
        OrgOperator.organisation_id == organisation_id, OrgOperator.person_id == person_id
    )
    organisation = session.get(Organisation, organisation_id)
    if organisation is None or session.exec(operator).first() is None:
        raise NotInScope()
    return organisation


def roster_scope(
    session: Session, person_id: int, kind: str, place_id: int | None
) -> Address | Organisation | None:
    """The place whose roster `person_id` may see and act on: kind "address" (place_id None:
    every address they answer for) or "org". Raises NotInScope."""
    if kind == "address":
        if place_id is None:
            if not answered_addresses(session, person_id):
                raise NotInScope()
            return None
        return answered_address(session, person_id, place_id)
    if kind == "org" and place_id is not None:
        return operated_organisation_by_id(session, person_id, place_id)
    raise NotInScope()


# --- Family links: who must agree to one (SPEC 2.9) -------------------------------------------

# 未满十八周岁 / 六十周岁以上: in Chinese law "以上" includes the number itself (民法典 Art. 1259).
ADULT_AGE = 18
ELDERLY_AGE = 60


class DirectLinkCannotDeregister(NotAllowed):
    """The link was made by name and ID number alone (basis `direct`): it allows viewing,
    亮码 and endorsement, never a deregistration, which cannot be undone online."""


class NobodyToAgree(NotAllowed):
    """Nobody can agree to the link by SMS: an adult under 60 without a phone, or a phoneless
    minor or elder whose listers have no phone either."""


@dataclass(frozen=True)
class Agreement:
    """How a family link may be made: on what basis, and whose phone the code goes to
    (`None` for a direct link, which needs no code)."""

    basis: LinkBasis
    agreeing: Person | None


def is_minor_or_elder(id_number: str, today: date) -> bool:
    """Under 18 or 60 and over: may be listed on a guardian's agreement rather than their own."""
    age = identity.age_on(id_number, today)
    return age < ADULT_AGE or age >= ELDERLY_AGE


def link_basis(session: Session, owner_id: int, member_id: int) -> LinkBasis | None:
    """On what agreement `member_id` is on `owner_id`'s list; None when not on it."""
    basis = session.exec(
        select(FamilyLink.basis).where(
            FamilyLink.person_id == owner_id, FamilyLink.member_id == member_id
        )
    ).first()
    return LinkBasis(basis) if basis is not None else None


def listers_of(session: Session, member_id: int) -> list[Person]:
    """Everyone who has `member_id` on their family list ("who can act for me", SPEC 11.3):
    links agreed to before a direct one, then the oldest first."""
    return listers_of_many(session, [member_id]).get(member_id, [])


def listers_of_many(session: Session, member_ids: Sequence[int]) -> dict[int, list[Person]]:
    """`listers_of` for each of many members (those listed by nobody left out), one read
    per thousand members."""
    found: dict[int, list[Person]] = {}
    for start in range(0, len(member_ids), 1000):
        query = (
            select(col(FamilyLink.member_id), Person)
            .join(FamilyLink, col(FamilyLink.person_id) == Person.id)
            .where(col(FamilyLink.member_id).in_(member_ids[start : start + 1000]))
            .order_by(col(FamilyLink.basis) == LinkBasis.DIRECT.value, col(FamilyLink.id))
        )
        for member_id, person in session.exec(query):
            found.setdefault(member_id, []).append(person)
    return found


def adding_agreement(session: Session, member: Person, today: date) -> Agreement:
    """Who must agree before anyone adds `member` to their family list (SPEC 2.9): the
    member, by a code to their phone; for a phoneless minor or elder already on someone's
    list, one of those people; for one on nobody's list, nobody (a `direct` link). Raises
    NobodyToAgree. The caller has already refused the member's own listers (AlreadyMember)."""
    if member.phone:
        return Agreement(LinkBasis.CONSENTED, member)
    if not is_minor_or_elder(member.id_number, today):
        raise NobodyToAgree()
    listers = listers_of(session, member.id)  # type: ignore[arg-type]
    if not listers:
        return Agreement(LinkBasis.DIRECT, None)
    approver = next((person for person in listers if person.phone), None)
    if approver is None:
        raise NobodyToAgree()
    return Agreement(LinkBasis.APPROVED, approver)


def agreed_by(session: Session, member: Person, phone: str) -> LinkBasis | None:
    """The basis a code that reached `phone` gives a link to `member`: the member's own
    phone consents, a phone of someone listing a phoneless member approves; None otherwise
    (the code was sent to someone who may no longer agree)."""
    if member.phone:
        return LinkBasis.CONSENTED if member.phone == phone else None
    listers = listers_of(session, member.id)  # type: ignore[arg-type]
    return LinkBasis.APPROVED if any(person.phone == phone for person in listers) else None


# --- Change of address: who answers for an address (SPEC 9.1, 9.3, 10.7) ---------------------


def address_answerer_ids(session: Session, address: Address) -> list[int]:
    """The people who answer for an address: its landlord, else its recorded owner, else the
    operators of the organisation (dormitory, hotel) it belongs to."""
    if address.landlord_id is not None:
        return [address.landlord_id]
    if address.owner_id is not None:
        return [address.owner_id]
    if address.organisation_id is None:
        return []
    query = select(OrgOperator.person_id).where(
        OrgOperator.organisation_id == address.organisation_id
    )
    return list(session.exec(query).all())


def answers_for_address(session: Session, person_id: int, address: Address) -> bool:
    """Whether the person may confirm or refuse a change of address to this address."""
    return person_id in address_answerer_ids(session, address)


def answered_address_ids(session: Session, person_id: int) -> list[int]:
    """The addresses the person answers for (address_answerer_ids, seen from the person):
    the scope of the confirmations they see in their workspace."""
    operated = select(OrgOperator.organisation_id).where(OrgOperator.person_id == person_id)
    query = select(Address.id).where(
        (Address.landlord_id == person_id)
        | ((Address.landlord_id.is_(None)) & (Address.owner_id == person_id))  # type: ignore[union-attr]
        | (
            (Address.landlord_id.is_(None))  # type: ignore[union-attr]
            & (Address.owner_id.is_(None))  # type: ignore[union-attr]
            & (Address.organisation_id.in_(operated))  # type: ignore[union-attr]
        )
    )
    return [address_id for address_id in session.exec(query).all() if address_id is not None]


# --- The holder's side (issue 13) -------------------------------------------------------------


def objecting_basis(session: Session, actor_id: int, holder_id: int) -> Basis:
    """Who may object to a holder's deregistration (SPEC 11.1): the holder, or a person with
    the holder on their family list (through 切换). Raises NotFamilyMember for anyone else."""
    basis = viewing_basis(session, actor_id, holder_id)
    if basis is None:
        raise NotFamilyMember()
    return basis


def acting_for_me(session: Session, person_id: int) -> list[tuple[Person, FamilyLink]]:
    """Who can act for me (SPEC 11.3, "可以为我办理的人"): everyone who has me on their family
    list, with the link (relation, since when), oldest first. The reverse of the family list,
    and the one answer to it: the family page and the activity record both ask here."""
    query = (
        select(Person, FamilyLink)
        .join(FamilyLink, FamilyLink.person_id == Person.id)  # type: ignore[arg-type]
        .where(FamilyLink.member_id == person_id)
        .order_by(FamilyLink.id)  # type: ignore[arg-type]
    )
    return [(person, link) for person, link in session.exec(query)]


# --- Staff scope (SPEC 12.2) -----------------------------------------------------------------


def staff_district(staff: Staff) -> str | None:
    """The district a staff member's view is limited to; None for the whole city."""
    if staff.role == StaffRole.SUPERVISOR:
        return None
    # The table's CHECK gives every officer a district; never read a missing one as "all".
    assert staff.district, "an officer without a district"
    return staff.district


def staff_may_see(session: Session, staff: Staff, person_id: int) -> bool:
    """Whether a staff member may see this person: an officer only people whose current
    permit is registered at an address in their district, a supervisor anyone. Views answer
    404 otherwise, so that the question cannot be used to learn who is registered where."""
    district = staff_district(staff)
    if district is None:
        return session.get(Person, person_id) is not None
    query = (
        select(Permit.id)
        .join(Address, Address.id == Permit.address_id)  # type: ignore[arg-type]
        .where(Permit.person_id == person_id, Permit.is_current, Address.district == district)
    )
    return session.exec(query).first() is not None


def staff_stats_district(staff: Staff, asked: str | None) -> str | None:
    """The district whose statistics a staff member sees: an officer always their own,
    whatever was asked; a supervisor the one asked, or None for the whole city."""
    own = staff_district(staff)
    return own if own is not None else asked
