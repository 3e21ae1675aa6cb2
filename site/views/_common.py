"""What every blueprint needs: the signed-in person, sign-in guard, client address."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request, session, url_for
from sqlmodel import Session

from epermit import clock, db, delivery, policy
from epermit.acting import Acting
from epermit.htmx import leave
from epermit.models import Person
from epermit.services import sms

F = TypeVar("F", bound=Callable[..., Any])


def dbs() -> Session:
    return db.get_session()


_UNKNOWN = object()


def current_person() -> Person | None:
    # Asked many times a request: one look-up through the `g` proxy.
    known = g.get("person", _UNKNOWN)
    if known is not _UNKNOWN:
        return known
    person_id = session.get("person_id")
    found = policy.person_and_workspace(dbs(), person_id) if person_id is not None else None
    person = found[0] if found is not None else None
    if person is not None and person.session_epoch != session.get("epoch"):
        # A cookie from before a sign-out (kept, copied or stolen): it signs in nobody.
        session.clear()
        person = None
    elif found is not None:
        # What the navigation asks (templating._shows_workspace), read in the same statement.
        g.shows_workspace = found[1]
    g.person = person
    return person


def signed_in() -> Person:
    """The signed-in person, in a view behind `login_required`."""
    person = current_person()
    if person is None or person.id is None:
        raise RuntimeError("signed_in() outside a login_required view")
    return person


def acting() -> Acting:
    """Who acts in this request, when and from where: the one place services get it from.
    Read once per request, so every step of the request sees the same moment."""
    if "acting" not in g:
        now = clock.now()
        g.acting = Acting(
            person=signed_in(),
            now=now,
            today=clock.local(now).date(),
            client_address=client_address(),
        )
    return g.acting


def login_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_person() is None:
            expired = "1" if g.get("session_expired") else None
            next_url = request.full_path.rstrip("?")
            # A whole page, also for htmx: the header must stop naming who was signed in.
            return leave(url_for("auth.login", next=next_url, expired=expired))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def client_address() -> str | None:
    return request.remote_addr


def commit_and_deliver(*, always: bool = False) -> None:
    """Commit the request's change, then wake this process's deliverer for the SMS it queued.

    The request does not wait for the gateway: only with `SMS_DELIVERY_WAIT` (development's
    file backend, a local append) does it wait, at most that long, so the code is in
    sms-outbox.jsonl by the time the page answers. `always` does the same when nothing was
    queued, so that a request's time does not tell whether it queued an SMS (sign-in, for a
    registered number or not).
    """
    session = dbs()
    session.commit()
    if sms.queued(session) or always:
        deliverer = delivery.of(current_app)
        ticket = deliverer.wake()
        wait = current_app.config.get("SMS_DELIVERY_WAIT", 0)
        if wait:
            deliverer.wait(ticket, wait)


def viewing() -> Person:
    """Whose permit is shown and acted on (切换); the signed-in person by default.

    Checked once per request: a member removed since the switch (in another tab or on
    another device) is no longer shown, anywhere, and the switch is forgotten.
    """
    if "viewing" not in g:
        person = current_person()
        assert person is not None and person.id is not None
        shown = person
        member_id = session.get("viewing_id")
        if member_id is not None and member_id != person.id:
            member = dbs().get(Person, member_id)
            if member is not None and policy.may_view(dbs(), person.id, member_id):
                shown = member
            else:
                session.pop("viewing_id", None)
        g.viewing = shown
    return g.viewing


def viewing_id() -> int:
    return viewing().id  # type: ignore[return-value]
