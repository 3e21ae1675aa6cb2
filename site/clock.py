"""The clock, read only by interface layers (views, CLI commands); rules and services take
`today`/`now` as parameters so that tests can move time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    """Aware UTC, as the database stores it."""
    override = current_app.config.get("CLOCK")
    moment = override() if override else datetime.now(UTC)
    return moment.astimezone(UTC)


def today() -> date:
    """The date in Guangzhou, which the permit rules count in (SPEC 2)."""
    return now().astimezone(SHANGHAI).date()


def local(moment: datetime) -> datetime:
    return moment.astimezone(SHANGHAI)


def epoch() -> float:
    """Seconds since the epoch, for timestamps kept in the session cookie."""
    return now().timestamp()
