"""One-time SMS codes for sign-in and consent: stored hashed, short-lived, few tries (SPEC 5)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from epermit.models import OneTimeCode
from epermit.sql import rowcount

MAX_ATTEMPTS = 5
RESEND_AFTER = timedelta(seconds=60)


class CodeError(Exception):
    pass


class ResendTooSoon(CodeError):
    def __init__(self, wait_seconds: int) -> None:
        super().__init__(wait_seconds)
        self.wait_seconds = wait_seconds


class CodeMissing(CodeError):
    pass


class CodeExpired(CodeError):
    pass


class CodeLocked(CodeError):
    """Too many wrong tries: the code is dead and a new one must be requested."""


class TooManyCodes(CodeError):
    """The recipient was sent, or had guessed against, too many codes of this kind lately."""


@dataclass(frozen=True)
class RecipientCap:
    """Limits per receiving phone, across every draft and request that can text it: one
    person's phone must not be flooded, nor their codes guessed at draft after draft."""

    purposes: tuple[str, ...]
    per_hour: int
    per_day: int
    wrong_tries_per_day: int


# Consent codes: someone else asks, so the phone's owner did nothing to cause them.
CONSENT_CAP = RecipientCap(("consent", "family"), per_hour=3, per_day=10, wrong_tries_per_day=20)


def recipient_capped(session: Session, phone: str, now: datetime, cap: RecipientCap) -> bool:
    """Whether no further code of these purposes may go to `phone` now."""
    day_ago, hour_ago = now - timedelta(days=1), now - timedelta(hours=1)
    sent_today, sent_this_hour, wrong_tries = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count().filter(col(OneTimeCode.created_at) > hour_ago),
            sa.func.coalesce(sa.func.sum(OneTimeCode.attempts), 0),
        ).where(
            col(OneTimeCode.phone) == phone,
            col(OneTimeCode.purpose).in_(cap.purposes),
            col(OneTimeCode.created_at) > day_ago,
        )
    ).one()
    return (
        sent_this_hour >= cap.per_hour
        or sent_today >= cap.per_day
        or wrong_tries >= cap.wrong_tries_per_day
    )


class CodeWrong(CodeError):
    def __init__(self, remaining: int) -> None:
        super().__init__(remaining)
        self.remaining = remaining


def _digest(secret: str, purpose: str, subject: str, code: str) -> str:
    message = f"{purpose}:{subject}:{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def purge_old(session: Session, created_before: datetime) -> int:
    """Delete codes long dead: nothing reads a code a day after it expired."""
    result = session.execute(
        sa.delete(OneTimeCode).where(col(OneTimeCode.created_at) < created_before)
    )
    return rowcount(result)


# Every sign-in asks this twice (sending the code, then checking it): built once.
_LATEST = (
    select(OneTimeCode)
    .where(
        col(OneTimeCode.purpose) == sa.bindparam("purpose"),
        col(OneTimeCode.subject) == sa.bindparam("subject"),
    )
    .order_by(col(OneTimeCode.id).desc())
    .limit(1)
)


def _latest(session: Session, purpose: str, subject: str) -> OneTimeCode | None:
    return session.exec(_LATEST, params={"purpose": purpose, "subject": subject}).first()


def issue(
    session: Session,
    *,
    purpose: str,
    subject: str,
    phone: str,
    now: datetime,
    ttl_seconds: int,
    secret: str,
    cap: RecipientCap | None = None,
) -> str:
    """Create a code and return it in clear, for the SMS only."""
    latest = _latest(session, purpose, subject)
    # The wait keeps a phone from being flooded; a code that was just used (signed in, then
    # out again) is no reason to make its owner wait for the next one.
    used = latest is not None and latest.consumed_at is not None and latest.attempts < MAX_ATTEMPTS
    if latest is not None and not used and now - latest.created_at < RESEND_AFTER:
        wait = RESEND_AFTER - (now - latest.created_at)
        raise ResendTooSoon(max(1, int(wait.total_seconds())))
    if cap is not None and recipient_capped(session, phone, now, cap):
        raise TooManyCodes()
    # Older codes for the same purpose stop working once a new one is sent (there are none
    # to stop when none was ever sent: each browser signing in has a subject of its own).
    if latest is not None:
        session.execute(
            sa.update(OneTimeCode)
            .where(
                col(OneTimeCode.purpose) == purpose,
                col(OneTimeCode.subject) == subject,
                col(OneTimeCode.consumed_at).is_(None),
            )
            .values(consumed_at=now)
        )
    code = f"{secrets.randbelow(1_000_000):06d}"
    session.add(
        OneTimeCode(
            purpose=purpose,
            subject=subject,
            phone=phone,
            code_hash=_digest(secret, purpose, subject, code),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    return code


# Every sign-in consumes its code: built once, on the table (see wizard.save_answers).
_CODES = sa.inspect(OneTimeCode).local_table
assert isinstance(_CODES, sa.Table)
_CONSUME = (
    sa.update(_CODES)
    .where(_CODES.c.id == sa.bindparam("code_id"), _CODES.c.consumed_at.is_(None))
    .values(consumed_at=sa.bindparam("now"))
)


def verify(
    session: Session, *, purpose: str, subject: str, code: str, now: datetime, secret: str
) -> OneTimeCode:
    """Consume the current code if `code` matches it; count a wrong try otherwise.

    The caller commits in every case, so that wrong tries are counted even when it
    reports an error.
    """
    current = _latest(session, purpose, subject)
    if current is None or (current.consumed_at is not None and current.attempts < MAX_ATTEMPTS):
        raise CodeMissing()
    if current.attempts >= MAX_ATTEMPTS:
        raise CodeLocked()
    if now > current.expires_at:
        raise CodeExpired()
    expected = current.code_hash
    if not hmac.compare_digest(expected, _digest(secret, purpose, subject, code)):
        # A conditional update, so concurrent guesses cannot share one try.
        session.execute(
            sa.update(OneTimeCode)
            .where(col(OneTimeCode.id) == current.id)
            .values(attempts=col(OneTimeCode.attempts) + 1)
        )
        session.refresh(current)
        remaining = MAX_ATTEMPTS - current.attempts
        if remaining <= 0:
            current.consumed_at = now
            raise CodeLocked()
        raise CodeWrong(remaining)
    consumed = session.execute(_CONSUME, {"code_id": current.id, "now": now})
    if rowcount(consumed) != 1:
        raise CodeMissing()
    set_committed_value(current, "consumed_at", now)
    return current
