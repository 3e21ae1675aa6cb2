"""What every blueprint needs: the signed-in person, sign-in guard, client address."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, after_this_request, current_app, g, request, session, url_for
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
    """Commit the request's change, then have this process's deliverer send the SMS it queued.

    Without `SMS_DELIVERY_WAIT` (production: a gateway) the deliverer's pass starts once the
    answer has gone out (the WSGI response's close), never beside the request: a pass in the
    same process shares its interpreter lock, and it cost a sign-in about 20 ms of wall time,
    only for registered numbers: a timing oracle (issue 9 item 7). Only with a wait (the
    development file backend, a local append) does the request wake it at once and wait, at
    most that long, so the code is in sms-outbox.jsonl by the time the page answers; `always`
    then does the same when nothing was queued, so that even there a sign-in's time does not
    tell whether it queued an SMS.
    """
    session = dbs()
    session.commit()
    queued = sms.queued(session)
    if not (queued or always):
        return
    deliverer = delivery.of(current_app)
    wait = current_app.config.get("SMS_DELIVERY_WAIT", 0)
    if wait:
        deliverer.wait(deliverer.wake(), wait)
    elif queued:

        @after_this_request
        def _wake_once_sent(response: Response) -> Response:
            response.call_on_close(deliverer.wake)
            return response


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
