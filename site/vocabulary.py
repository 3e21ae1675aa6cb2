"""The domain's enumerations, each declared once (STYLE: vocabulary.py).

Database CHECK constraints, form choices and services derive from these; the Chinese words
for each value live with the forms and templates that show them (epermit.forms), never here.
Pure: no Flask, no database.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Relationship(StrEnum):
    """What a family member, or an applicant, is to the person acting (SPEC 2.9)."""

    SPOUSE = "spouse"
    PARENT = "parent"
    CHILD = "child"
    SIBLING = "sibling"
    GRANDPARENT = "grandparent"
    GRANDCHILD = "grandchild"
    OTHER_RELATIVE = "other_relative"


class LinkBasis(StrEnum):
    """On what agreement a family link was made (SPEC 2.9): it decides what the link allows."""

    CONSENTED = "consented"  # the member agreed with a code sent to their own phone
    APPROVED = "approved"  # a phoneless minor or elder: someone already listing them approved
    DIRECT = "direct"  # a phoneless minor or elder on nobody's list: name + ID number only


class DeclarantRole(StrEnum):
    """Who declares a deregistration (SPEC 2.8, 4.3)."""

    SELF = "self"
    FAMILY = "family"
    LANDLORD = "landlord"
    EMPLOYER = "employer"
    SCHOOL = "school"
    HOTEL = "hotel"


class OrganisationKind(StrEnum):
    """An organisation's kind; each is also the declarant role it declares as."""

    EMPLOYER = "employer"
    SCHOOL = "school"
    HOTEL = "hotel"


# Roles declared on behalf of an organisation rather than as a person.
ORGANISATION_ROLES: tuple[DeclarantRole, ...] = tuple(
    DeclarantRole(kind.value) for kind in OrganisationKind
)


class Reason(StrEnum):
    """Why a permit is deregistered (SPEC 2.8)."""

    LEFT_CITY = "left_city"
    MOVED_OUT = "moved_out"
    LEFT_JOB = "left_job"
    LEFT_SCHOOL = "left_school"
    CHECKED_OUT = "checked_out"
    OTHER = "other"


class CaseKind(StrEnum):
    """What a case is; each kind has its reference prefix (SPEC 4.6).

    Every kind SPEC 4.6 names is here, so that a service declared later (change of address,
    objection) needs no change to the case table's CHECK constraint.
    """

    ENDORSE = "endorse"
    DEREGISTER = "deregister"
    MOVE = "move"
    OBJECTION = "objection"


class Housing(StrEnum):
    """How the applicant lives at a new address (SPEC 9.2)."""

    RENTED = "rented"
    OWNED = "owned"
    RELATIVE = "relative"
    DORMITORY = "dormitory"


class ChangeState(StrEnum):
    """Where a change-of-address request stands (SPEC 9.3, 9.4)."""

    PENDING = "pending"  # 待确认: waits for whoever answers for the new address
    CONFIRMED = "confirmed"  # applied: the permit's address is the new one
    REFUSED = "refused"  # the answerer said no, with a reason
    LAPSED = "lapsed"  # 7 days without an answer (send-reminders)
    WITHDRAWN = "withdrawn"  # the holder or agent took it back from /permit
    CANCELLED = "cancelled"  # the permit was deregistered meanwhile


DISTRICTS: tuple[str, ...] = (
    "越秀区",
    "海珠区",
    "荔湾区",
    "天河区",
    "白云区",
    "黄埔区",
    "番禺区",
    "花都区",
    "南沙区",
    "从化区",
    "增城区",
)
"""Guangzhou's 11 districts, in the order SPEC 9.1 lists them (an address's `district`)."""


REFERENCE_PREFIXES: dict[CaseKind, str] = {
    CaseKind.ENDORSE: "QZ",
    CaseKind.DEREGISTER: "ZX",
    CaseKind.MOVE: "BG",
    CaseKind.OBJECTION: "YY",
}


def sql_in(column: str, values: Iterable[StrEnum]) -> str:
    """A CHECK constraint's condition: the column holds one of the values."""
    listed = ", ".join(f"'{value.value}'" for value in values)
    return f"{column} IN ({listed})"


# --- The holder's side (issue 13: objections, reminders, sign-ins) ----------------------------


class ObjectionStatus(StrEnum):
    """Where an objection to a deregistration stands (SPEC 11.1, 12.4)."""

    PENDING = "pending"
    RESTORED = "restored"  # staff decided `restore`: the deregistration is void
    UPHELD = "upheld"  # staff decided `uphold`: the deregistration stands


class ObjectionDecision(StrEnum):
    """The staff's form value for a decision (SPEC 12.4); each ends in one status."""

    RESTORE = "restore"
    UPHOLD = "uphold"


DECISION_STATUS: dict[ObjectionDecision, ObjectionStatus] = {
    ObjectionDecision.RESTORE: ObjectionStatus.RESTORED,
    ObjectionDecision.UPHOLD: ObjectionStatus.UPHELD,
}


class ReminderKind(StrEnum):
    """The reminder ladder of SPEC 2.13, each sent at most once per permit and period."""

    WINDOW = "window"  # the endorsement window opened
    EXPIRING = "expiring"  # 7 days before valid-until, not yet endorsed
    SUSPENDED = "suspended"  # the day after valid-until: use is suspended


class DeviceKind(StrEnum):
    """A sign-in's device, as coarse as a holder recognises it (安卓手机浏览器) and no finer:
    enough to spot a sign-in that was not theirs, too coarse to fingerprint anyone."""

    ANDROID_PHONE = "android_phone"
    IPHONE = "iphone"
    TABLET = "tablet"
    COMPUTER = "computer"
    MINI_PROGRAM = "mini_program"  # inside WeChat or Alipay
    OTHER = "other"


class StaffRole(StrEnum):
    """A staff account's scope (SPEC 12.2): an officer sees their district, a supervisor the
    whole city."""

    OFFICER = "officer"
    SUPERVISOR = "supervisor"


