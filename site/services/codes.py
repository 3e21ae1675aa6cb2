"""One-time SMS codes for sign-in and consent: stored hashed, short-lived, few tries (SPEC 5)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from epermit.models import OneTimeCode
from epermit.sql import attach, columns_of, insert, rowcount, run, table_of

MAX_ATTEMPTS = 5
RESEND_AFTER = timedelta(seconds=60)
# The hash of a code that was made but not sent (its phone was over its cap): no digest ever
# equals it, so the row only counts the wrong tries typed while waiting for a code.
UNSENT = "unsent"


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
    # None: wrong tries do not stop new codes (sign-in, where a stranger's guesses must not
    # lock the owner out; each browser's own code absorbs its guesses).
    wrong_tries_per_day: int | None


# Consent codes: someone else asks, so the phone's owner did nothing to cause them.
CONSENT_CAP = RecipientCap(("consent", "family"), per_hour=3, per_day=10, wrong_tries_per_day=20)


# Every sign-in request asks how many codes this browser and this phone were sent: built
# once, so that SQLAlchemy neither builds nor keys them again (a sign-in's largest cost after
# its writes).
_SENT = col(OneTimeCode.code_hash) != UNSENT  # rows no SMS carried are not sent codes
_PURPOSES: sa.BindParameter[Any] = sa.bindparam("purposes", expanding=True)
_RECIPIENT_COUNTS = sa.select(
    sa.func.count().filter(_SENT),
    sa.func.count().filter(_SENT, col(OneTimeCode.created_at) > sa.bindparam("hour_ago")),
    sa.func.coalesce(sa.func.sum(OneTimeCode.attempts), 0),
).where(
    col(OneTimeCode.phone) == sa.bindparam("phone"),
    col(OneTimeCode.purpose).in_(_PURPOSES),
    col(OneTimeCode.created_at) > sa.bindparam("day_ago"),
)
_WRONG_TRIES = sa.select(sa.func.coalesce(sa.func.sum(OneTimeCode.attempts), 0)).where(
    col(OneTimeCode.phone) == sa.bindparam("phone"),
    col(OneTimeCode.purpose).in_(_PURPOSES),
    col(OneTimeCode.created_at) > sa.bindparam("since"),
)
_ISSUED = sa.select(sa.func.count()).where(
    col(OneTimeCode.subject) == sa.bindparam("subject"),
    col(OneTimeCode.purpose).in_(_PURPOSES),
    col(OneTimeCode.created_at) > sa.bindparam("since"),
)


def recipient_capped(session: Session, phone: str, now: datetime, cap: RecipientCap) -> bool:
    """Whether no further code of these purposes may go to `phone` now."""
    sent_today, sent_this_hour, wrong_tries = session.execute(
        _RECIPIENT_COUNTS,
        {
            "phone": phone,
            "purposes": list(cap.purposes),
            "hour_ago": now - timedelta(hours=1),
            "day_ago": now - timedelta(days=1),
        },
    ).one()
    return (
        sent_this_hour >= cap.per_hour
        or sent_today >= cap.per_day
        or (cap.wrong_tries_per_day is not None and wrong_tries >= cap.wrong_tries_per_day)
    )


def wrong_tries_since(
    session: Session, phone: str, purposes: tuple[str, ...], since: datetime
) -> int:
    """Wrong tries made against codes of these purposes for `phone` since then, by anyone."""
    params = {"phone": phone, "purposes": list(purposes), "since": since}
    return session.execute(_WRONG_TRIES, params).scalar_one()


def issued_since(session: Session, subject: str, purposes: tuple[str, ...], since: datetime) -> int:
    """How many codes of these purposes were made for `subject` since then."""
    params = {"subject": subject, "purposes": list(purposes), "since": since}
    return session.execute(_ISSUED, params).scalar_one()


def is_unsent(code: OneTimeCode) -> bool:
    return code.code_hash == UNSENT


def latest(session: Session, purpose: str, subject: str) -> OneTimeCode | None:
    """The code most recently made for this purpose and subject."""
    return _latest(session, purpose, subject)


def consume_delivered(
    session: Session,
    *,
    purposes: tuple[str, ...],
    phone: str,
    code: str,
    now: datetime,
    secret: str,
) -> OneTimeCode | None:
    """Consume a live code that was sent to `phone` for any subject of these purposes if
    `code` is it; None (and nothing changed) if no live code matches."""
    live = session.exec(
        select(OneTimeCode).where(
            col(OneTimeCode.phone) == phone,
            col(OneTimeCode.purpose).in_(purposes),
            col(OneTimeCode.consumed_at).is_(None),
            col(OneTimeCode.expires_at) >= now,
            col(OneTimeCode.attempts) < MAX_ATTEMPTS,
            col(OneTimeCode.code_hash) != UNSENT,
        )
    ).all()
    for row in live:
        if hmac.compare_digest(row.code_hash, _digest(secret, row.purpose, row.subject, code)):
            consumed = session.execute(
                sa.update(OneTimeCode)
                .where(col(OneTimeCode.id) == row.id, col(OneTimeCode.consumed_at).is_(None))
                .values(consumed_at=now)
            )
            return row if rowcount(consumed) == 1 else None
    return None


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


# Every sign-in asks this twice (sending the code, then checking it): built once, of
# columns, made into an object by sql.attach (like the signed-in person's read).
_CODES = table_of(OneTimeCode)
_LATEST = (
    sa.select(*columns_of(OneTimeCode))
    .where(
        _CODES.c.purpose == sa.bindparam("purpose"),
        _CODES.c.subject == sa.bindparam("subject"),
    )
    .order_by(_CODES.c.id.desc())
    .limit(1)
)


def _latest(session: Session, purpose: str, subject: str) -> OneTimeCode | None:
    row = run(session, _LATEST, {"purpose": purpose, "subject": subject}).first()
    return attach(session, OneTimeCode, row) if row is not None else None


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
    sent: bool = True,
) -> str:
    """Create a code and return it in clear, for the SMS only; `sent=False` makes the row
    of a code that no SMS carries (UNSENT), which nobody can enter."""
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
    insert(
        session,
        OneTimeCode(
            purpose=purpose,
            subject=subject,
            phone=phone,
            code_hash=_digest(secret, purpose, subject, code) if sent else UNSENT,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        ),
    )
    return code


# Every sign-in consumes its code: built once, on the table (see wizard.save_answers).
_CONSUME = (
    sa.update(_CODES)
    .where(_CODES.c.id == sa.bindparam("code_id"), _CODES.c.consumed_at.is_(None))
    .values(consumed_at=sa.bindparam("now"))
)


_UNREAD = object()


def verify(
    session: Session,
    *,
    purpose: str,
    subject: str,
    code: str,
    now: datetime,
    secret: str,
    latest: OneTimeCode | None | object = _UNREAD,
) -> OneTimeCode:
    """Consume the current code if `code` matches it; count a wrong try otherwise.
    `latest`: what `latest(session, purpose, subject)` returned in this transaction, when
    the caller asked already (sign-in does), so as not to ask again.

    The caller commits in every case, so that wrong tries are counted even when it
    reports an error.
    """
    current = _latest(session, purpose, subject) if latest is _UNREAD else latest
    assert current is None or isinstance(current, OneTimeCode)
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
    consumed = run(session, _CONSUME, {"code_id": current.id, "now": now})
    if rowcount(consumed) != 1:
        raise CodeMissing()
    set_committed_value(current, "consumed_at", now)
    return current
