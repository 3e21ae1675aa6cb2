"""Audit events: who, acting for whom, what, when, from where (SPEC 6)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from epermit.models import AuditEvent
from epermit.sql import run, table_of

# Written by nearly every request that changes something: an INSERT on the table, built once,
# rather than an object for the session to track and flush (an event is never read back in
# the request that writes it).
_INSERT = sa.insert(table_of(AuditEvent))


def _row(
    *,
    action: str,
    actor_id: int | None,
    subject_id: int | None,
    client_address: str | None,
    now: datetime,
    staff_id: int | None = None,
    **detail: Any,
) -> dict[str, Any]:
    return {
        "action": action,
        "actor_id": actor_id,
        "subject_id": subject_id,
        "client_address": client_address,
        "staff_id": staff_id,
        "detail": detail,
        "at": now,
    }


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
    row = _row(
        action=action,
        actor_id=actor_id,
        subject_id=subject_id,
        client_address=client_address,
        now=now,
        staff_id=staff_id,
        **detail,
    )
    run(session, _INSERT, row)


def record_many(session: Session, events: Sequence[Mapping[str, Any]]) -> None:
    """Many events, each given as `record`'s keywords, written in one statement (a batch's
    thousand declarations); the same rows `record` writes."""
    if events:
        run(session, _INSERT, [_row(**event) for event in events])
