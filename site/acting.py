"""Who acts, when, and from which address: one value built once per request by the view
layer and passed down, so that no service reads the clock or the request (STYLE)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from epermit.models import Person


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
