"""Unit tests for the pure permit rules (SPEC 2.2-2.6)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import date, timedelta

import pytest

from epermit.rules import (
    EndorsementOutcome,
    EndorsementRefused,
    PermitDeregistered,
    PermitStatus,
    WindowNotOpen,
    add_months,
    add_years,
    endorsement_window,
    permit_status,
    plan_endorsement,
    window_opens,
)

D = date.fromisoformat
ONE_DAY = timedelta(days=1)
CONTINUITY = D("2020-06-01")


# --- Calendar arithmetic (民法典 Art. 202) ---------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2025-05-15", 1, "2025-06-15"),
        ("2025-05-15", -1, "2025-04-15"),
        ("2025-01-31", 1, "2025-02-28"),
        ("2024-01-31", 1, "2024-02-29"),
        ("2025-03-31", -1, "2025-02-28"),
        ("2024-03-31", -1, "2024-02-29"),
        ("2025-05-31", 1, "2025-06-30"),
        ("2025-08-31", 1, "2025-09-30"),
        ("2025-10-31", 1, "2025-11-30"),
        ("2025-12-31", -1, "2025-11-30"),
        ("2025-07-31", -1, "2025-06-30"),
        ("2025-12-15", 1, "2026-01-15"),
        ("2026-01-15", -1, "2025-12-15"),
        ("2026-01-31", -2, "2025-11-30"),
        ("2025-03-31", -13, "2024-02-29"),
        ("2025-04-30", 1, "2025-05-30"),
        ("2024-02-29", 1, "2024-03-29"),
        ("2025-05-15", 0, "2025-05-15"),
        ("2025-05-15", 24, "2027-05-15"),
    ],
)
def test_add_months_keeps_day_number_or_falls_to_last_day_of_month(start, months, expected):
    assert add_months(D(start), months) == D(expected)


@pytest.mark.parametrize(
    ("start", "years", "expected"),
    [
        ("2024-02-29", 1, "2025-02-28"),
        ("2024-02-29", 4, "2028-02-29"),
        ("2024-02-29", -1, "2023-02-28"),
        ("2028-02-29", 1, "2029-02-28"),
        ("2023-02-28", 1, "2024-02-28"),
        ("2025-12-31", 1, "2026-12-31"),
        ("2025-06-30", 1, "2026-06-30"),
    ],
)
def test_add_years_lands_on_feb_28_when_feb_29_does_not_exist(start, years, expected):
    assert add_years(D(start), years) == D(expected)


def test_spec_example_permit_issued_on_feb_29_has_anniversary_feb_28_and_window_jan_28():
    anniversary = add_years(D("2024-02-29"), 1)
    assert anniversary == D("2025-02-28")
    assert window_opens(anniversary) == D("2025-01-28")


def test_spec_example_anniversary_mar_31_opens_window_on_feb_28():
    assert window_opens(D("2025-03-31")) == D("2025-02-28")


# --- Endorsement window (SPEC 2.3) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("valid_until", "opens"),
    [
        ("2027-02-28", "2027-01-28"),
        ("2025-03-31", "2025-02-28"),
        ("2028-03-31", "2028-02-29"),
        ("2025-05-31", "2025-04-30"),
        ("2025-07-31", "2025-06-30"),
        ("2025-10-31", "2025-09-30"),
        ("2026-01-15", "2025-12-15"),
        ("2026-01-01", "2025-12-01"),
        ("2025-06-15", "2025-05-15"),
    ],
)
def test_window_opens_one_calendar_month_before_anniversary(valid_until, opens):
    assert window_opens(D(valid_until)) == D(opens)


def test_endorsement_window_runs_from_opening_day_to_valid_until_inclusive():
    assert endorsement_window(D("2025-03-31")) == (D("2025-02-28"), D("2025-03-31"))


def test_window_opening_in_january_starts_in_december_of_previous_year():
    opens, closes = endorsement_window(D("2026-01-10"))
    assert opens == D("2025-12-10")
    assert closes == D("2026-01-10")
    assert permit_status(D("2026-01-10"), D("2025-12-31")) is PermitStatus.DUE
    assert permit_status(D("2026-01-10"), D("2025-12-09")) is PermitStatus.VALID


# --- Status (SPEC 2.2) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("valid_until", "today", "expected"),
    [
        # far from the window
        ("2025-06-15", "2025-01-01", PermitStatus.VALID),
        # the day before the window opens
        ("2025-06-15", "2025-05-14", PermitStatus.VALID),
        # the window's first day
        ("2025-06-15", "2025-05-15", PermitStatus.DUE),
        # inside the window
        ("2025-06-15", "2025-06-01", PermitStatus.DUE),
        # the window's last day is valid-until itself
        ("2025-06-15", "2025-06-15", PermitStatus.DUE),
        # the day after valid-until
        ("2025-06-15", "2025-06-16", PermitStatus.SUSPENDED),
        # long after valid-until
        ("2025-06-15", "2030-01-01", PermitStatus.SUSPENDED),
        # month-end window: Mar 31 anniversary opens Feb 28 in a common year
        ("2025-03-31", "2025-02-27", PermitStatus.VALID),
        ("2025-03-31", "2025-02-28", PermitStatus.DUE),
        # ...and Feb 29 in a leap year
        ("2028-03-31", "2028-02-28", PermitStatus.VALID),
        ("2028-03-31", "2028-02-29", PermitStatus.DUE),
        # 31st -> 30-day month
        ("2025-05-31", "2025-04-29", PermitStatus.VALID),
        ("2025-05-31", "2025-04-30", PermitStatus.DUE),
        # anniversary moved from Feb 29 to Feb 28
        ("2025-02-28", "2025-01-27", PermitStatus.VALID),
        ("2025-02-28", "2025-01-28", PermitStatus.DUE),
        ("2025-02-28", "2025-03-01", PermitStatus.SUSPENDED),
    ],
)
def test_status_follows_the_dates(valid_until, today, expected):
    assert permit_status(D(valid_until), D(today)) is expected


@pytest.mark.parametrize(
    "today",
    ["2025-01-01", "2025-05-14", "2025-05-15", "2025-06-15", "2025-06-16", "2031-01-01"],
)
def test_deregistered_beats_every_date(today):
    assert permit_status(D("2025-06-15"), D(today), deregistered=True) is PermitStatus.DEREGISTERED


def test_status_values_are_stable_strings():
    # Templates, URLs and stored audit text rely on these exact values.
    assert [s.value for s in PermitStatus] == ["valid", "due", "suspended", "deregistered"]
    assert PermitStatus.DUE == "due"


# --- On-time endorsement (SPEC 2.4) -----------------------------------------------------------


@pytest.mark.parametrize(
    "today",
    ["2025-05-15", "2025-06-01", "2025-06-15"],
    ids=["first-day-of-window", "mid-window", "last-day-of-window"],
)
def test_on_time_endorsement_extends_from_anniversary_and_keeps_continuity(today):
    outcome = plan_endorsement(D("2025-06-15"), CONTINUITY, D(today))
    assert outcome == EndorsementOutcome(
        new_valid_until=D("2026-06-15"),
        continuity_start=CONTINUITY,
        late=False,
        period=D("2025-06-15"),
    )


def test_on_time_endorsement_of_feb_28_anniversary_in_leap_year_gives_feb_28():
    # Feb 28 plus one year stays Feb 28 even when the next year is a leap year.
    outcome = plan_endorsement(D("2027-02-28"), CONTINUITY, D("2027-02-01"))
    assert outcome.new_valid_until == D("2028-02-28")


def test_on_time_endorsement_of_feb_29_anniversary_gives_feb_28():
    outcome = plan_endorsement(D("2028-02-29"), CONTINUITY, D("2028-02-10"))
    assert outcome.new_valid_until == D("2029-02-28")
    assert outcome.late is False


def test_on_time_endorsement_in_december_for_january_anniversary_crosses_year():
    outcome = plan_endorsement(D("2026-01-10"), CONTINUITY, D("2025-12-10"))
    assert outcome.new_valid_until == D("2027-01-10")
    assert outcome.continuity_start == CONTINUITY
    assert outcome.late is False


def test_on_time_endorsement_on_month_end_window_opening():
    outcome = plan_endorsement(D("2025-03-31"), CONTINUITY, D("2025-02-28"))
    assert outcome.new_valid_until == D("2026-03-31")
    assert outcome.late is False


# --- Late endorsement (SPEC 2.5) --------------------------------------------------------------


def test_late_endorsement_restarts_continuity():
    outcome = plan_endorsement(D("2025-06-15"), CONTINUITY, D("2025-06-16"))
    assert outcome == EndorsementOutcome(
        new_valid_until=D("2026-06-16"),
        continuity_start=D("2025-06-16"),
        late=True,
        period=D("2025-06-15"),
    )


def test_late_endorsement_has_no_time_limit():
    outcome = plan_endorsement(D("2020-03-01"), CONTINUITY, D("2026-11-25"))
    assert outcome.late is True
    assert outcome.new_valid_until == D("2027-11-25")
    assert outcome.continuity_start == D("2026-11-25")
    assert outcome.period == D("2020-03-01")


def test_late_endorsement_made_on_feb_29_runs_to_feb_28_next_year():
    outcome = plan_endorsement(D("2027-12-31"), CONTINUITY, D("2028-02-29"))
    assert outcome.new_valid_until == D("2029-02-28")
    assert outcome.continuity_start == D("2028-02-29")
    assert outcome.late is True


def test_late_endorsement_counts_from_today_not_from_anniversary():
    on_time = plan_endorsement(D("2025-06-15"), CONTINUITY, D("2025-06-15"))
    late = plan_endorsement(D("2025-06-15"), CONTINUITY, D("2025-06-15") + ONE_DAY)
    assert on_time.new_valid_until == D("2026-06-15")
    assert late.new_valid_until == D("2026-06-16")


# --- Refusals (SPEC 2.6) ----------------------------------------------------------------------


def test_endorsement_before_window_is_refused_with_opening_date():
    with pytest.raises(WindowNotOpen) as refused:
        plan_endorsement(D("2027-02-28"), CONTINUITY, D("2027-01-27"))
    assert refused.value.opens == D("2027-01-28")


@pytest.mark.parametrize(
    ("valid_until", "day_before_window", "opens"),
    [
        ("2025-06-15", "2025-05-14", "2025-05-15"),
        ("2025-03-31", "2025-02-27", "2025-02-28"),
        ("2028-03-31", "2028-02-28", "2028-02-29"),
        ("2025-05-31", "2025-04-29", "2025-04-30"),
        ("2026-01-10", "2025-12-09", "2025-12-10"),
    ],
)
def test_endorsement_on_day_before_window_is_refused(valid_until, day_before_window, opens):
    with pytest.raises(WindowNotOpen) as refused:
        plan_endorsement(D(valid_until), CONTINUITY, D(day_before_window))
    assert refused.value.opens == D(opens)


def test_window_not_open_is_an_endorsement_refusal():
    with pytest.raises(EndorsementRefused):
        plan_endorsement(D("2025-06-15"), CONTINUITY, D("2025-01-01"))


@pytest.mark.parametrize(
    "today",
    ["2025-01-01", "2025-05-15", "2025-06-15", "2025-06-16", "2031-01-01"],
    ids=["before-window", "window-opens", "valid-until", "day-after", "years-late"],
)
def test_deregistered_permit_cannot_be_endorsed_on_any_date(today):
    with pytest.raises(PermitDeregistered) as refused:
        plan_endorsement(D("2025-06-15"), CONTINUITY, D(today), deregistered=True)
    assert isinstance(refused.value, EndorsementRefused)


# --- Agreement between status and endorsement -------------------------------------------------


@pytest.mark.parametrize("offset", range(-40, 5))
def test_endorsement_is_allowed_exactly_when_status_is_due_or_suspended(offset):
    valid_until = D("2025-03-31")
    today = valid_until + timedelta(days=offset)
    status = permit_status(valid_until, today)
    if status is PermitStatus.VALID:
        with pytest.raises(WindowNotOpen):
            plan_endorsement(valid_until, CONTINUITY, today)
    else:
        outcome = plan_endorsement(valid_until, CONTINUITY, today)
        assert outcome.late is (status is PermitStatus.SUSPENDED)
        assert outcome.period == valid_until


def test_endorsement_outcome_is_immutable():
    outcome = plan_endorsement(D("2025-06-15"), CONTINUITY, D("2025-06-01"))
    with pytest.raises(FrozenInstanceError):
        outcome.new_valid_until = D("2099-01-01")
