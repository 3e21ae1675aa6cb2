"""Pure date and status rules for residence permits (SPEC 2.2-2.6).

Nothing here reads the clock, the database or the request: callers pass `today` (the date in
Asia/Shanghai, SPEC 2), so every rule can be tested against any calendar edge. Refusals are
typed exceptions; the view layer turns them into Chinese messages.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import chinese_calendar  # type: ignore[import-untyped]  # ships no type hints

__all__ = [
    "EndorsementOutcome",
    "EndorsementRefused",
    "PermitDeregistered",
    "PermitStatus",
    "WindowNotOpen",
    "add_months",
    "add_years",
    "endorsement_window",
    "is_working_day",
    "move_report_deadline",
    "move_reported_late",
    "permit_status",
    "plan_endorsement",
    "window_opens",
]


class PermitStatus(StrEnum):
    # Derived at read time from dates, never stored, so it can never go stale (SPEC 2.2).
    VALID = "valid"
    DUE = "due"
    SUSPENDED = "suspended"
    DEREGISTERED = "deregistered"


def add_months(d: date, months: int) -> date:
    """Shift `d` by whole calendar months, per 民法典 Art. 202.

    The result keeps the day number, or falls on the month's last day where that day does not
    exist (2025-03-31 minus one month is 2025-02-28). `months` may be negative.
    """
    # Work in a zero-based month count so negative shifts cross year boundaries correctly.
    index = d.year * 12 + (d.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(d.day, last_day))


def add_years(d: date, years: int) -> date:
    """Shift `d` by whole years with the same rule as `add_months` (Feb 29 -> Feb 28)."""
    return add_months(d, 12 * years)


def window_opens(valid_until: date) -> date:
    """First day on which the permit may be endorsed: one calendar month before valid-until."""
    return add_months(valid_until, -1)


def endorsement_window(valid_until: date) -> tuple[date, date]:
    """The endorsement window as (opens, closes), both days inclusive (SPEC 2.3).

    It closes on valid-until itself: the law's "within the month before each full year"
    includes the anniversary day.
    """
    return window_opens(valid_until), valid_until


def permit_status(valid_until: date, today: date, deregistered: bool = False) -> PermitStatus:
    """The permit's status on `today` (SPEC 2.2)."""
    # Deregistration ends use for good, so it outranks anything the dates would say.
    if deregistered:
        return PermitStatus.DEREGISTERED
    if today > valid_until:
        return PermitStatus.SUSPENDED
    opens, closes = endorsement_window(valid_until)
    if opens <= today <= closes:
        return PermitStatus.DUE
    return PermitStatus.VALID


@dataclass(frozen=True)
class EndorsementOutcome:
    """What an endorsement made on a given day would change.

    `period` is the valid-until date being endorsed. It is the key for "one endorsement per
    period" (SPEC 2.7): two submissions against the same old valid-until are the same
    endorsement, however late or concurrent.
    """

    new_valid_until: date
    continuity_start: date
    late: bool
    period: date


class EndorsementRefused(Exception):
    """Base of every reason an endorsement cannot be made; views map each to a message."""


class WindowNotOpen(EndorsementRefused):
    """Too early: the refusal must tell the holder when they may come back (SPEC 2.6)."""

    def __init__(self, opens: date) -> None:
        super().__init__(f"endorsement window opens on {opens.isoformat()}")
        self.opens = opens


class PermitDeregistered(EndorsementRefused):
    """A deregistered permit is revived only by a new application, never by endorsement."""

    def __init__(self) -> None:
        super().__init__("permit is deregistered")


def plan_endorsement(
    valid_until: date,
    continuity_start: date,
    today: date,
    deregistered: bool = False,
) -> EndorsementOutcome:
    """Decide the result of endorsing on `today`, or raise why it is refused (SPEC 2.4-2.6)."""
    if deregistered:
        raise PermitDeregistered()
    if today > valid_until:
        # Late (补办签注): there is no deadline, but the gap breaks residence continuity, so
        # both the new year and the continuity count start from the day it is made good.
        return EndorsementOutcome(
            new_valid_until=add_years(today, 1),
            continuity_start=today,
            late=True,
            period=valid_until,
        )
    opens = window_opens(valid_until)
    if today < opens:
        raise WindowNotOpen(opens)
    # On time: extend from the anniversary, not from today, so endorsing early in the window
    # costs the holder no days.
    return EndorsementOutcome(
        new_valid_until=add_years(valid_until, 1),
        continuity_start=continuity_start,
        late=False,
        period=valid_until,
    )


# How people write a date, by hand or as Excel and WPS save one in China: 2026-11-25,
# 2026/11/5, 2026.11.5, 2026年11月5日 or 20261125 (year, month, day in that order).
_WRITTEN_DATE = re.compile(
    r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?|(\d{4})(\d{2})(\d{2})", re.ASCII
)


class DateUnreadable(ValueError):
    """Not written as year, month, day."""


class DateNotReal(ValueError):
    """Written as a date that does not exist (2026-02-30)."""


def date_from_text(raw: str) -> date:
    """The date a person wrote; full-width digits and spaces from input methods are folded.
    Raises DateUnreadable or DateNotReal."""
    text = "".join(unicodedata.normalize("NFKC", raw).split())
    match = _WRITTEN_DATE.fullmatch(text)
    if not match:
        raise DateUnreadable(raw)
    parts = [int(p) for p in match.groups() if p is not None]
    try:
        return date(*parts)
    except ValueError as error:
        raise DateNotReal(raw) from error


# --- Change of address (SPEC 2.14) ----------------------------------------------------------

# A move is reported within 3 working days (广东省流动人口服务管理条例 Art. 10 ¶2).
MOVE_REPORT_WORKING_DAYS = 3


# The years chinese-calendar has the State Council's notices for; it refuses any other.
_CALENDAR_YEARS = range(
    min(chinese_calendar.constants.holidays).year,
    max(chinese_calendar.constants.holidays).year + 1,
)


def is_working_day(day: date) -> bool:
    """China's official calendar: public holidays are off and adjusted weekends (调休) are
    worked. For a year the calendar does not know yet, Monday to Friday."""
    if day.year not in _CALENDAR_YEARS:
        return day.weekday() < 5
    return bool(chinese_calendar.is_workday(day))


def move_report_deadline(moved_on: date) -> date:
    """The last day a move on `moved_on` may be reported on time: the 3rd working day after."""
    day, counted = moved_on, 0
    while counted < MOVE_REPORT_WORKING_DAYS:
        day += timedelta(days=1)
        counted += is_working_day(day)
    return day


def move_reported_late(moved_on: date, today: date) -> bool:
    """Reported after the deadline: accepted, with a notice of the duty (never refused)."""
    return today > move_report_deadline(moved_on)


# An objection to a deregistration someone else declared (SPEC 11.1): within 30 days of the
# declaration, counted in days in Guangzhou; the last day is the declaration's date plus 30.
OBJECTION_DAYS = 30
_GUANGZHOU = ZoneInfo("Asia/Shanghai")


def objection_deadline(declared_at: datetime) -> date:
    """The last day (in Guangzhou) an objection to a deregistration declared at the aware
    moment `declared_at` is taken."""
    return declared_at.astimezone(_GUANGZHOU).date() + timedelta(days=OBJECTION_DAYS)
