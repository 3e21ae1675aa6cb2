"""Audit events: who, acting for whom, what, when, from where (SPEC 6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from epermit.models import AuditEvent


def record(
    session: Session,
    *,
    action: str,
    actor_id: int | None,
    subject_id: int | None,
    client_address: str | None,
    now: datetime,
    staff_id: int | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEvent(
            action=action,
            actor_id=actor_id,
            subject_id=subject_id,
            client_address=client_address,
            staff_id=staff_id,
            detail=detail,
            at=now,
        )
    )
