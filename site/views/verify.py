"""Public verification of a shown code (SPEC 2.12): anyone who scans it, no sign-in."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from epermit import clock, db
from epermit.htmx import render_page
from epermit.services import permit_code
from epermit.views._common import dbs

bp = Blueprint("verify", __name__)


@bp.get("/v/<token>")
@db.writes_on_get  # a genuine check is logged for the holder (SPEC 11.2)
def show(token: str) -> Response:
    try:
        result = permit_code.verify(
            dbs(),
            token=token,
            today=clock.today(),
            now=clock.now(),
            secret=current_app.config["SECRET_KEY"],
            ttl_seconds=current_app.config["PERMIT_CODE_TTL_SECONDS"],
        )
    except permit_code.TokenExpired:
        response = render_page("verify/refused.html", status=410, reason="expired")
    except permit_code.TokenInvalid:
        response = render_page("verify/refused.html", status=404, reason="invalid")
    else:
        dbs().commit()
        response = render_page(
            "verify/show.html",
            result=result,
            checked_at=clock.local(result.checked_at),
            made_at=clock.local(result.made_at),
        )
    # A result is true only at the moment it is checked; and it names a person, if masked.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
