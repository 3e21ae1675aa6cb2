"""Family members (家庭成员管理, SPEC 2.9): the list, adding on someone's agreement,
removing, and 切换 to a member's permit.

The list belongs to the signed-in person (the owner); a link says what the member is to them
and on what agreement it was made (policy.adding_agreement decides whose): a member with a
phone consents by a code sent to it; a phoneless minor or elder already on someone's list
needs one of those people to approve by a code sent to theirs; only one on nobody's list is
added directly, by name and ID number. Every addition is told by SMS to the member and to
everyone else who lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from epermit import policy, rules
from epermit.acting import Acting
from epermit.models import FamilyLink, Person
from epermit.services import audit, codes, permits, sms
from epermit.sql import rowcount, saved_id
from epermit.vocabulary import LinkBasis, Relationship

PURPOSE = "family"
ADULT_AGE = policy.ADULT_AGE
ELDERLY_AGE = policy.ELDERLY_AGE


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
    """Nobody can agree by SMS: an adult under 60 without a phone on record, or a phoneless
    minor or elder whose listers have no phone either."""


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
    """A code went to the phone of whoever must agree: the member's own (`basis`
    consented), or that of someone already listing them (approved)."""

    member: Person
    relationship: str
    phone: str
    basis: LinkBasis


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


def agreement_for(session: Session, member: Person, today: date) -> policy.Agreement:
    """Who must agree to `member` being added (policy.adding_agreement); NoPhoneForConsent
    when nobody can."""
    try:
        return policy.adding_agreement(session, member, today)
    except policy.NobodyToAgree:
        raise NoPhoneForConsent() from None


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
    """Add the member at once when nobody else can agree (a direct link), or send a code to
    whoever must agree."""
    relationship = Relationship(relationship)
    owner_id, now, client_address = acting.person_id, acting.now, acting.client_address
    person = permits.current_holder(session, name, id_number)
    if person is None or person.id is None:
        raise NoMatchingPermit()
    if person.id == owner_id:
        raise IsSelf()
    if policy.is_family_member(session, owner_id, person.id):
        raise AlreadyMember(person)
    agreement = agreement_for(session, person, acting.today)
    if agreement.agreeing is None:
        _link(session, acting, person, relationship, agreement.basis)
        return Added(person)
    agreeing = agreement.agreeing
    assert agreeing.phone
    needed = ConsentNeeded(person, relationship, agreeing.phone, agreement.basis)
    try:
        _send_consent_code(session, acting, person, agreement, ttl_seconds, secret)
    except codes.ResendTooSoon:
        # The same request again within a minute (a double submit, a reload): the code
        # already sent is still good, so no second SMS.
        return needed
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
        basis=agreement.basis,
    )
    return needed


def resend_consent(
    session: Session, acting: Acting, *, member_id: int, ttl_seconds: int, secret: str
) -> None:
    """A new code to whoever must agree (the old one stops working); codes.ResendTooSoon
    within 60 s."""
    person = session.get(Person, member_id)
    if person is None:
        raise NoPhoneForConsent()
    agreement = agreement_for(session, person, acting.today)
    if agreement.agreeing is None:
        raise NoPhoneForConsent()
    _send_consent_code(session, acting, person, agreement, ttl_seconds, secret)


def _send_consent_code(
    session: Session,
    acting: Acting,
    person: Person,
    agreement: policy.Agreement,
    ttl_seconds: int,
    secret: str,
) -> None:
    owner = acting.person
    agreeing = agreement.agreeing
    assert agreeing is not None and agreeing.phone
    code = codes.issue(
        session,
        purpose=PURPOSE,
        subject=consent_subject(acting.person_id, saved_id(person)),
        phone=agreeing.phone,
        now=acting.now,
        ttl_seconds=ttl_seconds,
        secret=secret,
        cap=codes.CONSENT_CAP,
    )
    minutes = max(1, ttl_seconds // 60)
    if agreement.basis is LinkBasis.CONSENTED:
        text = (
            f"【广东省电子居住证】{owner.name}申请将您添加为家庭成员，添加后可查看您的居住证"
            f"并为您代办业务。同意请告知验证码{code}，{minutes}分钟内有效。如不同意，请勿告诉他人。"
        )
    else:
        text = (
            f"【广东省电子居住证】{owner.name}申请将您的家庭成员{person.name}添加为其家庭成员，"
            f"添加后可查看{person.name}的居住证并为其代办业务。如您同意，请告知验证码{code}，"
            f"{minutes}分钟内有效。如不同意，请勿告诉他人。"
        )
    sms.queue(session, to=agreeing.phone, text=text, code=code, now=acting.now)


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
    owner_id, now = acting.person_id, acting.now
    person = session.get(Person, member_id)
    if person is None or person.id == owner_id:
        raise NotAMember()
    if policy.is_family_member(session, owner_id, member_id):
        # A double submit: the first one added the member, the second has nothing to do.
        raise AlreadyMember(person)
    used = codes.verify(
        session,
        purpose=PURPOSE,
        subject=consent_subject(owner_id, member_id),
        code=code,
        now=now,
        secret=secret,
    )
    # The code counts only if whoever it reached may still agree (policy.agreed_by): the
    # member, or someone listing a phoneless member.
    basis = policy.agreed_by(session, person, used.phone)
    if basis is None:
        raise codes.CodeMissing()
    _link(session, acting, person, relationship, basis)
    return Added(person)


def _link(
    session: Session,
    acting: Acting,
    person: Person,
    relationship: str,
    basis: LinkBasis,
) -> None:
    owner = acting.person
    # The unique (person, member) key turns a double submit into AlreadyMember, never a
    # second row; the savepoint keeps the caller's transaction usable after the refusal.
    try:
        with session.begin_nested():
            session.add(
                FamilyLink(
                    person_id=acting.person_id,
                    member_id=saved_id(person),
                    relationship=relationship,
                    created_at=acting.now,
                    basis=basis,
                )
            )
    except sa.exc.IntegrityError:
        raise AlreadyMember(person) from None
    audit.record(
        session,
        action="family_member_added",
        actor_id=acting.person_id,
        subject_id=person.id,
        client_address=acting.client_address,
        now=acting.now,
        relationship=relationship,
        basis=basis,
    )
    tell_member_and_listers(
        session,
        person,
        actor_id=acting.person_id,
        to_member=(
            f"【广东省电子居住证】{owner.name}已将您添加为家庭成员，可查看您的居住证、出示您的"
            "二维码并为您代办业务。如非您本人同意，请联系居住地派出所。"
        ),
        to_lister=(
            f"【广东省电子居住证】{owner.name}已将您的家庭成员{person.name}添加为其家庭成员，"
            f"可查看{person.name}的居住证并为其代办业务。如有疑问，请联系居住地派出所。"
        ),
        now=acting.now,
    )


@dataclass(frozen=True)
class Notice:
    """What `tell_members_and_listers` tells about one member."""

    member: Person
    to_member: str | None
    to_lister: str


def tell_members_and_listers(
    session: Session, notices: Sequence[Notice], *, actor_id: int, now: datetime
) -> None:
    """`tell_member_and_listers` for many members at once: their listers read in one go and
    every message queued in one statement (a workspace batch of a thousand departures)."""
    listers = policy.listers_of_many(session, [saved_id(n.member) for n in notices])
    messages: list[tuple[str, str]] = []
    for notice in notices:
        member = notice.member
        if notice.to_member is not None and member.phone and member.id != actor_id:
            messages.append((member.phone, notice.to_member))
        for lister in listers.get(saved_id(member), []):
            if lister.id != actor_id and lister.phone:
                messages.append((lister.phone, notice.to_lister))
    sms.queue_texts(session, messages, now)


def tell_member_and_listers(
    session: Session,
    member: Person,
    *,
    actor_id: int,
    to_member: str | None,
    to_lister: str,
    now: datetime,
) -> None:
    """Queue one SMS to the member (when they have a phone and `to_member` is given) and one
    to everyone else who has them on their list (SPEC 2.9), never to the actor: additions
    to a list and cases done for a member are told to all who answer for them."""
    tell_members_and_listers(
        session, [Notice(member, to_member, to_lister)], actor_id=actor_id, now=now
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
                f"【广东省电子居住证】{me.name}已将自己从您的家庭成员中移除，"
                "您将不能再查看其居住证或为其办理业务。"
            ),
            now=now,
        )
    return owner
