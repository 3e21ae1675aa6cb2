"""Family members (家庭成员管理, SPEC 2.9): the list, adding with or without SMS consent,
removing, and 切换 to a member's permit.

The list belongs to the signed-in person (the owner); a link says what the member is to them.
A minor or an elderly person may be added directly by whoever knows their name and ID number
as their permit records them; anyone else must consent with a code sent to their own phone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from epermit import identity, policy, rules
from epermit.acting import Acting
from epermit.models import FamilyLink, Person
from epermit.services import audit, codes, permits, sms
from epermit.sql import rowcount, saved_id
from epermit.vocabulary import Relationship

PURPOSE = "family"
# 未满十八周岁 / 六十周岁以上: in Chinese law "以上" includes the number itself
# (民法典 Art. 1259), so a person who has turned 60 may be added without consent.
ADULT_AGE = 18
ELDERLY_AGE = 60


class FamilyError(Exception):
    pass


class NoMatchingPermit(FamilyError):
    """No permit holder has this name and ID number (one answer for both, so the form
    cannot be used to find out whether a number is registered)."""


class IsSelf(FamilyError):
    pass


class AlreadyMember(FamilyError):
    def __init__(self, member: Person) -> None:
        super().__init__(member.id)
        self.member = member


class NoPhoneForConsent(FamilyError):
    """An adult under 60 must consent by SMS, but has no phone on record."""


class ConsentCapped(FamilyError):
    """The member's phone was sent, or guessed against, too many consent codes lately."""


class NotAMember(FamilyError):
    """Not on the owner's list: no switching to, removing or seeing that person."""


@dataclass(frozen=True)
class Member:
    person: Person
    relationship: str
    status: rules.PermitStatus | None
    valid_until: date | None


@dataclass(frozen=True)
class Added:
    member: Person


@dataclass(frozen=True)
class ConsentNeeded:
    """A code went to the member's phone; `subject` names this request for codes.verify."""

    member: Person
    relationship: str
    phone: str


def may_add_without_consent(id_number: str, today: date) -> bool:
    age = identity.age_on(id_number, today)
    return age < ADULT_AGE or age >= ELDERLY_AGE


def consent_subject(owner_id: int, member_id: int) -> str:
    return f"family:{owner_id}:{member_id}"


def links_of(session: Session, owner_id: int) -> list[tuple[Person, Relationship]]:
    """The owner's family list in the order it was made: each member and what they are to
    the owner. The one query for "who is on my list" (the family page, the wizards)."""
    query = (
        select(Person, FamilyLink.relationship)
        .join(FamilyLink, FamilyLink.member_id == Person.id)  # type: ignore[arg-type]
        .where(FamilyLink.person_id == owner_id)
        .order_by(FamilyLink.id)  # type: ignore[arg-type]
    )
    return [(person, Relationship(relationship)) for person, relationship in session.exec(query)]


def relationship_of(session: Session, owner_id: int, member_id: int) -> Relationship | None:
    """What the member is to the owner, as the owner's list records it."""
    relationship = session.exec(
        select(FamilyLink.relationship).where(
            FamilyLink.person_id == owner_id, FamilyLink.member_id == member_id
        )
    ).first()
    return Relationship(relationship) if relationship is not None else None


def members(session: Session, owner_id: int, today: date) -> list[Member]:
    result = []
    for person, relationship in links_of(session, owner_id):
        card = permits.card_of(session, person, today)
        result.append(
            Member(
                person=person,
                relationship=relationship,
                status=card.status,
                valid_until=card.permit.valid_until if card.permit else None,
            )
        )
    return result


def member(session: Session, owner_id: int, member_id: int) -> Member:
    """One member of the owner's list, or NotAMember."""
    link = session.exec(
        select(FamilyLink).where(
            FamilyLink.person_id == owner_id, FamilyLink.member_id == member_id
        )
    ).first()
    person = session.get(Person, member_id) if link is not None else None
    if link is None or person is None:
        raise NotAMember()
    return Member(person=person, relationship=link.relationship, status=None, valid_until=None)


def candidate(session: Session, person_id: int) -> Person:
    """The person a pending consent request is about."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotAMember()
    return person


def check_switch(session: Session, owner_id: int, member_id: int) -> Person:
    """Whom 切换 may show: oneself, or a person on one's list."""
    if not policy.may_view(session, owner_id, member_id):
        raise NotAMember()
    person = session.get(Person, member_id)
    if person is None:
        raise NotAMember()
    return person


def request_adding(
    session: Session,
    acting: Acting,
    *,
    name: str,
    id_number: str,
    relationship: str,
    ttl_seconds: int,
    secret: str,
) -> Added | ConsentNeeded:
    """Add the member at once when the law allows it, or send them a consent code."""
    relationship = Relationship(relationship)
    owner_id, now, client_address = acting.person_id, acting.now, acting.client_address
    person = permits.current_holder(session, name, id_number)
    if person is None or person.id is None:
        raise NoMatchingPermit()
    if person.id == owner_id:
        raise IsSelf()
    if policy.is_family_member(session, owner_id, person.id):
        raise AlreadyMember(person)
    if may_add_without_consent(person.id_number, acting.today):
        _link(session, owner_id, person, relationship, "name_and_id", now, client_address)
        return Added(person)
    if not person.phone:
        raise NoPhoneForConsent()
    try:
        _send_consent_code(session, owner_id, person, now, ttl_seconds, secret)
    except codes.ResendTooSoon:
        # The same request again within a minute (a double submit, a reload): the code
        # already sent is still good, so no second SMS.
        return ConsentNeeded(person, relationship, person.phone)
    except codes.TooManyCodes:
        raise ConsentCapped() from None
    audit.record(
        session,
        action="family_consent_requested",
        actor_id=owner_id,
        subject_id=person.id,
        client_address=client_address,
        now=now,
        relationship=relationship,
    )
    return ConsentNeeded(person, relationship, person.phone)


def resend_consent(
    session: Session, acting: Acting, *, member_id: int, ttl_seconds: int, secret: str
) -> None:
    """A new consent code (the old one stops working); codes.ResendTooSoon within 60 s."""
    person = session.get(Person, member_id)
    if person is None or not person.phone:
        raise NoPhoneForConsent()
    _send_consent_code(session, acting.person_id, person, acting.now, ttl_seconds, secret)


def _send_consent_code(
    session: Session, owner_id: int, person: Person, now: datetime, ttl_seconds: int, secret: str
) -> None:
    owner = session.get(Person, owner_id)
    assert owner is not None and person.phone
    code = codes.issue(
        session,
        purpose=PURPOSE,
        subject=consent_subject(owner_id, person.id),  # type: ignore[arg-type]
        phone=person.phone,
        now=now,
        ttl_seconds=ttl_seconds,
        secret=secret,
        cap=codes.CONSENT_CAP,
    )
    minutes = max(1, ttl_seconds // 60)
    sms.queue(
        session,
        to=person.phone,
        text=(
            f"【广东省电子居住证】{owner.name}申请将您添加为家庭成员,添加后可查看您的居住证"
            f"并为您代办业务。同意请告知验证码{code},{minutes}分钟内有效。如不同意,请勿告诉他人。"
        ),
        code=code,
        now=now,
    )


def confirm_adding(
    session: Session,
    acting: Acting,
    *,
    member_id: int,
    relationship: str,
    code: str,
    secret: str,
) -> Added:
    """Add the member once the code they received is entered; raise codes.CodeError if not.

    The caller commits in every case, so wrong tries are counted.
    """
    relationship = Relationship(relationship)
    owner_id, now, client_address = acting.person_id, acting.now, acting.client_address
    person = session.get(Person, member_id)
    if person is None or person.id == owner_id:
        raise NotAMember()
    if policy.is_family_member(session, owner_id, member_id):
        # A double submit: the first one added the member, the second has nothing to do.
        raise AlreadyMember(person)
    codes.verify(
        session,
        purpose=PURPOSE,
        subject=consent_subject(owner_id, member_id),
        code=code,
        now=now,
        secret=secret,
    )
    _link(session, owner_id, person, relationship, "sms_consent", now, client_address)
    return Added(person)


def _link(
    session: Session,
    owner_id: int,
    person: Person,
    relationship: str,
    basis: str,
    now: datetime,
    client_address: str | None,
) -> None:
    # The unique (person, member) key turns a double submit into AlreadyMember, never a
    # second row; the savepoint keeps the caller's transaction usable after the refusal.
    try:
        with session.begin_nested():
            session.add(
                FamilyLink(
                    person_id=owner_id,
                    member_id=saved_id(person),
                    relationship=relationship,
                    created_at=now,
                )
            )
    except sa.exc.IntegrityError:
        raise AlreadyMember(person) from None
    audit.record(
        session,
        action="family_member_added",
        actor_id=owner_id,
        subject_id=person.id,
        client_address=client_address,
        now=now,
        relationship=relationship,
        basis=basis,
    )


def remove(session: Session, acting: Acting, *, member_id: int) -> Person:
    """Take a member off the owner's list; removing twice is NotAMember the second time."""
    owner_id, now, client_address = acting.person_id, acting.now, acting.client_address
    person = session.get(Person, member_id)
    removed = session.execute(
        sa.delete(FamilyLink).where(
            col(FamilyLink.person_id) == owner_id, col(FamilyLink.member_id) == member_id
        )
    )
    if rowcount(removed) != 1 or person is None:
        raise NotAMember()
    audit.record(
        session,
        action="family_member_removed",
        actor_id=owner_id,
        subject_id=member_id,
        client_address=client_address,
        now=now,
    )
    return person


# --- Who can act for me (SPEC 11.3) ------------------------------------------------------------


class NotOnTheirList(FamilyError):
    """The person is not on that owner's list (any more): nothing to leave."""


def acting_for(session: Session, person_id: int) -> list[tuple[Person, FamilyLink]]:
    """Everyone who has the person on their family list ("可以为我办理的人"), oldest first."""
    return policy.acting_for_me(session, person_id)


def leave(session: Session, acting: Acting, *, owner_id: int) -> Person:
    """Take oneself off the owner's family list; the owner is told by SMS. A second time
    (a double submit, another tab) is NotOnTheirList and changes nothing."""
    me, now = acting.person, acting.now
    owner = session.get(Person, owner_id)
    removed = session.execute(
        sa.delete(FamilyLink).where(
            col(FamilyLink.person_id) == owner_id, col(FamilyLink.member_id) == acting.person_id
        )
    )
    if rowcount(removed) != 1 or owner is None:
        raise NotOnTheirList()
    audit.record(
        session,
        action="family_member_left",
        actor_id=acting.person_id,
        subject_id=owner_id,
        client_address=acting.client_address,
        now=now,
    )
    if owner.phone:
        sms.queue(
            session,
            to=owner.phone,
            text=(
                f"【广东省电子居住证】{me.name}已将自己从您的家庭成员中移除,"
                "您将不能再查看其居住证或为其办理业务。"
            ),
            now=now,
        )
    return owner
