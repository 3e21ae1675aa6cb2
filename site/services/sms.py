"""SMS through an outbox: messages are written in the same transaction as the change that
causes them, and delivered after it commits, so none is lost with a rolled-back change.

Delivery goes one message at a time, each in transactions of its own: a claim (which counts
the attempt and holds the message for `LEASE`, so that no other deliverer, in this process or
another, sends it meanwhile), the send with no transaction open, then the outcome. A message
that fails waits for its own next attempt, backing off, and is dead after `MAX_ATTEMPTS`; the
others go on. A deliverer that dies between send and outcome leaves its claim to expire, and
the message is sent again after `LEASE`: delivery is at least once, never twice at once.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session, col, select

from epermit.models import SmsOutbox
from epermit.sql import columns_of, loaded, rowcount, run, table_of

log = logging.getLogger(__name__)

# What delivery runs its statements on: a session, or a bare connection (the deliverer's,
# whose pass then skips the ORM's bookkeeping around each statement and commit: about a
# third of a pass's CPU, and every sign-in and every notice pays for a pass).
Runner = Session | sa.Connection

# Attempts before a message is given up as dead (listed by `flask sms-dead`, counted in
# /metrics): with the back-off below the last one is about half an hour after the first, long
# after any code in it expired, still soon enough for a notice to be worth sending.
MAX_ATTEMPTS = 6
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)
# How long a claim holds a message: longer than a gateway call may take (the Aliyun sender's
# timeouts add up to well under it), so that only a deliverer that died loses its claim.
LEASE = timedelta(minutes=2)
# Messages looked at per query; each is still claimed and committed on its own.
BATCH = 100


class SendFailed(Exception):
    """The gateway refused or could not be reached. `permanent` when trying again cannot help
    (a malformed number, a template that does not exist): the message is dead at once."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Sender(Protocol):
    def send(self, message: SmsOutbox) -> None: ...


class FileSender:
    """Development and test backend: one JSON object per line (SPEC 5)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def send(self, message: SmsOutbox) -> None:
        record: dict[str, Any] = {
            "to": message.to,
            "text": message.text,
            "at": message.created_at.isoformat(),
        }
        if message.code:
            record["code"] = message.code
        if message.template:
            record["template"] = message.template
            record["params"] = message.params or {}
        append_whole(self.path, (json.dumps(record, ensure_ascii=False) + "\n").encode())


def append_whole(path: Path, data: bytes) -> None:
    """Append `data` completely or not at all: a short write (disk full, a size limit) is
    undone and raised, so readers never meet a cut-off line."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        # The folder is made when first missing, not asked for on every message.
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags, 0o600)
    try:
        # Writers in other processes append to the same file: the lock keeps the size we
        # may truncate back to true while we write.
        fcntl.flock(fd, fcntl.LOCK_EX)
        start = os.fstat(fd).st_size
        written = 0
        try:
            while written < len(data):
                n = os.write(fd, data[written:])
                if n <= 0:
                    raise OSError("short write")
                written += n
        except OSError:
            os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)


class LogSender:
    """Logs without the text or the code and sends nothing: for a staging system that must
    not text anyone. Never the production default."""

    def send(self, message: SmsOutbox) -> None:
        log.info(
            "SMS %s to %s***%s not sent (log backend)", message.id, message.to[:3], message.to[-2:]
        )


def sender_for(config: Mapping[str, Any]) -> Sender:
    """The backend the configuration names (README, "SMS")."""
    backend = config["SMS_BACKEND"]
    if backend == "file":
        return FileSender(config["SMS_OUTBOX"])
    if backend == "log":
        return LogSender()
    if backend == "aliyun":
        from epermit.services.sms_aliyun import AliyunSender

        return AliyunSender.from_config(config)
    raise ValueError(f"unknown SMS_BACKEND {backend!r}")


def consent_text(*, agent: str, action: str, code: str, ttl_seconds: int) -> str:
    """The SMS asking an applicant to let `agent` act for them in a service (`action`, the
    service's own word from its wizard declaration, e.g. 签注)."""
    minutes = max(1, ttl_seconds // 60)
    return (
        f"【广东省电子居住证】{agent}申请为您代办居住证{action}，"
        f"验证码{code}，{minutes}分钟内有效。如您同意，请将验证码告诉代办人；如不同意，请忽略。"
    )


# The queue's statements are built once, on the table (see the deliverer's below). Every
# sign-in and most changes queue one message: an INSERT, rather than an object for the session
# to track and flush (nothing reads it back before the commit).
_OUTBOX = table_of(SmsOutbox)
_QUEUE = sa.insert(_OUTBOX)


def _message(
    *,
    to: str,
    text: str,
    now: datetime,
    code: str | None = None,
    template: str | None = None,
    params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "to": to,
        "text": text,
        "code": code,
        "created_at": now,
        "template": template,
        "params": dict(params) if params is not None else None,
    }


def queue(
    session: Session,
    *,
    to: str,
    text: str,
    now: datetime,
    code: str | None = None,
    template: str | None = None,
    params: Mapping[str, str] | None = None,
) -> None:
    """Queue a message. `text` is what the file backend writes and what a free-text gateway
    would send; a template gateway (Aliyun) sends `template` with `params` when given, and
    otherwise falls back on its `code` or `notice` template (services.sms_aliyun)."""
    message = _message(to=to, text=text, now=now, code=code, template=template, params=params)
    run(session, _QUEUE, message)
    # Tells the caller a delivery run is worth starting once this transaction commits.
    session.info["sms_queued"] = True


def queue_texts(session: Session, messages: Sequence[tuple[str, str]], now: datetime) -> None:
    """Queue many plain notices, each (to, text), in one statement: a batch's thousand
    holders told at once. The same rows as `queue` without code or template."""
    if not messages:
        return
    run(session, _QUEUE, [_message(to=to, text=text, now=now) for to, text in messages])
    session.info["sms_queued"] = True


def queued(session: Session) -> bool:
    """Whether this session queued messages since last asked."""
    return bool(session.info.pop("sms_queued", False))


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 30 s, 1, 2, 4, 8 min, … at most 1 h."""
    return min(FIRST_RETRY * (2 ** max(0, attempts - 1)), LONGEST_WAIT)


# The deliverer's statements run for every message, and every wake runs one more pass that
# finds nothing: built once, on the table, so that SQLAlchemy neither builds nor keys them
# again, and the ORM does not search the session for the rows an UPDATE changes (together
# most of a pass's CPU, which every sign-in and every notice pays in its process).
_IS_DUE = sa.and_(
    _OUTBOX.c.delivered_at.is_(None),
    _OUTBOX.c.dead_at.is_(None),
    sa.or_(
        _OUTBOX.c.next_attempt_at.is_(None), _OUTBOX.c.next_attempt_at <= sa.bindparam("now")
    ),
)
_DUE_IDS = (
    sa.select(_OUTBOX.c.id)
    .where(_IS_DUE)
    .order_by(_OUTBOX.c.id)
    .limit(sa.bindparam("limit", type_=sa.Integer))
)
# The claim and the message claimed in one statement (RETURNING: SQLite 3.35, PostgreSQL).
_CLAIM = (
    sa.update(_OUTBOX)
    .where(_OUTBOX.c.id == sa.bindparam("message_id"), _IS_DUE)
    .values(attempts=_OUTBOX.c.attempts + 1, next_attempt_at=sa.bindparam("lease_until"))
    .returning(*columns_of(SmsOutbox))
)
_RECORD_SENT = (
    sa.update(_OUTBOX)
    .where(_OUTBOX.c.id == sa.bindparam("message_id"))
    .values(
        delivered_at=sa.bindparam("now"),
        code=None,
        text=sa.bindparam("redacted"),
        next_attempt_at=None,
        last_error=None,
    )
)


def due_ids(on: Runner, now: datetime, limit: int = BATCH) -> list[int]:
    return list(on.execute(_DUE_IDS, {"now": now, "limit": limit}).scalars())


def claim(on: Runner, message_id: int, now: datetime) -> SmsOutbox | None:
    """Take the message for one attempt, or None if it is not due (sent, dead, waiting, or
    claimed by another deliverer). Commits: the claim must be seen by others before the send.

    A conditional update, so of two deliverers racing for it exactly one matches: on
    PostgreSQL the second waits for the first's row lock and then finds the message held;
    SQLite lets one writer in at a time. The message comes back in no session.
    """
    claimed = on.execute(
        _CLAIM, {"message_id": message_id, "now": now, "lease_until": now + LEASE}
    ).first()
    if claimed is None:
        on.rollback()
        return None
    on.commit()
    return loaded(SmsOutbox, claimed)


def _redacted(message: SmsOutbox) -> str:
    # Once sent (or given up), a code has no reason to stay readable in the database: codes
    # are kept hashed (services.codes), and the outbox must not undo that.
    return message.text.replace(message.code, "******") if message.code else message.text


def record_sent(on: Runner, message: SmsOutbox, now: datetime) -> None:
    on.execute(
        _RECORD_SENT, {"message_id": message.id, "now": now, "redacted": _redacted(message)}
    )
    on.commit()


def record_failure(on: Runner, message: SmsOutbox, error: Exception, now: datetime) -> bool:
    """Note the failed attempt; True if the message is now dead."""
    dead = message.attempts >= MAX_ATTEMPTS or bool(getattr(error, "permanent", False))
    reason = f"{type(error).__name__}: {error}"[:300]
    values: dict[str, Any] = {"last_error": reason}
    if dead:
        values.update(dead_at=now, next_attempt_at=None, code=None, text=_redacted(message))
    else:
        values.update(next_attempt_at=now + backoff(message.attempts))
    on.execute(sa.update(_OUTBOX).where(_OUTBOX.c.id == message.id).values(**values))
    on.commit()
    return dead


@dataclass
class Run:
    """What one delivery run did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    # Whether it found as many messages due as it may look at: more may be waiting.
    full: bool = False


def deliver_due(
    on: Runner, sender: Sender, now: Callable[[], datetime], limit: int = BATCH
) -> Run:
    """Try each message due now once: claim, send, record, each committed on its own, so a
    failure (or a slow gateway) costs only its own message. `now` is read afresh for each
    message: a claim's lease must count from the moment it is taken."""
    done = Run()
    found = due_ids(on, now(), limit)
    done.full = len(found) >= limit
    for message_id in found:
        # The first claim is made in the transaction that read the ids, whose commit (or
        # rollback) ends it: the read keeps no snapshot, and no lock, past the claim. Each
        # later one begins its own (the one before ended with its outcome).
        message = claim(on, message_id, now())
        if message is None:
            continue
        try:
            sender.send(message)
        except Exception as error:  # noqa: BLE001 - any failure is this message's alone
            dead = record_failure(on, message, error, now())
            done.failed += 1
            done.dead += dead
            log.warning(
                "SMS %s attempt %s failed%s: %s",
                message.id,
                message.attempts,
                " (dead)" if dead else "",
                error,
            )
            continue
        record_sent(on, message, now())
        done.sent += 1
    on.rollback()
    return done


def deliver_outbox(on: Runner, sender: Sender, now: Callable[[], datetime]) -> int:
    """Send everything due, however many, each claim and outcome committed on its own on `on`
    (a session of the command's or test's own, or the deliverer's connection: never the
    request's); the number sent. Ends: a message tried in this pass is not due again before
    its back-off."""
    total = 0
    while True:
        done = deliver_due(on, sender, now)
        total += done.sent
        # A run that found fewer than it may take has tried all that was due when it began
        # (what was queued since wakes a pass of its own): no second run just to find none.
        if done.sent + done.failed == 0 or not done.full:
            return total


@dataclass(frozen=True)
class Backlog:
    waiting: int
    dead: int


def backlog(session: Session) -> Backlog:
    """Messages not yet sent (due or backing off) and messages given up, for /metrics."""
    waiting, dead = session.execute(
        sa.select(
            sa.func.count().filter(
                col(SmsOutbox.delivered_at).is_(None), col(SmsOutbox.dead_at).is_(None)
            ),
            sa.func.count().filter(col(SmsOutbox.dead_at).is_not(None)),
        ).select_from(SmsOutbox)
    ).one()
    return Backlog(waiting=waiting, dead=dead)


def dead_messages(session: Session, limit: int = 100) -> list[SmsOutbox]:
    query = (
        select(SmsOutbox)
        .where(col(SmsOutbox.dead_at).is_not(None))
        .order_by(col(SmsOutbox.dead_at).desc())
        .limit(limit)
    )
    return list(session.exec(query).all())


def requeue(session: Session, message_id: int) -> bool:
    """Give a dead message a fresh set of attempts (after the gateway is fixed)."""
    result = session.execute(
        sa.update(SmsOutbox)
        .where(col(SmsOutbox.id) == message_id, col(SmsOutbox.dead_at).is_not(None))
        .values(dead_at=None, attempts=0, next_attempt_at=None)
    )
    return rowcount(result) == 1
