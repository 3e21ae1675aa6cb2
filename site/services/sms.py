"""SMS through an outbox: messages are written in the same transaction as the change that
causes them, and delivered after it commits, so none is lost with a rolled-back change."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlmodel import Session, col, select

from epermit.models import SmsOutbox

log = logging.getLogger(__name__)


class Sender(Protocol):
    def send(self, message: SmsOutbox) -> None: ...


class FileSender:
    """Development and test backend: one JSON object per line (SPEC 5)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def send(self, message: SmsOutbox) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"to": message.to, "text": message.text, "at": message.created_at.isoformat()}
        if message.code:
            record["code"] = message.code
        line = json.dumps(record, ensure_ascii=False) + "\n"
        # One write call in append mode keeps concurrent writers' lines whole.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


class LogSender:
    """Stand-in for a carrier gateway: logs without the code."""

    def send(self, message: SmsOutbox) -> None:
        log.info("SMS to %s***%s queued for gateway", message.to[:3], message.to[-2:])


def sender_for(backend: str, outbox_path: str) -> Sender:
    if backend == "file":
        return FileSender(outbox_path)
    if backend == "log":
        return LogSender()
    raise ValueError(f"unknown SMS_BACKEND {backend!r}")


def consent_text(*, agent: str, action: str, code: str, ttl_seconds: int) -> str:
    """The SMS asking an applicant to let `agent` act for them in a service (`action`, the
    service's own word from its wizard declaration, e.g. 签注)."""
    minutes = max(1, ttl_seconds // 60)
    return (
        f"【广东省电子居住证】{agent}申请为您代办居住证{action}，"
        f"验证码{code}，{minutes}分钟内有效。如您同意，请将验证码告诉代办人；如不同意，请忽略。"
    )


def queue(session: Session, *, to: str, text: str, now: datetime, code: str | None = None) -> None:
    session.add(SmsOutbox(to=to, text=text, code=code, created_at=now))
    # Tells the caller a delivery run is worth starting once this transaction commits.
    session.info["sms_queued"] = True


def queued(session: Session) -> bool:
    """Whether this session queued messages since last asked."""
    return bool(session.info.pop("sms_queued", False))


def deliver_pending(session: Session, sender: Sender, now: datetime, limit: int = 100) -> int:
    """Send what is waiting; rows are locked so two processes never send the same one."""
    query = (
        select(SmsOutbox)
        .where(col(SmsOutbox.delivered_at).is_(None))
        .order_by(col(SmsOutbox.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    sent = 0
    for message in session.exec(query).all():
        sender.send(message)
        # Once sent, a code has no reason to stay readable in the database: codes are kept
        # hashed (services.codes), and the outbox must not undo that.
        redacted = message.text.replace(message.code, "******") if message.code else message.text
        session.execute(
            sa.update(SmsOutbox)
            .where(col(SmsOutbox.id) == message.id)
            .values(delivered_at=now, code=None, text=redacted)
        )
        sent += 1
    session.commit()
    return sent


# Messages sent per transaction: no write lock is held for long.
BATCH = 100


def deliver_outbox(
    make_session: Callable[[], AbstractContextManager[Session]], sender: Sender, now: datetime
) -> int:
    """Send everything waiting, a batch per transaction, each in a session of its own (the
    request's, or the command's, stays untouched)."""
    total = 0
    while True:
        with make_session() as session:
            sent = deliver_pending(session, sender, now, limit=BATCH)
        total += sent
        if sent < BATCH:
            return total
