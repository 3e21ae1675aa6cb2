"""The reminder ladder (SPEC 2.13): `window` when the endorsement window opens, `expiring` 7
days before valid-until if not yet endorsed, `suspended` on the day after valid-until; each at
most once per permit, period and kind. To the holder's phone, or, when the holder has none,
to everyone who has the holder on their family list.

Set-based, so a run over ten million permits is a few statements, whatever the number, and
safe to run every hour: an INSERT … SELECT claims the (permit, period, kind) rungs that are
due and not yet sent (the unique key on `reminder` settles any race between two runs, ON
CONFLICT DO NOTHING skipping what another run claimed), and the SMS are queued for exactly
the rungs this run claimed, in the same transaction: on PostgreSQL by the same statement
(WITH … INSERT … RETURNING), on SQLite by a second INSERT … SELECT. No permit comes back to
Python.

A run does work in proportion to the permits due, not to the register (SPEC 13: at most
60 s over ten million): they are a valid-until range of an index that also holds is_current
and the holder, read in valid-until order, and the sent-reminder key leads with the period,
so its look-ups follow the same order.

Each rung is news on its day. A run missed for a while (an outage, the first run after an
upgrade) still sends what is due: `window` while the window is open and the permit is not
yet `expiring`, `expiring` until valid-until, `suspended` for SUSPENDED_CATCH_UP_DAYS after
the day it was due; a permit suspended for longer is not told again what it was told, or
should have been told, long ago.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from epermit import rules
from epermit.models import Deregistration, FamilyLink, Permit, Person, Reminder, SmsOutbox
from epermit.vocabulary import ReminderKind

# `expiring` goes out 7 days before valid-until (SPEC 2.13); from then on the window's
# reminder would only repeat it.
EXPIRING_DAYS = 7
# How long after the day after valid-until a missed `suspended` reminder is still sent.
SUSPENDED_CATCH_UP_DAYS = 7


def latest_valid_until_in_window(today: date) -> date:
    """The latest valid-until date whose endorsement window has opened by `today`.

    window_opens never decreases as valid-until grows, so the permits whose window is open
    are exactly those with today <= valid-until <= this date: a range an index can serve.
    Month ends need care: on 28 February 2025 the windows of 29, 30 and 31 March open too.
    """
    latest = rules.add_months(today, 1)
    while rules.window_opens(latest + timedelta(days=1)) <= today:
        latest += timedelta(days=1)
    return latest


def _cn_date(column: sa.ColumnExpressionArgument[date]) -> sa.ColumnElement[str]:
    """2027年1月28日, built in SQL so that no row has to come back to Python."""

    def part(field: str) -> sa.ColumnElement[str]:
        return sa.cast(sa.cast(sa.extract(field, column), sa.Integer), sa.String)

    return part("year") + "年" + part("month") + "月" + part("day") + "日"


def _text(
    whose: sa.ColumnElement[str],
    kind_column: sa.ColumnElement[str],
    period: sa.ColumnElement[date],
) -> sa.ColumnElement[str]:
    """Each claimed rung's SMS, about `whose` permit ("您的", "您的家庭成员张小明的"). The
    period is the valid-until date the rung was about."""
    kind = sa.type_coerce(kind_column, sa.String)
    day = _cn_date(period)
    head = sa.literal("【广东省电子居住证】") + whose
    return sa.case(
        (
            kind == ReminderKind.WINDOW,
            head + "居住证已进入签注办理期，请于" + day + "前（含当日）办理签注，逾期将中止使用。"
            "可登录电子居住证网上办理。",
        ),
        (
            kind == ReminderKind.EXPIRING,
            head + "居住证签注有效期将于" + day + "届满，目前尚未签注。请在届满前办理签注，"
            "逾期将中止使用。可登录电子居住证网上办理。",
        ),
        else_=head
        + "居住证已超过签注有效期（"
        + day
        + "），使用功能已中止。补办签注后即可恢复使用，"
        "居住年限自补办签注之日起重新连续计算。",
    )


def send_due(session: Session, *, today: date, now: datetime) -> int:
    """Queue every rung of the ladder that is due and not yet sent; return how many rungs
    (one per permit, however many phones it reaches). The caller commits, then delivers."""
    valid_until = col(Permit.valid_until)
    expiring_from = today + timedelta(days=EXPIRING_DAYS)
    kind = sa.case(
        (valid_until < today, sa.literal(ReminderKind.SUSPENDED.value)),
        (valid_until <= expiring_from, sa.literal(ReminderKind.EXPIRING.value)),
        else_=sa.literal(ReminderKind.WINDOW.value),
    )
    holder = aliased(Person)
    owner = aliased(Person)
    reachable = sa.or_(
        col(holder.phone).is_not(None),
        sa.exists().where(
            col(FamilyLink.member_id) == Permit.person_id,
            col(owner.id) == FamilyLink.person_id,
            col(owner.phone).is_not(None),
        ),
    )
    moment = sa.literal(now, sa.DateTime(timezone=True))
    # One index range covers all three rungs: suspended, expiring, window.
    earliest = today - timedelta(days=SUSPENDED_CATCH_UP_DAYS)
    latest = latest_valid_until_in_window(today)
    fresh: tuple[sa.ColumnElement[bool], ...] = (
        col(Permit.is_current) == sa.true(),
        valid_until >= earliest,
        valid_until <= latest,
        ~sa.exists().where(col(Deregistration.permit_id) == Permit.id),
        ~sa.exists().where(
            col(Reminder.permit_id) == Permit.id,
            col(Reminder.period) == valid_until,
            col(Reminder.kind) == kind,
            # Implied by the two above, but said so that a planner which compares the due
            # permits with what was sent reads only the sent of these periods.
            col(Reminder.period).between(earliest, latest),
        ),
    )
    due = (
        sa.select(
            col(Permit.id).label("permit_id"),
            valid_until.label("period"),
            kind.label("kind"),
            col(holder.id).label("holder_id"),
            col(holder.phone).label("phone"),
            col(holder.name).label("name"),
        )
        .join(holder, col(holder.id) == Permit.person_id)
        .where(*fresh, reachable)
    )
    # What this run claims is told apart by its time and by ids above any before it.
    before = session.execute(sa.select(sa.func.coalesce(sa.func.max(Reminder.id), 0))).scalar_one()
    this_run = (col(Reminder.id) > before, col(Reminder.sent_at) == moment)
    if session.get_bind().dialect.name == "postgresql":
        _claim_and_queue(session, kind, fresh, moment)
    else:
        _claim_then_queue(session, due, moment, this_run)
    # Counted, not taken from the driver's rowcount, which psycopg leaves at -1 when an
    # INSERT … SELECT … ON CONFLICT inserts nothing.
    return session.execute(
        sa.select(sa.func.count()).select_from(Reminder).where(*this_run)
    ).scalar_one()


def _messages(
    rungs: sa.FromClause, moment: sa.ColumnElement[datetime]
) -> sa.Select[Any, str, datetime]:
    """The SMS of the rungs claimed (permit_id, period, kind and the holder's holder_id,
    phone, name): to the holder's own phone, or, for a holder without one, one row per
    family member who has a phone (the family is joined only for the phoneless)."""
    owner = aliased(Person)
    r = rungs.c
    phoneless = r.phone.is_(None)
    whose = sa.case((phoneless, "您的家庭成员" + r.name + "的"), else_=sa.literal("您的"))
    return (
        sa.select(
            sa.func.coalesce(r.phone, col(owner.phone)), _text(whose, r.kind, r.period), moment
        )
        .select_from(rungs)
        .outerjoin(FamilyLink, sa.and_(col(FamilyLink.member_id) == r.holder_id, phoneless))
        .outerjoin(
            owner, sa.and_(col(owner.id) == FamilyLink.person_id, col(owner.phone).is_not(None))
        )
        .where(sa.or_(r.phone.is_not(None), col(owner.phone).is_not(None)))
    )


def _claim_and_queue(
    session: Session,
    kind: sa.ColumnElement[str],
    fresh: tuple[sa.ColumnElement[bool], ...],
    moment: sa.ColumnElement[datetime],
) -> None:
    """PostgreSQL: one statement. The rungs claimed come back from the INSERT (RETURNING)
    and meet the due permits they were made from, so the SMS need not look up each permit
    and its holder again, at random, among ten million.

    PostgreSQL cannot know how few of the permits in the windows are not yet reminded (on
    most runs, a few thousand of 900,000), so, left to itself, it hashes the whole person
    table to find their holders and the whole family table to find parents. Each look-up is
    therefore written where only a per-row index probe can serve it: the holder's phone a
    scalar subquery, the name only for the phoneless, and the family behind OFFSET 0 (which
    keeps a subquery from being merged into the join or turned into a hash)."""
    phone = sa.select(col(Person.phone)).where(col(Person.id) == Permit.person_id).scalar_subquery()
    candidates = (
        sa.select(
            col(Permit.id).label("permit_id"),
            col(Permit.valid_until).label("period"),
            kind.label("kind"),
            col(Permit.person_id).label("holder_id"),
            phone.label("phone"),
        )
        .where(*fresh)
        .offset(0)
        .subquery("candidate")
    )
    owner = aliased(Person)

    def family_phones(holder_id: sa.ColumnElement[int]) -> sa.Select[tuple[str | None]]:
        return (
            sa.select(col(owner.phone).label("phone"))
            .select_from(FamilyLink)
            .join(owner, col(owner.id) == FamilyLink.person_id)
            .where(col(FamilyLink.member_id) == holder_id, col(owner.phone).is_not(None))
            .offset(0)
        )

    due = (
        sa.select(candidates)
        .where(
            sa.or_(
                candidates.c.phone.is_not(None),
                family_phones(candidates.c.holder_id).exists(),
            )
        )
        .cte("due")
    )
    claimed = (
        postgresql.insert(Reminder)
        .from_select(
            ["permit_id", "period", "kind", "sent_at"],
            sa.select(due.c.permit_id, due.c.period, due.c.kind, moment),
        )
        .on_conflict_do_nothing()
        .returning(col(Reminder.permit_id), col(Reminder.period), col(Reminder.kind))
        .cte("claimed")
    )
    family = family_phones(due.c.holder_id).where(due.c.phone.is_(None)).lateral("family")
    name = sa.select(col(Person.name)).where(col(Person.id) == due.c.holder_id).scalar_subquery()
    whose = sa.case((due.c.phone.is_(None), "您的家庭成员" + name + "的"), else_=sa.literal("您的"))
    messages = (
        sa.select(
            sa.func.coalesce(due.c.phone, family.c.phone),
            _text(whose, claimed.c.kind, claimed.c.period),
            moment,
        )
        .select_from(claimed)
        .join(due, due.c.permit_id == claimed.c.permit_id)
        .outerjoin(family, sa.true())
        .where(sa.or_(due.c.phone.is_not(None), family.c.phone.is_not(None)))
    )
    # The outbox's other columns take their server defaults (attempts 0, nothing else set).
    session.execute(
        sa.insert(SmsOutbox)
        .from_select(["to", "text", "created_at"], messages, include_defaults=False)
        .add_cte(due, claimed)
    )


def _claim_then_queue(
    session: Session,
    due: sa.Select[Any],
    moment: sa.ColumnElement[datetime],
    this_run: tuple[sa.ColumnElement[bool], ...],
) -> None:
    """SQLite, which has no INSERT in a WITH: claim, then queue the SMS of this run's rungs
    (ids above any before), walking from them: the permit and its holder are read once
    each, and no index on phone can lead, so the register's phoneless are never enumerated
    (a planner that believes `phone IS NULL` finds one row of a unique index would)."""
    # The due permits' own SELECT (not a subquery of it): its WHERE keeps SQLite from reading
    # ON CONFLICT as a join's ON.
    permit_id, period, kind = (
        due.selected_columns[name] for name in ("permit_id", "period", "kind")
    )
    session.execute(
        sqlite.insert(Reminder)
        .from_select(
            ["permit_id", "period", "kind", "sent_at"],
            due.with_only_columns(permit_id, period, kind, moment),
        )
        .on_conflict_do_nothing()
    )
    holder = aliased(Person)
    this_runs = (
        sa.select(
            col(Reminder.permit_id),
            col(Reminder.period),
            col(Reminder.kind),
            col(holder.id).label("holder_id"),
            col(holder.phone).label("phone"),
            col(holder.name).label("name"),
        )
        .join(Permit, col(Permit.id) == Reminder.permit_id)
        .join(holder, col(holder.id) == Permit.person_id)
        .where(*this_run)
        .subquery("this_run")
    )
    session.execute(
        sa.insert(SmsOutbox).from_select(
            ["to", "text", "created_at"],
            _messages(this_runs, moment),
            include_defaults=False,
        )
    )
