"""Sign-in by phone and SMS code (SPEC 5).

Answers never depend on whether the number is known: a code row is stored for any well-formed
number, and an SMS is queued only for a registered one.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from epermit.models import Person, SignIn
from epermit.services import audit, codes, sms
from epermit.sql import saved_id
from epermit.vocabulary import DeviceKind

PURPOSE = "login"


def _subject(phone: str, browser: str) -> str:
    # Each browser asking has its own code: wrong guesses typed in one (anyone's) cannot
    # use up the code the phone's owner is about to type in theirs.
    return f"{phone}#{browser}"


def request_code(
    session: Session,
    *,
    phone: str,
    browser: str,
    now: datetime,
    ttl_seconds: int,
    secret: str,
    client_address: str | None,
) -> None:
    code = codes.issue(
        session,
        purpose=PURPOSE,
        subject=_subject(phone, browser),
        phone=phone,
        now=now,
        ttl_seconds=ttl_seconds,
        secret=secret,
    )
    person = session.exec(select(Person).where(Person.phone == phone)).first()
    if person is not None:
        minutes = max(1, ttl_seconds // 60)
        sms.queue(
            session,
            to=phone,
            text=f"【广东省电子居住证】您的登录验证码为{code},{minutes}分钟内有效。请勿告诉他人。",
            code=code,
            now=now,
        )
        audit.record(
            session,
            action="login_code_sent",
            actor_id=person.id,
            subject_id=person.id,
            client_address=client_address,
            now=now,
        )


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
    code: str,
    now: datetime,
    secret: str,
    client_address: str | None,
    device: DeviceKind = DeviceKind.OTHER,
) -> Person:
    """Return the signed-in person; raise a `codes.CodeError` otherwise. The sign-in is kept
    with its coarse device for the person's own record (SPEC 11.2)."""
    codes.verify(
        session,
        purpose=PURPOSE,
        subject=_subject(phone, browser),
        code=code,
        now=now,
        secret=secret,
    )
    person = session.exec(select(Person).where(Person.phone == phone)).first()
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
    session.add(SignIn(person_id=saved_id(person), signed_in_at=now, device=device))
    return person
