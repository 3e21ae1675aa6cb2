"""SQLModel tables: columns, relations and the constraints the database itself enforces."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

from epermit.vocabulary import (
    CaseKind,
    ChangeState,
    DeclarantRole,
    DeviceKind,
    Housing,
    LinkBasis,
    ObjectionStatus,
    OrganisationKind,
    Reason,
    Relationship,
    ReminderKind,
    StaffRole,
    sql_in,
)

# Naming constraints keeps Alembic migrations identical on SQLite and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _since_issue(context: Any) -> date:
    """A new permit is registered at its address from the day it is issued."""
    return context.get_current_parameters()["issue_date"]


class Person(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    id_number: str = Field(max_length=18, unique=True)
    name: str = Field(max_length=30)
    sex: str = Field(max_length=6)
    ethnicity: str = Field(max_length=20)
    birth_date: date
    hukou: str = Field(max_length=100)
    # Sign-in is by phone, so a phone belongs to one person at most.
    phone: str | None = Field(default=None, max_length=11, unique=True)
    # Sessions are signed cookies, which the server cannot delete: each carries the epoch it
    # was made in, and signing out moves the epoch on, so no copy of an older cookie works.
    session_epoch: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Address(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    district: str = Field(max_length=20)
    line: str = Field(max_length=200, unique=True)
    landlord_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    # Change of address (SPEC 9.1): the recorded owner (housing "owned" needs it), and the
    # organisation answering for a dormitory or hotel address instead of a person.
    owner_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)


class Organisation(SQLModel, table=True):
    __table_args__ = (sa.CheckConstraint(sql_in("kind", OrganisationKind), name="kind"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    uscc: str = Field(max_length=18, unique=True)
    kind: str = Field(max_length=10)


class OrgOperator(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("organisation_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id")
    person_id: int = Field(foreign_key="person.id", index=True)


# What the roster indexes hold for each permit, beside its organisation (PostgreSQL INCLUDE;
# SQLite's indexes carry the row id, and it reads the rest from the row).
ROSTER_COLUMNS = ["id", "person_id", "address_id", "registered_since"]


def roster_where(kind: str, dialect: str) -> sa.TextClause:
    """The permits on an organisation's roster: current, not deregistered, of that kind. As
    each database's SQL spells the roster's conditions, so that its planner sees they match."""
    if dialect == "postgresql":
        return sa.text(f"is_current AND NOT deregistered AND {kind}_id IS NOT NULL")
    return sa.text(f"is_current = 1 AND deregistered = 0 AND {kind}_id IS NOT NULL")


def roster_index(kind: str) -> sa.Index:
    return sa.Index(
        f"ix_permit_roster_{kind}",
        f"{kind}_id",
        postgresql_include=ROSTER_COLUMNS,
        postgresql_where=roster_where(kind, "postgresql"),
        sqlite_where=roster_where(kind, "sqlite"),
    )


class Permit(SQLModel, table=True):
    __table_args__ = (
        # Only one permit per person is in force; older ones stay for the record.
        sa.Index(
            "uq_permit_current_person",
            "person_id",
            unique=True,
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
        ),
        # The reminder run's walk over the permits due (SPEC 2.13, 13): a valid-until range
        # that never has to read a permit's row to filter or to find its holder.
        sa.Index("ix_permit_valid_until_current_person", "valid_until", "is_current", "person_id"),
        # The roster of an employer, school or hotel (SPEC 10.3, 13): its people still
        # registered, from this index alone, however scattered their permits' rows are.
        *(roster_index(kind) for kind in OrganisationKind),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    address_id: int = Field(foreign_key="address.id", index=True)
    issuing_authority: str = Field(max_length=50)
    issue_date: date
    valid_until: date
    continuity_start: date
    employer_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    school_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    hotel_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    is_current: bool = Field(default=True)
    # Whether a deregistration names this permit (voided or not: a restore makes a new
    # permit row and leaves this one deregistered). The deregistration service sets it in the
    # statement that records the deregistration's permits; it is here so that a roster reads
    # who is still registered from the permits alone (SPEC 13), not with a look-up per person
    # into the deregistrations, which grow with every departure ever declared.
    deregistered: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # Registered at the current address since (SPEC 10.2 rosters, 9.4 history): the issue date
    # unless a change of address moved the permit; continuity is separate and never moves.
    registered_since: date | None = Field(
        default=None, sa_column=Column(sa.Date, nullable=False, default=_since_issue)
    )


class FamilyLink(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("person_id", "member_id"),
        sa.CheckConstraint("person_id <> member_id", name="not_self"),
        sa.CheckConstraint(sql_in("relationship", Relationship), name="relationship"),
        sa.CheckConstraint(sql_in("basis", LinkBasis), name="basis"),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    member_id: int = Field(foreign_key="person.id", index=True)
    # The member's relation to the person who keeps the list.
    relationship: str = Field(max_length=20)
    created_at: datetime
    # Who agreed to the link (SPEC 2.9); a `direct` one may not deregister online.
    basis: str = Field(max_length=10)


class Case(SQLModel, table=True):
    __tablename__ = "case_record"
    __table_args__ = (
        sa.CheckConstraint(sql_in("kind", CaseKind), name="kind"),
        # A person's cases newest first, a page at a time (/activity), even for a declarant
        # with thousands of them.
        sa.Index("ix_case_record_applicant_time", "applicant_id", "created_at", "id"),
        sa.Index("ix_case_record_agent_time", "agent_id", "created_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=17, unique=True)
    kind: str = Field(max_length=10)
    permit_id: int = Field(foreign_key="permit.id", index=True)
    applicant_id: int = Field(foreign_key="person.id", index=True)
    agent_id: int = Field(foreign_key="person.id", index=True)
    outcome: str = Field(max_length=30)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime


class Endorsement(SQLModel, table=True):
    __table_args__ = (
        # One endorsement per permit per period, whatever the concurrency (SPEC 2.7).
        sa.UniqueConstraint("permit_id", "period", name="uq_endorsement_permit_period"),
        # Staff statistics (SPEC 12.5) read a range of days from this index alone.
        sa.Index("ix_endorsement_stats", "endorsed_on", "district", "late"),
    )

    id: int | None = Field(default=None, primary_key=True)
    permit_id: int = Field(foreign_key="permit.id", index=True)
    period: date
    new_valid_until: date
    continuity_start: date
    late: bool
    endorsed_on: date
    case_id: int = Field(foreign_key="case_record.id", unique=True)
    # Where the holder was registered when it happened: statistics count it there from one
    # index, joining nothing (services.staff, "Statistics").
    district: str = Field(max_length=20)


class Deregistration(SQLModel, table=True):
    __table_args__ = (
        sa.CheckConstraint(sql_in("declarant_role", DeclarantRole), name="declarant_role"),
        sa.CheckConstraint(sql_in("reason", Reason), name="reason"),
        sa.Index("ix_deregistration_stats", "declared_at", "district", "declarant_role"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # A permit is deregistered once; the unique key makes a second attempt fail in the DB.
    permit_id: int = Field(foreign_key="permit.id", unique=True)
    declarant_role: str = Field(max_length=10)
    declarant_id: int = Field(foreign_key="person.id", index=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id")
    reason: str = Field(max_length=20)
    reason_detail: str | None = Field(default=None, max_length=200)
    leave_date: date
    declared_at: datetime
    case_id: int = Field(foreign_key="case_record.id", unique=True)
    district: str = Field(max_length=20)  # where the permit was registered (statistics)
    # A deregistration a staff decision found wrong (SPEC 12.4) is kept, marked void; the
    # permit restored in its place is `restored_permit_id` (staff area).
    voided_at: datetime | None = None
    voided_by: int | None = Field(default=None, foreign_key="staff.id")
    void_note: str | None = Field(default=None, max_length=500)
    restored_permit_id: int | None = Field(default=None, foreign_key="permit.id")


class Draft(SQLModel, table=True):
    # Unguessable id: it appears in URLs; ownership is still checked on every request.
    id: str = Field(primary_key=True, max_length=32)
    wizard: str = Field(max_length=20)
    owner_id: int = Field(foreign_key="person.id", index=True)
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    case_id: int | None = Field(default=None, foreign_key="case_record.id", unique=True)
    created_at: datetime
    updated_at: datetime


class OneTimeCode(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_onetimecode_lookup", "purpose", "subject"),)

    id: int | None = Field(default=None, primary_key=True)
    purpose: str = Field(max_length=20)
    # What the code unlocks: a phone for sign-in, a draft or a family request for consent.
    subject: str = Field(max_length=80)
    phone: str = Field(max_length=11)
    code_hash: str = Field(max_length=128)
    created_at: datetime
    expires_at: datetime
    attempts: int = Field(default=0)
    consumed_at: datetime | None = None


class SmsOutbox(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    to: str = Field(max_length=11)
    text: str = Field(max_length=500)
    code: str | None = Field(default=None, max_length=6)
    created_at: datetime
    delivered_at: datetime | None = Field(default=None, index=True)
    # Delivery, one message at a time (services.sms): each claim counts an attempt and holds
    # the message until next_attempt_at, so no two deliverers send it at once; a failure moves
    # next_attempt_at back off; after sms.MAX_ATTEMPTS the message is dead, not retried.
    template: str | None = Field(default=None, max_length=40)
    params: dict[str, str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime | None = Field(default=None, index=True)
    last_error: str | None = Field(default=None, max_length=300)
    dead_at: datetime | None = None


class AuditEvent(SQLModel, table=True):
    __table_args__ = (
        # A person's events newest first (the staff person page): read in order, no sort,
        # however many events a person has (migration 0013).
        sa.Index("ix_auditevent_subject_at", "subject_id", "at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    subject_id: int | None = Field(default=None, foreign_key="person.id")
    action: str = Field(max_length=40)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    client_address: str | None = Field(default=None, max_length=45)
    at: datetime
    # Set when a staff member acted (actor_id is then empty: staff are not people here).
    staff_id: int | None = Field(default=None, foreign_key="staff.id", index=True)


class Reminder(SQLModel, table=True):
    __table_args__ = (
        # Each rung of the ladder once per permit and period (SPEC 2.13), whatever the runs.
        # The period leads: a run walks permits in valid-until order, so its look-ups and
        # inserts stay among the few periods it is walking, however many were sent before.
        sa.UniqueConstraint("period", "kind", "permit_id", name="uq_reminder_period_kind_permit"),
        sa.CheckConstraint(sql_in("kind", ReminderKind), name="kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # No foreign key: only the run writes reminders, from the permit rows it reads in the
    # same statement, and permits are never deleted; PostgreSQL's check of a key would lock
    # each permit due, some 900,000 rows a day at city scale (migration 0011).
    permit_id: int
    # The valid-until date the reminder was about: endorsing starts a new period.
    period: date
    kind: str = Field(max_length=10)
    sent_at: datetime


# --- Workspace (SPEC 10, issue 11): departures reported in a batch, from a roster or a file --


class DepartureBatch(SQLModel, table=True):
    """Departures reported together (SPEC 10.4, 10.5). `token` is the batch's address; it is
    submitted once: `submitted_at` is set by a conditional update, so that submitting the same
    batch again, or twice at once, creates nothing more."""

    __table_args__ = (
        sa.CheckConstraint(sql_in("reason", Reason), name="reason"),
        sa.CheckConstraint("source IN ('roster', 'upload')", name="source"),
    )

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=32, unique=True)
    owner_id: int = Field(foreign_key="person.id", index=True)
    # Whose roster: "address:<id>", "address:all" (every address the owner answers for) or
    # "org:<id>"; checked against the policy again at every step.
    roster: str = Field(max_length=30)
    source: str = Field(max_length=10)
    # The reason step's answers (a file's rows may carry their own date and reason).
    reason: str | None = Field(default=None, max_length=20)
    reason_detail: str | None = Field(default=None, max_length=200)
    leave_date: date | None = None
    created_at: datetime
    submitted_at: datetime | None = None


class DepartureEntry(SQLModel, table=True):
    """One person of a batch; after submission, their case or why they were skipped."""

    __table_args__ = (
        sa.UniqueConstraint("batch_id", "person_id", name="uq_departureentry_batch_person"),
        sa.CheckConstraint(sql_in("reason", Reason), name="reason"),
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="departurebatch.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    position: int  # the roster's order, or the file's row number
    leave_date: date | None = None  # a file row's own date
    date_as_written: str | None = Field(default=None, max_length=40)
    reason: str | None = Field(default=None, max_length=20)
    reason_detail: str | None = Field(default=None, max_length=200)
    outcome: str | None = Field(default=None, max_length=30)
    case_id: int | None = Field(default=None, foreign_key="case_record.id", unique=True)


# --- Change of address (居住变更登记, SPEC 9) ---------------------------------------------------


class AddressTerm(SQLModel, table=True):
    """The address register's search index: every two-character run of an address line
    (after NFKC and case folding), so that a free-text search by district is an index
    lookup rather than a scan of every line (SPEC 9.1)."""

    __table_args__ = (sa.Index("ix_addressterm_lookup", "term", "district", "address_id"),)

    term: str = Field(primary_key=True, max_length=2)
    address_id: int = Field(primary_key=True, foreign_key="address.id", index=True)
    district: str = Field(max_length=20)


class AddressChange(SQLModel, table=True):
    """A request to change a permit's registered address (SPEC 9.3): pending until whoever
    answers for the new address confirms or refuses, or it lapses, is withdrawn, or the
    permit is deregistered. The partial unique index keeps one pending request per permit
    in the database, whatever the concurrency."""

    __table_args__ = (
        sa.CheckConstraint(sql_in("housing", Housing), name="housing"),
        sa.CheckConstraint(sql_in("state", ChangeState), name="state"),
        sa.CheckConstraint("from_address_id <> to_address_id", name="moves"),
        sa.Index(
            "uq_addresschange_pending_permit",
            "permit_id",
            unique=True,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        ),
        # The workspace counts and lists the requests awaiting each address.
        sa.Index("ix_addresschange_to_state", "to_address_id", "state"),
        # send-reminders lapses pending requests past their deadline.
        sa.Index("ix_addresschange_state_expires", "state", "expires_at"),
        sa.Index("ix_addresschange_stats", "decided_at", "district", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_record.id", unique=True)
    permit_id: int = Field(foreign_key="permit.id", index=True)
    from_address_id: int = Field(foreign_key="address.id")
    to_address_id: int = Field(foreign_key="address.id")
    moved_on: date
    housing: str = Field(max_length=10)
    state: str = Field(max_length=10)
    submitted_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    # Who confirmed or refused (a person answering for the address, or for its organisation).
    decided_by_id: int | None = Field(default=None, foreign_key="person.id")
    refuse_reason: str | None = Field(default=None, max_length=200)
    # The new address's district: a change of address is registered where the holder moves
    # to, and counted there (statistics).
    district: str = Field(max_length=20)


class RegistrationHistory(SQLModel, table=True):
    """Where a permit has been registered and since when: one row per applied change of
    address (SPEC 9.4; the staff's registration history, 12.3)."""

    id: int | None = Field(default=None, primary_key=True)
    permit_id: int = Field(foreign_key="permit.id", index=True)
    from_address_id: int = Field(foreign_key="address.id")
    to_address_id: int = Field(foreign_key="address.id")
    moved_on: date
    # Who confirmed it (the answerer, or the applicant when they answer for it themselves).
    confirmed_by_id: int | None = Field(default=None, foreign_key="person.id")
    confirmed_at: datetime
    change_id: int | None = Field(default=None, foreign_key="addresschange.id", unique=True)


# --- The holder's side (issue 13): objections, the verification log, sign-ins ------------------


class Objection(SQLModel, table=True):
    """A holder's objection to a deregistration someone else declared (SPEC 11.1), and the
    staff's decision on it (12.4). The objection's own case (`YY…`) records who filed it
    (its agent: the holder, or a family member through 切换) and for whom (its applicant)."""

    __table_args__ = (
        sa.CheckConstraint(sql_in("status", ObjectionStatus), name="status"),
        # A decision is recorded whole or not at all, and only a decided objection has one.
        sa.CheckConstraint(
            "(status = 'pending' AND decided_at IS NULL AND decision_note IS NULL"
            " AND decided_by IS NULL)"
            " OR (status <> 'pending' AND decided_at IS NOT NULL"
            " AND decision_note IS NOT NULL AND decided_by IS NOT NULL)",
            name="decision_whole",
        ),
        # The staff queue: pending ones, oldest first (SPEC 12.4).
        sa.Index("ix_objection_status_filed_at", "status", "filed_at"),
        sa.Index("ix_objection_stats", "decided_at", "district", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # One objection per deregistration: a second one fails here, whatever the concurrency.
    deregistration_id: int = Field(foreign_key="deregistration.id", unique=True)
    case_id: int = Field(foreign_key="case_record.id", unique=True)
    permit_id: int = Field(foreign_key="permit.id", index=True)
    statement: str = Field(max_length=500)
    status: str = Field(max_length=10, default=ObjectionStatus.PENDING)
    filed_at: datetime
    decided_at: datetime | None = None
    decision_note: str | None = Field(default=None, max_length=500)
    # The staff member who decided (its foreign key comes with the staff table, 0010).
    decided_by: int | None = Field(default=None, foreign_key="staff.id")
    # Where the deregistered permit was registered (it can move no more; statistics).
    district: str = Field(max_length=20)


class VerificationEvent(SQLModel, table=True):
    """One successful check of a shown code (`/v/…`), for the holder's own record (SPEC
    11.2). Only the time: who scanned it, and from where, is not ours to keep."""

    __tablename__ = "verification_event"
    __table_args__ = (
        # A holder's log newest first, a page at a time, however many checks there are.
        sa.Index("ix_verification_event_person_time", "person_id", "checked_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    permit_id: int = Field(foreign_key="permit.id")
    person_id: int = Field(foreign_key="person.id")
    checked_at: datetime


class SignIn(SQLModel, table=True):
    """A completed sign-in with a coarse device (SPEC 11.2): no address, no browser string."""

    __tablename__ = "sign_in"
    __table_args__ = (
        sa.CheckConstraint(sql_in("device", DeviceKind), name="device"),
        sa.Index("ix_sign_in_person_time", "person_id", "signed_in_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    signed_in_at: datetime
    device: str = Field(max_length=20)


# --- Staff console (SPEC 12) ------------------------------------------------------------------


class Staff(SQLModel, table=True):
    __table_args__ = (
        sa.CheckConstraint(sql_in("role", StaffRole), name="role"),
        # An officer's scope is their district; only a supervisor has none (the whole city).
        sa.CheckConstraint("role = 'supervisor' OR district IS NOT NULL", name="district"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=12, unique=True)
    name: str = Field(max_length=30)
    role: str = Field(max_length=10)
    district: str | None = Field(default=None, max_length=20)
    password_hash: str = Field(max_length=200)
    totp_secret: str = Field(max_length=64)
    # The last TOTP step accepted: a code seen once (over a shoulder, in a log) is spent.
    last_totp_step: int = Field(default=0)
    failed_attempts: int = Field(default=0)
    locked_until: datetime | None = None
    disabled: bool = Field(default=False)
    # As Person.session_epoch: signing out ends every copy of the staff cookie.
    session_epoch: int = Field(default=0)
    created_at: datetime

