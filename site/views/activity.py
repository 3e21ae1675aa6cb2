"""办理与核验记录 (SPEC 11.2), `GET /activity`: the signed-in person's own record, newest first,
a page at a time (`before`, an opaque cursor)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, request

from epermit.forms import LINK_BASIS_WORDS, RELATIONSHIP_WORDS
from epermit.htmx import render_page
from epermit.services import activity
from epermit.views._common import acting, dbs, login_required

bp = Blueprint("activity", __name__)


@bp.get("/activity")
@login_required
def index() -> Response:
    cursor = request.args.get("before") or None
    try:
        page = activity.page(dbs(), acting().person_id, cursor=cursor)
    except activity.BadCursor:
        abort(404)
    response = render_page(
        "activity/index.html",
        page=page,
        first_page=cursor is None,
        relation_words=RELATIONSHIP_WORDS,
        basis_words=LINK_BASIS_WORDS,
    )
    # Sign-ins and checks of one's code are nobody else's: never kept by a shared cache.
    response.headers["Cache-Control"] = "no-store"
    return response
