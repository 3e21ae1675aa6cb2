"""Staff accounts and sign-in (SPEC 12.1): staff number and password (argon2id), then a TOTP
code; 5 failures lock the account for 15 minutes.

An unknown staff number and a wrong password get the same refusal, and cost the same time
(a dummy hash is checked), so the sign-in page cannot be used to learn who is on the staff.
Failures are counted with one UPDATE, so parallel guesses cannot slip past the limit.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from functools import cache

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from epermit.models import Staff
from epermit.services import audit
from epermit.sql import rowcount, saved_id
from epermit.vocabulary import DISTRICTS, StaffRole

MAX_FAILURES = 5
LOCK_MINUTES = 15
TOTP_STEP_SECONDS = 30
# One step either side: a phone's clock a little off still signs in (SPEC 12.1).
TOTP_DRIFT_STEPS = 1

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


class StaffSignInRefused(Exception):
    """Base of every reason a staff sign-in step is refused."""


class WrongCredentials(StaffSignInRefused):
    """Unknown staff number or wrong password: one answer for both."""


class WrongTotp(StaffSignInRefused):
    """The TOTP code is not the current one (or was used already)."""


class AccountLocked(StaffSignInRefused):
    """Too many failures; `until` says when it opens again."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until


class AccountDisabled(StaffSignInRefused):
    """The account was switched off; only an administrator can switch it on."""


class InvalidStaffDetails(ValueError):
    """create-staff was given a number, role or district that cannot be."""


def create_staff(
    session: Session,
    *,
    number: str,
    name: str,
    role: str,
    district: str | None,
    now: datetime,
    password: str | None = None,
    totp_secret: str | None = None,
) -> tuple[Staff, str, str]:
    """A new account, with its password and TOTP secret (generated unless given, as the
    demo's are); returns (staff, password, secret). The caller commits."""
    if not (number.isascii() and number.isdigit() and 6 <= len(number) <= 12):
        raise InvalidStaffDetails("staff number: 6 to 12 digits")
    role = StaffRole(role).value
    if role == StaffRole.OFFICER and district not in DISTRICTS:
        raise InvalidStaffDetails(f"an officer needs one of the districts {', '.join(DISTRICTS)}")
    if role == StaffRole.SUPERVISOR:
        district = None
    password = password or secrets.token_urlsafe(12)
    totp_secret = totp_secret or pyotp.random_base32()
    staff = Staff(
        number=number,
        name=name,
        role=role,
        district=district,
        password_hash=_hasher.hash(password),
        totp_secret=totp_secret,
        created_at=now,
    )
    session.add(staff)
    session.flush()
    return staff, password, totp_secret


def _locked(staff: Staff, now: datetime) -> bool:
    return staff.locked_until is not None and staff.locked_until > now


def _fail(
    session: Session, staff: Staff, *, step: str, now: datetime, client_address: str | None
) -> None:
    """Count one failure; the fifth locks the account (and starts the count again)."""
    failures = col(Staff.failed_attempts) + 1
    session.execute(
        sa.update(Staff)
        .where(col(Staff.id) == staff.id)
        .values(
            locked_until=sa.case(
                (failures >= MAX_FAILURES, now + timedelta(minutes=LOCK_MINUTES)),
                else_=col(Staff.locked_until),
            ),
            failed_attempts=sa.case((failures >= MAX_FAILURES, 0), else_=failures),
        )
    )
    audit.record(
        session,
        action="staff_sign_in_failed",
        actor_id=None,
        subject_id=None,
        staff_id=staff.id,
        client_address=client_address,
        now=now,
        step=step,
    )
    session.flush()
    session.refresh(staff)


def check_password(
    session: Session, *, number: str, password: str, now: datetime, client_address: str | None
) -> Staff:
    """The account whose password this is, ready for its TOTP step; raises a
    StaffSignInRefused otherwise. The caller commits either way (a failure must count)."""
    staff = session.exec(select(Staff).where(Staff.number == number.strip())).first()
    if staff is None:
        # As long as a real check, so the answer's time says nothing either.
        try:
            _hasher.verify(_dummy_hash(), password)
        except VerificationError:
            pass
        raise WrongCredentials()
    if _locked(staff, now):
        assert staff.locked_until is not None
        raise AccountLocked(staff.locked_until)
    try:
        _hasher.verify(staff.password_hash, password)
    except (VerificationError, InvalidHashError):
        _fail(session, staff, step="password", now=now, client_address=client_address)
        if _locked(staff, now):
            assert staff.locked_until is not None
            raise AccountLocked(staff.locked_until) from None
        raise WrongCredentials() from None
    if staff.disabled:
        raise AccountDisabled()
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)
    return staff


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    totp = pyotp.TOTP(secret, interval=TOTP_STEP_SECONDS)
    current = int(now.timestamp()) // TOTP_STEP_SECONDS
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * TOTP_STEP_SECONDS), code):
            return step
    return None


def check_totp(
    session: Session, *, staff_id: int, code: str, now: datetime, client_address: str | None
) -> Staff:
    """Finish signing in: the code of the account's TOTP secret for now (one step of drift),
    each code accepted once. Raises a StaffSignInRefused; the caller commits either way."""
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise WrongCredentials()
    if _locked(staff, now):
        assert staff.locked_until is not None
        raise AccountLocked(staff.locked_until)
    if staff.disabled:
        raise AccountDisabled()
    step = _matching_step(staff.totp_secret, code, now)
    # Taking the step with a conditional UPDATE spends the code even against a parallel
    # request with the same code: only one of them moves last_totp_step on.
    taken = step is not None and rowcount(
        session.execute(
            sa.update(Staff)
            .where(col(Staff.id) == staff_id, col(Staff.last_totp_step) < step)
            .values(last_totp_step=step, failed_attempts=0)
        )
    )
    if not taken:
        _fail(session, staff, step="totp", now=now, client_address=client_address)
        if _locked(staff, now):
            assert staff.locked_until is not None
            raise AccountLocked(staff.locked_until)
        raise WrongTotp()
    session.refresh(staff)
    audit.record(
        session,
        action="staff_signed_in",
        actor_id=None,
        subject_id=None,
        staff_id=saved_id(staff),
        client_address=client_address,
        now=now,
    )
    return staff


def sign_out(session: Session, *, staff_id: int, now: datetime, client_address: str | None) -> None:
    """End every session of this staff member: cookies made before now stop working."""
    session.execute(
        sa.update(Staff)
        .where(col(Staff.id) == staff_id)
        .values(session_epoch=col(Staff.session_epoch) + 1)
    )
    audit.record(
        session,
        action="staff_signed_out",
        actor_id=None,
        subject_id=None,
        staff_id=staff_id,
        client_address=client_address,
        now=now,
    )
