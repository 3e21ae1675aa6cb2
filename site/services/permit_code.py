"""亮码 and its verification (SPEC 2.11, 2.12): a signed token naming a permit and the time
the code was made, drawn as a QR code, and read back by anyone who scans it.

The token carries no personal data, only the permit's row id and a timestamp, signed with the
application's secret. The expiry is checked against the `now` the caller passes, not against
the system clock, so that tests can move time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import zxingcpp
from itsdangerous import BadData, URLSafeSerializer
from sqlmodel import Session, select

from epermit import identity, rules
from epermit.models import Deregistration, Permit, Person
from epermit.services import permits
from epermit.sql import ID_MAX

SALT = "epermit.permit-code"
# A phone's clock may run a little ahead of the server that checks it.
CLOCK_SKEW = timedelta(seconds=60)
# Seconds since the epoch of the year 9999: a later stamp is no moment datetime can hold.
MAX_STAMP = 253_402_300_799


class CodeRefused(Exception):
    """A permit code cannot be made or checked."""


class NoCodeForStatus(CodeRefused):
    """Only valid and due permits get a code; suspended or deregistered ones do not."""

    def __init__(self, status: rules.PermitStatus | None) -> None:
        super().__init__(status)
        self.status = status


class TokenInvalid(CodeRefused):
    """Tampered, signed with another key, or naming no permit we know."""


class TokenExpired(CodeRefused):
    """Made longer ago than the configured lifetime: the holder must show a fresh code."""


@dataclass(frozen=True)
class PermitCode:
    token: str
    made_at: datetime


@dataclass(frozen=True)
class Verification:
    """What a verifier may see: nothing that identifies the holder beyond a masked name."""

    masked_name: str
    status: rules.PermitStatus
    valid_until: date
    issuing_authority: str
    made_at: datetime
    checked_at: datetime


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT)


def make_token(permit_id: int, now: datetime, secret: str) -> str:
    return _serializer(secret).dumps([permit_id, int(now.timestamp())])


def read_token(token: str, now: datetime, secret: str, ttl_seconds: int) -> tuple[int, datetime]:
    """(permit id, time made) of a genuine, unexpired token; raise why not otherwise."""
    try:
        payload = _serializer(secret).loads(token)
    except BadData:
        raise TokenInvalid() from None
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not all(isinstance(part, int) and not isinstance(part, bool) for part in payload)
    ):
        raise TokenInvalid()
    permit_id, stamp = payload
    # Signed by us, but the numbers are only ever a row id and a recent moment: any other
    # (a key leaked or reused elsewhere) names no permit rather than crashing the lookup.
    if not 1 <= permit_id <= ID_MAX or not 0 <= stamp <= MAX_STAMP:
        raise TokenInvalid()
    made_at = datetime.fromtimestamp(stamp, UTC)
    if made_at > now + CLOCK_SKEW:
        raise TokenInvalid()
    if now - made_at > timedelta(seconds=ttl_seconds):
        raise TokenExpired()
    return permit_id, made_at


def make_code(card: permits.PermitCard, now: datetime, secret: str) -> PermitCode:
    """A fresh code for the permit on this card; the card comes from `permits.card_for`,
    which has checked that the viewer is the holder or a family member (切换)."""
    if card.permit is None or not card.can_show_code:
        raise NoCodeForStatus(card.status)
    made_at = now.replace(microsecond=0)
    return PermitCode(make_token(card.permit.id, made_at, secret), made_at)  # type: ignore[arg-type]


def verify(
    session: Session,
    *,
    token: str,
    today: date,
    now: datetime,
    secret: str,
    ttl_seconds: int,
) -> Verification:
    """The permit's status as of now, not as of when the code was made: a code made before a
    deregistration reads 已注销 when checked after it."""
    permit_id, made_at = read_token(token, now, secret, ttl_seconds)
    permit = session.get(Permit, permit_id)
    holder = session.get(Person, permit.person_id) if permit is not None else None
    if permit is None or holder is None:
        raise TokenInvalid()
    deregistered = (
        session.exec(select(Deregistration.id).where(Deregistration.permit_id == permit.id)).first()
        is not None
    )
    return Verification(
        masked_name=identity.mask_name(holder.name),
        status=rules.permit_status(permit.valid_until, today, deregistered=deregistered),
        valid_until=permit.valid_until,
        issuing_authority=permit.issuing_authority,
        made_at=made_at,
        checked_at=now,
    )


QUIET_ZONE = 4  # modules of light margin on each side, as ISO/IEC 18004 asks of QR codes
_DARK_RUNS = re.compile(rb"\x00+")  # zxing-cpp's image: 0 is a dark module, 255 a light one


def qr_svg(data: str) -> str:
    """The QR code as a small inline <svg> (no XML declaration, no fixed size: CSS scales it).

    Error correction M, the usual choice for codes shown on screens; the quiet zone of four
    modules is part of the drawing, so scanners find the code on any background. Encoded by
    zxing-cpp (C++, a tenth of segno's time); drawn here as one path of 1-unit-wide horizontal
    strokes along each row's runs of dark modules, centred on the row (y + 0.5), the first
    move absolute and every later one relative.
    """
    symbol = zxingcpp.create_barcode(data, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = symbol.to_image(add_quiet_zones=False)
    height, width = image.shape
    # zxing's Image exposes the buffer protocol without declaring it in its stubs.
    modules = memoryview(image).tobytes()  # type: ignore[arg-type]
    parts: list[str] = []
    x, y = 0, 0  # where the pen is, in modules of the symbol; the first move is absolute
    for row in range(height):
        line = modules[row * width : (row + 1) * width]
        for run in _DARK_RUNS.finditer(line):
            start, end = run.span()
            if not parts:
                parts.append(f"M{start + QUIET_ZONE} {row + QUIET_ZONE}.5")
            else:
                parts.append(f"m{start - x} {row - y}")
            parts.append(f"h{end - start}")
            x, y = end, row
    side = max(height, width) + 2 * QUIET_ZONE
    # Scaled by CSS to any width, anti-aliased rows would leave hairline gaps between them.
    return (
        f'<svg viewBox="0 0 {side} {side}"><path shape-rendering="crispEdges" stroke="#000" '
        f'd="{"".join(parts)}"/></svg>'
    )
