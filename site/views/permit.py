"""My permit (SPEC 4, issue 2): the holder's card, its status in words and allowed actions."""

from __future__ import annotations

from flask import Blueprint, Response, session

from epermit import clock
from epermit.htmx import render_page
from epermit.services import permits
from epermit.views._common import current_person, dbs, login_required, viewing_id

bp = Blueprint("permit", __name__)


@bp.get("/permit")
@login_required
def show() -> Response:
    person = current_person()
    assert person is not None and person.id is not None
    try:
        card = permits.card_for(
            dbs(), viewer_id=person.id, holder_id=viewing_id(), today=clock.today()
        )
    except permits.NotAllowed:
        # The member was removed since the switch: fall back to one's own permit.
        session.pop("viewing_id", None)
        card = permits.card_for(
            dbs(), viewer_id=person.id, holder_id=person.id, today=clock.today()
        )
    return render_page("permit/show.html", card=card, today=clock.today())
