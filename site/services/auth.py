"""Sign-in by phone and SMS code (SPEC 5).

Answers never depend on whether the number is known: a code row and an audit event are
stored for any well-formed number, and an SMS is queued only for a registered one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from epermit.models import Person, SignIn
from epermit.services import audit, codes, sms
from epermit.sql import attach, columns_of, run, saved_id, table_of
from epermit.vocabulary import DeviceKind

PURPOSE = "login"  # asked from a browser that has not signed in with this phone before
DEVICE_PURPOSE = "login_device"  # asked from one that has (a device cookie, views.auth)
PURPOSES = (PURPOSE, DEVICE_PURPOSE)

# Sign-in must stay open to a phone's owner whatever anyone else sends (issue 9). Budgets:
# - each browser asking for a phone has its own code and its own budget, so requests from
#   other browsers neither use up the owner's tries nor replace the owner's code;
BROWSER_CODES_PER_HOUR = 5
# - all browsers the phone never signed in on share a small cap of SMS, so that strangers
#   cannot flood the phone: past it no SMS goes out (the answer is the same), and such a
#   browser may instead type any live code that reached the phone;
STRANGER_CAP = codes.RecipientCap((PURPOSE,), per_hour=3, per_day=10, wrong_tries_per_day=None)
# - browsers the phone signed in on before have a higher cap of their own, untouched by the
#   strangers', so the owner's usual phone or computer always gets a fresh code;
DEVICE_CAP = codes.RecipientCap(
    (DEVICE_PURPOSE,), per_hour=10, per_day=20, wrong_tries_per_day=None
)
# - typing a code sent for another browser is allowed only while few wrong tries were made
#   against the phone's codes that day (each browser's own 5 tries count towards it).
SHARED_CODE_WRONG_TRIES_PER_DAY = 20


# Every sign-in writes one, never read back in the request: an INSERT built once on the table.
_SIGNED_IN = sa.insert(table_of(SignIn))
# Asked by every sign-in, twice: built once (see codes.issued_since).
# Of columns, made into an object by sql.attach, like the signed-in person's read.
_PERSON_BY_PHONE = sa.select(*columns_of(Person)).where(
    table_of(Person).c.phone == sa.bindparam("phone")
)


def _person_by_phone(session: Session, phone: str) -> Person | None:
    row = run(session, _PERSON_BY_PHONE, {"phone": phone}).first()
    return attach(session, Person, row) if row is not None else None


def _subject(phone: str, browser: str) -> str:
    # Each browser asking has its own code: wrong guesses typed in one (anyone's) cannot
    # use up the code the phone's owner is about to type in theirs.
    return f"{phone}#{browser}"


def request_code(
    session: Session,
    *,
    phone: str,
    browser: str,
    known_device: bool,
    now: datetime,
    ttl_seconds: int,
    secret: str,
    client_address: str | None,
) -> bool:
    """Make this browser a code for `phone` and text it when the number is registered and the
    phone is within its cap. Returns whether a code went out (False: over the cap, and the
    browser may type a code that reached the phone for another). Raises codes.TooManyCodes
    when this browser has asked too often, codes.ResendTooSoon within a minute.

    Known or unknown number, the same rows are written and the same answer given; only the
    SMS itself depends on it.
    """
    subject = _subject(phone, browser)
    if codes.issued_since(session, subject, PURPOSES, now - timedelta(hours=1)) >= (
        BROWSER_CODES_PER_HOUR
    ):
        raise codes.TooManyCodes()
    cap = DEVICE_CAP if known_device else STRANGER_CAP
    within_cap = not codes.recipient_capped(session, phone, now, cap)
    code = codes.issue(
        session,
        purpose=DEVICE_PURPOSE if known_device else PURPOSE,
        subject=subject,
        phone=phone,
        now=now,
        ttl_seconds=ttl_seconds,
        secret=secret,
        sent=within_cap,
    )
    person = _person_by_phone(session, phone)
    if person is not None and within_cap:
        minutes = max(1, ttl_seconds // 60)
        sms.queue(
            session,
            to=phone,
            text=f"【广东省电子居住证】您的登录验证码为{code}，{minutes}分钟内有效。请勿告诉他人。",
            code=code,
            now=now,
        )
    # An event for every request, naming the person only when there is one: the same write
    # either way, so the time taken does not tell registered numbers apart.
    audit.record(
        session,
        action="login_code_sent" if person is not None else "login_code_unknown_number",
        actor_id=person.id if person is not None else None,
        subject_id=person.id if person is not None else None,
        client_address=client_address,
        now=now,
        sent=within_cap,
    )
    return within_cap


def sign_out(
    session: Session, *, person_id: int, now: datetime, client_address: str | None
) -> None:
    """End every session of this person: cookies made before now stop working."""
    session.execute(
        sa.update(Person)
        .where(col(Person.id) == person_id)
        .values(session_epoch=col(Person.session_epoch) + 1)
    )
    audit.record(
        session,
        action="signed_out",
        actor_id=person_id,
        subject_id=person_id,
        client_address=client_address,
        now=now,
    )


def verify_code(
    session: Session,
    *,
    phone: str,
    browser: str,
    known_device: bool,
    code: str,
    now: datetime,
    secret: str,
    client_address: str | None,
    device: DeviceKind = DeviceKind.OTHER,
) -> Person:
    """Return the signed-in person; raise a `codes.CodeError` otherwise. The sign-in is kept
    with its coarse device for the person's own record (SPEC 11.2).

    A browser whose request sent no SMS (the phone was over its cap) may type a live code
    that reached the phone for another browser: the owner can always use a code their phone
    received. Its wrong tries count on its own code, 5 at most, and all wrong tries against
    the phone's codes that day close this way once there are SHARED_CODE_WRONG_TRIES_PER_DAY.
    """
    purpose = DEVICE_PURPOSE if known_device else PURPOSE
    subject = _subject(phone, browser)
    own = codes.latest(session, purpose, subject)
    shared = (
        own is not None
        and codes.is_unsent(own)
        and own.consumed_at is None
        and own.attempts < codes.MAX_ATTEMPTS
        and now <= own.expires_at
        and codes.wrong_tries_since(session, phone, PURPOSES, now - timedelta(days=1))
        < SHARED_CODE_WRONG_TRIES_PER_DAY
    )
    delivered = (
        codes.consume_delivered(
            session, purposes=PURPOSES, phone=phone, code=code, now=now, secret=secret
        )
        if shared
        else None
    )
    if delivered is not None:
        assert own is not None
        own.consumed_at = now
    else:
        codes.verify(
            session,
            purpose=purpose,
            subject=subject,
            code=code,
            now=now,
            secret=secret,
            latest=own,
        )
    person = _person_by_phone(session, phone)
    if person is None:
        # Unreachable in practice (no SMS went out), but never sign in a nobody.
        raise codes.CodeMissing()
    audit.record(
        session,
        action="signed_in",
        actor_id=person.id,
        subject_id=person.id,
        client_address=client_address,
        now=now,
    )
    session.execute(
        _SIGNED_IN, {"person_id": saved_id(person), "signed_in_at": now, "device": str(device)}
    )
    return person
