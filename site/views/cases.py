"""办件记录: my cases and a printable receipt for each."""

from __future__ import annotations

from flask import Blueprint, Response, abort

from epermit.htmx import render_page
from epermit.services import cases
from epermit.views._common import current_person, dbs, login_required

bp = Blueprint("cases", __name__)


@bp.get("/cases")
@login_required
def index() -> Response:
    person = current_person()
    assert person is not None and person.id is not None
    return render_page("cases/index.html", records=cases.cases_for(dbs(), person.id))


@bp.get("/cases/<reference>")
@login_required
def receipt(reference: str) -> Response:
    person = current_person()
    assert person is not None and person.id is not None
    record = cases.record_for(dbs(), person.id, reference)
    if record is None:
        abort(404)
    return render_page("cases/receipt.html", record=record)
