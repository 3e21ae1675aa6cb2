"""Who acts, when, and from which address: one value built once per request by the view
layer and passed down, so that no service reads the clock or the request (STYLE)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from epermit.models import Person, Staff


@dataclass(frozen=True)
class Acting:
    person: Person  # the signed-in person, whoever they act for
    now: datetime  # aware, UTC
    today: date  # the date in Asia/Shanghai at `now` (SPEC 2)
    client_address: str | None  # for audit events and per-address limits

    @property
    def person_id(self) -> int:
        person_id = self.person.id
        assert person_id is not None, "only a stored person acts"
        return person_id


@dataclass(frozen=True)
class StaffActing:
    """As `Acting`, for a signed-in staff member (SPEC 12): staff are not holders, and a
    staff request never carries a holder's identity."""

    staff: Staff
    now: datetime
    today: date
    client_address: str | None

    @property
    def staff_id(self) -> int:
        staff_id = self.staff.id
        assert staff_id is not None, "only a stored staff member acts"
        return staff_id
