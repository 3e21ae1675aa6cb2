"""Departures reported in a batch from the workspace (SPEC 10.4, 10.5).

A batch is made from the people ticked on a roster, or from a checked file; it is submitted
once (a conditional update on the batch row), and then everyone in it is deregistered
through the deregistration service in one call (`declare_many`, of which the wizard's
`declare` is the case of one): the same rules of SPEC 2.8, one case each, each kind of row
read and written once for the whole batch. Whoever cannot be deregistered is skipped, with why.
No Flask, no clock; Chinese words only for what is sent by SMS, in the deregistration service.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session, col, select

from epermit import policy
from epermit.acting import Acting
from epermit.models import Case, DepartureBatch, DepartureEntry, Permit, Person
from epermit.services import audit, workspace
from epermit.services import deregister as service
from epermit.sql import rowcount, saved_id
from epermit.vocabulary import DeclarantRole, Reason

# SPEC 10.4: the reason offered first, for the role the roster's answerer declares in.
DEFAULT_REASON: dict[DeclarantRole, Reason] = {
    DeclarantRole.LANDLORD: Reason.MOVED_OUT,
    DeclarantRole.EMPLOYER: Reason.LEFT_JOB,
    DeclarantRole.SCHOOL: Reason.LEFT_SCHOOL,
    DeclarantRole.HOTEL: Reason.CHECKED_OUT,
}


class Outcome(StrEnum):
    """What became of one person of a submitted batch."""

    DECLARED = "declared"
    ALREADY_DEREGISTERED = "already_deregistered"
    LEFT_ROSTER = "left_roster"  # no longer registered at this place
    BEFORE_ISSUE = "before_issue"  # leave date before their permit's 签发日期
    IN_FUTURE = "in_future"
    NOT_ALLOWED = "not_allowed"


class NothingSelected(Exception):
    """No ticked row is (still) on the roster."""


class NoSuchBatch(Exception):
    """Not a batch of this person's, or its roster is no longer theirs: views answer 404."""


@dataclass(frozen=True)
class FileRow:
    """A clean row of an uploaded file (services.departure_file)."""

    row: int
    person_id: int
    leave_date: date
    date_as_written: str | None
    reason: Reason | None
    reason_detail: str | None


def _new_batch(acting: Acting, roster: workspace.Roster, source: str) -> DepartureBatch:
    return DepartureBatch(
        token=secrets.token_urlsafe(18),
        owner_id=acting.person_id,
        roster=roster.key,
        source=source,
        created_at=acting.now,
    )


def start_from_roster(
    session: Session,
    acting: Acting,
    roster: workspace.Roster,
    selected: Sequence[str],
    secret: str,
) -> DepartureBatch:
    """A batch of the ticked people who are on the roster; row ids from elsewhere count for
    nothing. Raises NothingSelected."""
    members = workspace.members_by_row_id(session, roster, secret)
    chosen = list(dict.fromkeys(m for m in (members.get(s) for s in selected) if m))
    if not chosen:
        raise NothingSelected()
    batch = _new_batch(acting, roster, "roster")
    batch.reason = DEFAULT_REASON[roster.role]
    session.add(batch)
    session.flush()
    chosen.sort(key=lambda m: (m.name, m.person_id))
    session.add_all(
        DepartureEntry(batch_id=saved_id(batch), person_id=m.person_id, position=n)
        for n, m in enumerate(chosen, start=1)
    )
    audit.record(
        session,
        action="workspace_batch_started",
        actor_id=acting.person_id,
        subject_id=None,
        client_address=acting.client_address,
        now=acting.now,
        roster=roster.key,
        batch=batch.token,
        people=[m.person_id for m in chosen],
    )
    session.flush()
    return batch


def start_from_file(
    session: Session, acting: Acting, roster: workspace.Roster, rows: Sequence[FileRow]
) -> DepartureBatch:
    """A batch of a clean file's rows, each with its own date and reason."""
    batch = _new_batch(acting, roster, "upload")
    session.add(batch)
    session.flush()
    batch_id = saved_id(batch)
    session.execute(
        sa.insert(DepartureEntry),
        [
            {
                "batch_id": batch_id,
                "person_id": row.person_id,
                "position": row.row,
                "leave_date": row.leave_date,
                "date_as_written": row.date_as_written,
                "reason": row.reason or DEFAULT_REASON[roster.role],
                "reason_detail": row.reason_detail,
            }
            for row in rows
        ],
    )
    session.flush()
    return batch


def batch_for(
    session: Session, person_id: int, token: str
) -> tuple[DepartureBatch, workspace.Roster]:
    """The person's own batch and its roster, checked against the policy now. NoSuchBatch."""
    if len(token) > 32:
        raise NoSuchBatch()
    batch = session.exec(select(DepartureBatch).where(DepartureBatch.token == token)).first()
    if batch is None or batch.owner_id != person_id:
        raise NoSuchBatch()
    kind, place = batch.roster.split(":", 1)
    try:
        return batch, workspace.open_roster(session, person_id, kind, place)
    except policy.NotInScope as error:
        raise NoSuchBatch() from error


def set_reason(
    session: Session,
    batch: DepartureBatch,
    *,
    reason: Reason,
    reason_detail: str | None,
    leave_date: date,
) -> None:
    """The reason step's answers, for every person of a roster batch."""
    batch.reason = Reason(reason)
    batch.reason_detail = reason_detail if reason == Reason.OTHER else None
    batch.leave_date = leave_date
    session.add(batch)
    session.flush()


@dataclass(frozen=True)
class EntryView:
    entry: DepartureEntry
    person: Person
    reason: Reason
    reason_detail: str | None
    leave_date: date | None
    outcome: Outcome | None  # after submission: what happened; before: what will
    reference: str | None


def _declaration(
    batch: DepartureBatch, roster: workspace.Roster, entry: DepartureEntry | sa.Row
) -> service.Declaration | None:
    leave_date = entry.leave_date or batch.leave_date
    if leave_date is None:
        return None
    return service.Declaration(
        role=roster.role,
        applicant_id=entry.person_id,
        reason=Reason(entry.reason or batch.reason or Reason.OTHER),
        reason_detail=entry.reason_detail if entry.reason else batch.reason_detail,
        leave_date=leave_date,
        organisation_uscc=roster.organisation.uscc if roster.organisation else None,
    )


def _outcome_of(error: Exception) -> Outcome:
    if isinstance(error, service.AlreadyDeregistered):
        return Outcome.ALREADY_DEREGISTERED
    if isinstance(error, service.LeaveDateBeforeIssue):
        return Outcome.BEFORE_ISSUE
    if isinstance(error, service.LeaveDateInFuture):
        return Outcome.IN_FUTURE
    return Outcome.NOT_ALLOWED


def entries(
    session: Session, acting: Acting, batch: DepartureBatch, roster: workspace.Roster
) -> list[EntryView]:
    """Everyone in the batch in order. Before submission each with what submitting would do
    (asked of the deregistration service, which changes nothing); after, what it did."""
    query = (
        select(DepartureEntry, Person, Case.reference)
        .join(Person, col(Person.id) == col(DepartureEntry.person_id))
        .outerjoin(Case, col(Case.id) == col(DepartureEntry.case_id))
        .where(DepartureEntry.batch_id == batch.id)
        .order_by(col(DepartureEntry.position))
    )
    rows = session.execute(query).all()
    foreseen: dict[int, Outcome] = {}
    if batch.submitted_at is None:
        foreseen = _foresee(session, acting, batch, roster, [e for e, _, _ in rows])
    views = []
    for entry, person, reference in rows:
        declaration = _declaration(batch, roster, entry)
        outcome: Outcome | None = Outcome(entry.outcome) if entry.outcome else None
        if batch.submitted_at is None:
            outcome = foreseen.get(entry.person_id)
        views.append(
            EntryView(
                entry,
                person,
                declaration.reason if declaration else Reason(batch.reason or Reason.OTHER),
                declaration.reason_detail if declaration else None,
                declaration.leave_date if declaration else None,
                outcome,
                reference,
            )
        )
    return views


def _foresee(
    session: Session,
    acting: Acting,
    batch: DepartureBatch,
    roster: workspace.Roster,
    listed: Sequence[DepartureEntry | sa.Row],
) -> dict[int, Outcome]:
    """What submitting would do for each person (by person id) who has a declaration:
    asked of the deregistration service, for all of them at once, changing nothing."""
    on_roster = workspace.registered_person_ids(session, roster, [e.person_id for e in listed])
    outcomes: dict[int, Outcome] = {}
    asked: list[service.Declaration] = []
    for entry in listed:
        declaration = _declaration(batch, roster, entry)
        if declaration is None:
            continue
        if entry.person_id not in on_roster:
            outcomes[entry.person_id] = Outcome.LEFT_ROSTER
        else:
            asked.append(declaration)
    for declaration, verdict in zip(
        asked, service.authorise_many(session, asked, acting), strict=True
    ):
        outcomes[declaration.applicant_id] = (
            Outcome.DECLARED if isinstance(verdict, Permit) else _outcome_of(verdict)
        )
    return outcomes


def submit(
    session: Session, acting: Acting, batch: DepartureBatch, roster: workspace.Roster
) -> bool:
    """Deregister everyone in the batch who can be, one case each through the
    deregistration service; False, changing nothing, when the batch was submitted before.

    "Once" holds in the database: the conditional update below lets one submission through
    (a second one, even at the same moment, waits for the first and then matches no row),
    and each permit can be deregistered only once anyway.
    """
    claimed = session.execute(
        sa.update(DepartureBatch)
        .where(col(DepartureBatch.id) == batch.id, col(DepartureBatch.submitted_at).is_(None))
        .values(submitted_at=acting.now)
    )
    if rowcount(claimed) != 1:
        return False
    # Plain rows, not tracked objects: the outcomes are written in one statement at the end.
    listed = session.execute(
        sa.select(
            col(DepartureEntry.id),
            col(DepartureEntry.person_id),
            col(DepartureEntry.leave_date),
            col(DepartureEntry.reason),
            col(DepartureEntry.reason_detail),
        )
        .where(col(DepartureEntry.batch_id) == batch.id)
        .order_by(col(DepartureEntry.position))
    ).all()
    person_ids = [e.person_id for e in listed]
    on_roster = workspace.registered_person_ids(session, roster, person_ids)
    counts: dict[str, int] = {}
    outcomes: list[dict[str, object]] = []
    asked: list[tuple[int, service.Declaration]] = []
    for entry in listed:
        declaration = _declaration(batch, roster, entry)
        outcome = Outcome.NOT_ALLOWED
        if declaration is not None and entry.person_id not in on_roster:
            outcome = Outcome.LEFT_ROSTER
        elif declaration is not None:
            asked.append((len(outcomes), declaration))
        outcomes.append({"id": entry.id, "outcome": outcome, "case_id": None})
    # Everyone at once through the deregistration service: the wizard's rules, one case each.
    done = service.declare_many(session, [d for _, d in asked], acting)
    for (n, _), result in zip(asked, done, strict=True):
        if isinstance(result, service.Declared):
            outcomes[n].update(outcome=Outcome.DECLARED, case_id=result.case_id)
        else:
            outcomes[n]["outcome"] = _outcome_of(result)
    for row in outcomes:
        counts[str(row["outcome"])] = counts.get(str(row["outcome"]), 0) + 1
    # By primary key, one executemany; the session holds no entry objects to bring up to date.
    session.execute(
        sa.update(DepartureEntry), outcomes, execution_options={"synchronize_session": False}
    )
    audit.record(
        session,
        action="workspace_batch_submitted",
        actor_id=acting.person_id,
        subject_id=None,
        client_address=acting.client_address,
        now=acting.now,
        roster=roster.key,
        batch=batch.token,
        outcomes=counts,
    )
    session.flush()
    batch.submitted_at = acting.now
    return True


def record_upload(
    session: Session,
    acting: Acting,
    roster: workspace.Roster,
    *,
    size: int,
    refused: str | None = None,
    rows: int | None = None,
    batch: str | None = None,
) -> None:
    """Every upload is an audit event, the refused ones too (SPEC 10.8)."""
    audit.record(
        session,
        action="workspace_file_uploaded",
        actor_id=acting.person_id,
        subject_id=None,
        client_address=acting.client_address,
        now=acting.now,
        roster=roster.key,
        size=size,
        refused=refused,
        rows=rows,
        batch=batch,
    )
