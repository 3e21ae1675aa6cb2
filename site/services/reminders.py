"""Endorsement reminders (SPEC 2.13): one SMS per permit per period, when its window opens.

Set-based, so it stays quick with a million permits and is safe to run every hour: one
INSERT … SELECT claims the (permit, period) pairs whose window is open and that were not
reminded yet (the unique key on `reminder` settles any race between two runs), and one
INSERT … SELECT queues the SMS for exactly the rows this run claimed, in the same transaction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from epermit import rules
from epermit.models import Deregistration, Permit, Person, Reminder, SmsOutbox
from epermit.vocabulary import ReminderKind

# Bound parameters per statement stay far below SQLite's and PostgreSQL's limits.
CHUNK = 500


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


def send_due(session: Session, *, today: date, now: datetime) -> int:
    """Queue a reminder for every permit whose window is open and that has none for its
    current period; return how many. The caller commits, then delivers the outbox."""
    candidates = (
        sa.select(
            col(Permit.id),
            col(Permit.valid_until),
            sa.literal(ReminderKind.WINDOW.value),
            sa.literal(now, sa.DateTime(timezone=True)),
        )
        .join(Person, col(Person.id) == Permit.person_id)
        .where(
            col(Permit.is_current),
            col(Permit.valid_until) >= today,
            col(Permit.valid_until) <= latest_valid_until_in_window(today),
            col(Person.phone).is_not(None),
            ~sa.exists().where(col(Deregistration.permit_id) == Permit.id),
            ~sa.exists().where(
                col(Reminder.permit_id) == Permit.id,
                col(Reminder.period) == Permit.valid_until,
                col(Reminder.kind) == ReminderKind.WINDOW,
            ),
        )
    )
    columns = ["permit_id", "period", "kind", "sent_at"]
    # ON CONFLICT DO NOTHING: a run that loses a race to another skips the pair quietly.
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    claim = (
        insert(Reminder)
        .from_select(columns, candidates)
        .on_conflict_do_nothing()
        .returning(col(Reminder.id))
    )
    claimed = [row[0] for row in session.execute(claim)]
    text = (
        sa.literal("【广东省电子居住证】您的居住证已进入签注办理期,请于")
        + _cn_date(col(Permit.valid_until))
        + "前(含当日)办理签注,逾期将中止使用。可登录电子居住证网上办理。"
    )
    for start in range(0, len(claimed), CHUNK):
        messages = (
            sa.select(col(Person.phone), text, sa.literal(now, sa.DateTime(timezone=True)))
            .select_from(Reminder)
            .join(Permit, col(Permit.id) == Reminder.permit_id)
            .join(Person, col(Person.id) == Permit.person_id)
            .where(col(Reminder.id).in_(claimed[start : start + CHUNK]))
        )
        session.execute(sa.insert(SmsOutbox).from_select(["to", "text", "created_at"], messages))
    return len(claimed)
