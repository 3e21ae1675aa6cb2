"""Deregistration (注销, SPEC 2.8): who may declare it for whom, and recording it once.

A declarant is the holder, a family member (2.10), or the landlord, employer, school or hotel
recorded on the holder's registration. Persons are identified by name + 公民身份号码 and
organisations by 统一社会信用代码, and the declared identity must be the signed-in account's,
so nobody can borrow a role by typing in someone else's details.

Refusals are typed exceptions; the view layer turns each into a Chinese message. `authorise`
only reads; `declare` writes in the caller's transaction, which the caller commits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from epermit import identity, policy
from epermit.acting import Acting
from epermit.models import Address, Case, Deregistration, Permit, Person
from epermit.services import audit, family, move, permits
from epermit.services.references import new_reference
from epermit.sql import saved_id
from epermit.vocabulary import ORGANISATION_ROLES, CaseKind, DeclarantRole, Reason

__all__ = [
    "REASON_DETAIL_MAX_CHARS",
    "AlreadyDeregistered",
    "DeclarantMismatch",
    "Declaration",
    "DeregistrationRefused",
    "DirectLinkCannotDeregister",
    "LeaveDateBeforeIssue",
    "LeaveDateInFuture",
    "NoPermit",
    "NotFamilyMember",
    "NotOperator",
    "NotRecordedLandlord",
    "NotRecordedOrganisation",
    "ReasonDetailMissing",
    "ReasonDetailTooLong",
    "UnknownOrganisation",
    "Declared",
    "Verdict",
    "authorise",
    "authorise_many",
    "check_declarant_person",
    "check_relation",
    "declare",
    "declare_many",
    "deregistration_of",
]

# Deregistration.reason_detail's column width; PostgreSQL would refuse anything longer.
REASON_DETAIL_MAX_CHARS = 200

# The one text in this module: the SMS to the holder, which, like the other services' SMS,
# is composed where the message is queued (SPEC 5: in the same transaction as the change).
_SMS_TEXT = (
    "【广东省电子居住证】{declarant}已申报注销您的居住证，居住证自即日起停止使用。"
    "办件编号{reference}。如有异议，请联系居住地派出所。"
)

_SMS_TO_LISTER = (
    "【广东省电子居住证】{declarant}已申报注销您的家庭成员{member}的居住证，该居住证自即日起"
    "停止使用。办件编号{reference}。如有异议，请联系居住地派出所。"
)

# Who may declare for whom is the policy module's; its refusals are named here too, so that
# callers of this service catch them by the service's name.
NotFamilyMember = policy.NotFamilyMember
DeclarantMismatch = policy.DeclarantMismatch
NotRecordedLandlord = policy.NotRecordedLandlord
NotRecordedOrganisation = policy.NotRecordedOrganisation
UnknownOrganisation = policy.UnknownOrganisation
NotOperator = policy.NotOperator
DirectLinkCannotDeregister = policy.DirectLinkCannotDeregister


# --- Refusals --------------------------------------------------------------------------------


class DeregistrationRefused(Exception):
    """Base of every reason a deregistration is refused other than who may declare it
    (policy.NotAllowed); views map each to a message."""


class NoPermit(DeregistrationRefused):
    """The applicant holds no current permit."""


class AlreadyDeregistered(DeregistrationRefused):
    """The permit was deregistered before; `deregistration` says when and by whom."""

    def __init__(self, deregistration: Deregistration) -> None:
        super().__init__(f"permit {deregistration.permit_id} is already deregistered")
        # A copy outside the session, so it stays readable after the caller rolls back.
        self.deregistration = Deregistration(**deregistration.model_dump())


class LeaveDateInFuture(DeregistrationRefused):
    """Only a departure that has happened (today at the latest) can be declared."""


class LeaveDateBeforeIssue(DeregistrationRefused):
    """The holder cannot have left before the permit was issued; `issue_date` says when."""

    def __init__(self, issue_date: date) -> None:
        super().__init__(f"leave date before the issue date {issue_date.isoformat()}")
        self.issue_date = issue_date


class ReasonDetailMissing(DeregistrationRefused):
    """Reason "other" needs a text saying what it is."""


class ReasonDetailTooLong(DeregistrationRefused):
    """The reason text does not fit the record; `max_chars` says how much does."""

    def __init__(self, max_chars: int) -> None:
        super().__init__(f"reason detail longer than {max_chars} characters")
        self.max_chars = max_chars


# --- The declaration -------------------------------------------------------------------------


@dataclass(frozen=True)
class Declaration:
    """What is declared; who declares it is the `Acting` passed beside it."""

    role: DeclarantRole
    applicant_id: int  # the holder whose permit is deregistered (the actor for "self")
    reason: Reason
    reason_detail: str | None
    leave_date: date
    organisation_uscc: str | None = None  # employer, school or hotel roles
    consented: bool = False  # family role: the applicant consented by SMS code in the wizard


def check_declarant_person(session: Session, actor_id: int, name: str, id_number: str) -> None:
    """Refuse unless the declared name and ID number are the signed-in person's own."""
    actor = session.get(Person, actor_id)
    if (
        actor is None
        or actor.id_number != identity.normalise_id_number(id_number)
        or actor.name != identity.normalise_name(name)
    ):
        raise DeclarantMismatch()


def deregistration_of(session: Session, permit_id: int) -> Deregistration | None:
    return session.exec(select(Deregistration).where(Deregistration.permit_id == permit_id)).first()


def _reason_detail(declaration: Declaration) -> str | None:
    detail = (declaration.reason_detail or "").strip() or None
    if declaration.reason == "other" and detail is None:
        raise ReasonDetailMissing()
    if detail is not None and len(detail) > REASON_DETAIL_MAX_CHARS:
        raise ReasonDetailTooLong(REASON_DETAIL_MAX_CHARS)
    return detail


def _check_relation(
    session: Session, declaration: Declaration, actor_id: int, permit: Permit | None
) -> Permit:
    if permit is None:
        raise NoPermit()
    policy.declaring_basis(
        session,
        role=declaration.role,
        actor_id=actor_id,
        permit=permit,
        organisation_uscc=declaration.organisation_uscc,
        consented=declaration.consented,
    )
    return permit


def check_relation(session: Session, declaration: Declaration, actor_id: int) -> Permit:
    """The holder's current permit, if the actor may declare in the declared role
    (policy.declaring_basis); raises NoPermit or the policy's refusal. Changes nothing.

    Only who may declare for whom: the wizard's applicant step asks this before the reason
    and leave date are known.
    """
    permit = permits.current_permit(session, declaration.applicant_id)
    return _check_relation(session, declaration, actor_id, permit)


# What authorising one declaration of many comes to: its permit, or why it is refused.
Verdict = Permit | DeregistrationRefused | policy.NotAllowed

# Rows per IN list: well below what SQLite and PostgreSQL accept as parameters of one statement.
_CHUNK = 1000


def _chunks(values: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _current_permits(session: Session, person_ids: Sequence[int]) -> dict[int, Permit]:
    """Each person's current permit (permits.current_permit of many), in one read per chunk."""
    found: dict[int, Permit] = {}
    for chunk in _chunks(list(dict.fromkeys(person_ids))):
        query = select(Permit).where(col(Permit.person_id).in_(chunk), col(Permit.is_current))
        for permit in session.exec(query):
            found.setdefault(permit.person_id, permit)
    return found


def _existing(session: Session, permit_ids: Sequence[int]) -> dict[int, Deregistration]:
    """The deregistrations of these permits (deregistration_of of many)."""
    found: dict[int, Deregistration] = {}
    for chunk in _chunks(list(dict.fromkeys(permit_ids))):
        query = select(Deregistration).where(col(Deregistration.permit_id).in_(chunk))
        found.update((d.permit_id, d) for d in session.exec(query))
    return found


def authorise_many(
    session: Session, declarations: Sequence[Declaration], acting: Acting
) -> list[Verdict]:
    """For each declaration, the permit it may deregister or why not (the refusal, not
    raised); changes nothing. The rules of `authorise`, in the same order, with each kind of
    record read once for all of them: a batch of a thousand costs a few statements.

    The relation is checked before anything about the permit's state, so someone with no
    relation to the holder learns nothing about it (not even that it is deregistered).
    """
    for declaration in declarations:
        Reason(declaration.reason)  # a ValueError for a value outside the vocabulary
    held = _current_permits(session, [d.applicant_id for d in declarations])
    # A landlord's basis is the permit's address (policy.declaring_basis reads it by key):
    # read them all at once, and hold them, so that the session answers each from memory.
    landlord_addresses = [
        held[d.applicant_id].address_id
        for d in declarations
        if d.role == DeclarantRole.LANDLORD and d.applicant_id in held
    ]
    _addresses = (
        session.exec(
            select(Address).where(col(Address.id).in_(list(dict.fromkeys(landlord_addresses))))
        ).all()
        if landlord_addresses
        else []
    )
    verdicts: list[Verdict] = []
    for declaration in declarations:
        try:
            verdicts.append(
                _check_relation(
                    session, declaration, acting.person_id, held.get(declaration.applicant_id)
                )
            )
        except (DeregistrationRefused, policy.NotAllowed) as refusal:
            verdicts.append(refusal)
    related = [v.id for v in verdicts if isinstance(v, Permit) and v.id is not None]
    existing = _existing(session, related) if related else {}
    for n, (declaration, verdict) in enumerate(zip(declarations, verdicts, strict=True)):
        if not isinstance(verdict, Permit):
            continue
        try:
            if verdict.id in existing:
                raise AlreadyDeregistered(existing[saved_id(verdict)])
            _reason_detail(declaration)
            if declaration.leave_date > acting.today:
                raise LeaveDateInFuture()
            if declaration.leave_date < verdict.issue_date:
                raise LeaveDateBeforeIssue(verdict.issue_date)
        except DeregistrationRefused as refusal:
            verdicts[n] = refusal
    del _addresses
    return verdicts


def authorise(session: Session, declaration: Declaration, acting: Acting) -> Permit:
    """Return the permit the declaration may deregister, or raise why not; changes nothing."""
    (verdict,) = authorise_many(session, [declaration], acting)
    if not isinstance(verdict, Permit):
        raise verdict
    return verdict


@dataclass(frozen=True)
class Declared:
    """A deregistration recorded: its case."""

    case_id: int
    reference: str


def _references(session: Session, today: date, count: int) -> list[str]:
    """`count` new ZX references, distinct from each other and from those already given."""
    chosen: set[str] = set()
    while len(chosen) < count:
        fresh = {new_reference(CaseKind.DEREGISTER, today) for _ in range(count - len(chosen))}
        fresh -= chosen
        taken = set(
            session.execute(
                sa.select(col(Case.reference)).where(col(Case.reference).in_(sorted(fresh)))
            ).scalars()
        )
        chosen |= fresh - taken
    return list(chosen)


def declare(session: Session, declaration: Declaration, acting: Acting) -> Case:
    """Deregister in the caller's transaction: record, case, audit event and SMS together;
    raises why not (see `declare_many`)."""
    (outcome,) = declare_many(session, [declaration], acting)
    if not isinstance(outcome, Declared):
        raise outcome
    case = session.get(Case, outcome.case_id)
    assert case is not None
    return case


def declare_many(
    session: Session, declarations: Sequence[Declaration], acting: Acting
) -> list[Declared | DeregistrationRefused | policy.NotAllowed]:
    """Deregister each declaration that `authorise_many` allows, in the caller's transaction:
    for each, record, case, audit event and SMS together; for the others, why not. Each kind
    of row is written in one statement for all of them (a workspace batch of a thousand).

    The unique permit key on deregistrations makes "once" hold in the database: when another
    declaration committed one of these permits between the check and the insert, the writes
    are undone to a savepoint, that permit is told the winner's record, and the rest are
    written again.
    """
    verdicts: list[Verdict | Declared] = list(authorise_many(session, declarations, acting))
    while True:
        allowed = [(n, v) for n, v in enumerate(verdicts) if isinstance(v, Permit)]
        if not allowed:
            return [v for v in verdicts if not isinstance(v, Permit)]
        try:
            with session.begin_nested():
                written = _write(session, [(declarations[n], v) for n, v in allowed], acting)
        except sa.exc.IntegrityError:
            winners = {
                d.permit_id: d
                for d in session.exec(
                    select(Deregistration).where(
                        col(Deregistration.permit_id).in_([saved_id(v) for _, v in allowed])
                    )
                )
            }
            if not winners:
                raise
            for n, permit in allowed:
                if permit.id in winners:
                    verdicts[n] = AlreadyDeregistered(winners[saved_id(permit)])
            continue
        for (n, _), declared in zip(allowed, written, strict=True):
            verdicts[n] = declared
        return [v for v in verdicts if not isinstance(v, Permit)]


def _write(
    session: Session, allowed: Sequence[tuple[Declaration, Permit]], acting: Acting
) -> list[Declared]:
    """Record each allowed declaration: cases, deregistrations, cancelled changes of
    address, audit events and SMS, each kind in one statement."""
    today, now = acting.today, acting.now
    actor = acting.person
    assert actor is not None
    actor_id = saved_id(actor)
    holders = {
        p.id: p
        for chunk in _chunks([d.applicant_id for d, _ in allowed])
        for p in session.exec(select(Person).where(col(Person.id).in_(chunk)))
    }
    organisations = {
        d.role: policy.operated_organisation(session, actor_id, d.role, d.organisation_uscc or "")
        for d, _ in allowed
        if d.role in ORGANISATION_ROLES
    }
    references = _references(session, today, len(allowed))
    # Each deregistration is counted in statistics where its permit is registered now.
    districts = permits.districts_of(session, [p for _, p in allowed])
    rows = []
    for (declaration, permit), reference in zip(allowed, references, strict=True):
        organisation = organisations.get(declaration.role)
        rows.append(
            {
                "reference": reference,
                "kind": CaseKind.DEREGISTER,
                "permit_id": permit.id,
                "applicant_id": declaration.applicant_id,
                "agent_id": actor_id,
                "outcome": "deregistered",
                "details": {
                    "declarant_role": declaration.role,
                    "org_name": organisation.name if organisation else None,
                    "org_uscc": organisation.uscc if organisation else None,
                    "reason": declaration.reason,
                    "reason_detail": _reason_detail(declaration),
                    "leave_date": declaration.leave_date.isoformat(),
                    "consented": declaration.consented,
                },
                "created_at": now,
            }
        )
    # Matched by reference rather than by the order of the returned rows: SQLite guarantees
    # no order, and SQLAlchemy would then insert one row per statement.
    made: dict[str, int] = {
        reference: case_id
        for reference, case_id in session.execute(
            sa.insert(Case).returning(col(Case.reference), col(Case.id)), rows
        )
    }
    case_ids = [made[reference] for reference in references]
    session.execute(
        sa.insert(Deregistration),
        [
            {
                "permit_id": permit.id,
                "declarant_role": declaration.role,
                "declarant_id": actor_id,
                "organisation_id": organisation.id if organisation else None,
                "reason": declaration.reason,
                "reason_detail": _reason_detail(declaration),
                "leave_date": declaration.leave_date,
                "declared_at": now,
                "case_id": case_id,
                "district": districts[saved_id(permit)],
            }
            for (declaration, permit), case_id in zip(allowed, case_ids, strict=True)
            for organisation in [organisations.get(declaration.role)]
        ],
    )
    # A deregistered permit keeps no pending change of address (SPEC 9.4).
    move.cancel_for_deregistrations(session, [saved_id(p) for _, p in allowed], now)
    # The permits say so themselves (Permit.deregistered): rosters read it from them. After
    # the changes of address, never before: a confirmation locks its request and then the
    # permit, and taking the two in the other order here deadlocked against it on PostgreSQL
    # (tests/test_move_concurrency.py).
    for chunk in _chunks([saved_id(p) for _, p in allowed]):
        session.execute(
            sa.update(Permit)
            .where(col(Permit.id).in_(chunk))
            .values(deregistered=True)
        )
    audit.record_many(
        session,
        [
            {
                "action": "permit_deregistered",
                "actor_id": actor_id,
                "subject_id": declaration.applicant_id,
                "client_address": acting.client_address,
                "now": now,
                "reference": reference,
                "declarant_role": declaration.role,
                "organisation_id": organisation.id if organisation else None,
                "reason": declaration.reason,
                "leave_date": declaration.leave_date.isoformat(),
            }
            for (declaration, _), reference in zip(allowed, references, strict=True)
            for organisation in [organisations.get(declaration.role)]
        ],
    )
    # Done for someone else: they and everyone who lists them are told (SPEC 2.8, 2.9).
    notices = []
    for (declaration, _), reference in zip(allowed, references, strict=True):
        holder = holders[declaration.applicant_id]
        if holder.id == actor_id:
            continue
        organisation = organisations.get(declaration.role)
        declarant = organisation.name if organisation else identity.mask_name(actor.name)
        notices.append(
            family.Notice(
                holder,
                to_member=_SMS_TEXT.format(declarant=declarant, reference=reference),
                to_lister=_SMS_TO_LISTER.format(
                    declarant=declarant, member=holder.name, reference=reference
                ),
            )
        )
    family.tell_members_and_listers(session, notices, actor_id=actor_id, now=now)
    session.flush()
    return [Declared(c, r) for c, r in zip(case_ids, references, strict=True)]
