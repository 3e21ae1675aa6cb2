"""My permit (SPEC 4, issue 2): the holder's card, its status in words and allowed actions;
and its live code (亮码, SPEC 2.11)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from epermit import clock
from epermit.htmx import is_partial, render_page
from epermit.services import permit_code, permits
from epermit.views._common import acting, current_person, dbs, login_required, viewing_id

bp = Blueprint("permit", __name__)


@bp.get("/permit")
@login_required
def show() -> Response:
    # The card and, when its status allows, its live code: 亮证 and 亮码 on one page (SPEC 2.11).
    return render_page("permit/show.html", today=clock.today(), **_code_context())


def _code_context() -> dict[str, Any]:
    """The viewed holder's card and, when the status allows one, a fresh code (SPEC 2.11)."""
    who = acting()
    card = permits.card_for(dbs(), viewer_id=who.person_id, holder_id=viewing_id(), today=who.today)
    if card.permit is None or not card.can_show_code:
        return {"card": card, "code": None}
    code = permit_code.make_code(card, who.now, current_app.config["SECRET_KEY"])
    # Production always has PUBLIC_BASE_URL (config.check_production): the request's Host
    # header, which anyone can set, never names the site in a code others scan.
    base = current_app.config.get("PUBLIC_BASE_URL") or (
        "" if current_app.config.get("PRODUCTION") else request.host_url
    )
    url = base.rstrip("/") + url_for("verify.show", token=code.token)
    return {
        "card": card,
        "code": code,
        "qr": Markup(permit_code.qr_svg(url)),
        "made_at": clock.local(code.made_at),
        "ttl_minutes": max(1, current_app.config["PERMIT_CODE_TTL_SECONDS"] // 60),
    }


@bp.get("/permit/code")
@login_required
def code() -> Response:
    return render_page("permit/code.html", **_code_context())


@bp.get("/permit/code/live")
def code_live() -> BaseResponse:
    """The code alone, fetched by htmx every minute; it does not count as activity, so an
    open code page does not keep an idle session alive (see epermit.security)."""
    if not is_partial():
        # Someone opened the fragment's address itself: show them the page it belongs to.
        return redirect(url_for("permit.code"), 303)
    if current_person() is None:
        return Response(render_template("permit/_code.html", card=None, code=None))
    return Response(render_template("permit/_code.html", **_code_context()))
