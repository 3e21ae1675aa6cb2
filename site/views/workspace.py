"""The workspace of landlords, employers, schools and hotels (SPEC 10): their places, the
rosters, batch departures (ticked on a roster or uploaded as a file) and the roster export.
Thin: parse, ask the services, render or redirect. Anything not the person's own is 404."""

from __future__ import annotations

import csv
import io
import re
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, redirect, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from epermit import bounds, db, policy
from epermit.forms import (
    DECLARANT_ROLE_WORDS,
    REASON_WORDS,
    ROSTER_ROLE_WORDS,
    BatchReasonForm,
    DeclarationForm,
    DepartureSelectionForm,
    DepartureUploadForm,
)
from epermit.htmx import render_page
from epermit.models import DepartureBatch
from epermit.services import departure_file, departures, workspace
from epermit.views._common import acting, commit_and_deliver, dbs, login_required
from epermit.views.main import ERRORS
from epermit.vocabulary import Reason

bp = Blueprint("workspace", __name__)

ROSTER = "/workspace/<any(address, org):kind>/<place>"
# A file's 原因 column may name a reason in the words the forms use, or by its value.
READS_AS_REASON: dict[str, Reason] = {
    **{words: reason for reason, words in REASON_WORDS.items()},
    **{reason.value: reason for reason in Reason},
}


def _secret() -> str:
    return str(current_app.config["SECRET_KEY"])


def _roster(kind: str, place: str) -> workspace.Roster:
    try:
        return workspace.open_roster(dbs(), acting().person_id, kind, place)
    except policy.NotInScope:
        abort(404)


def roster_url(roster: workspace.Roster, what: str = "") -> str:
    return f"/workspace/{roster.kind}/{roster.place}{what}"


def _words(roster: workspace.Roster) -> dict[str, str]:
    """How pages name the roster and whose people they are."""
    if roster.organisation is not None:
        return {"title": roster.organisation.name, "people": "本单位"}
    if roster.address is not None:
        return {"title": roster.address.line, "people": "该房屋"}
    return {"title": "我的全部出租屋", "people": "您的房屋"}


def _context(roster: workspace.Roster) -> dict[str, Any]:
    return {
        "roster": roster,
        "words": _words(roster),
        "roster_url": roster_url(roster),
        "role_words": ROSTER_ROLE_WORDS[roster.role],
    }


@bp.get("/workspace")
@login_required
def index() -> Response:
    places = workspace.places(dbs(), acting().person_id)
    if not places:
        return render_page("workspace/about.html")
    landlord_rooms = sum(1 for p in places if p.roster.kind == "address")
    return render_page(
        "workspace/index.html",
        places=places,
        landlord_rooms=landlord_rooms,
        roster_url=roster_url,
    )


def _page_number(raw: str | None) -> int:
    return int(raw) if raw and re.fullmatch(r"[1-9][0-9]{0,5}", raw) else 1


def _render_roster(
    roster: workspace.Roster, form: DepartureSelectionForm, q: str, page: int
) -> Response:
    shown = workspace.roster_page(dbs(), acting(), roster, q=q, page=page, secret=_secret())
    dbs().commit()
    return render_page("workspace/roster.html", form=form, shown=shown, **_context(roster))


@bp.get(ROSTER)
@login_required
@db.writes_on_get
def roster(kind: str, place: str) -> Response:
    found = _roster(kind, place)
    form = DepartureSelectionForm(today=acting().today)
    q = workspace.normalise_query(request.args.get("q"))
    return _render_roster(found, form, q, _page_number(request.args.get("page")))


@bp.post(ROSTER + "/departures")
@login_required
def start_batch(kind: str, place: str) -> BaseResponse:
    found = _roster(kind, place)
    who = acting()
    form = DepartureSelectionForm(today=who.today)
    q = workspace.normalise_query(request.form.get("q"))
    page = _page_number(request.form.get("page"))
    if not form.validate_on_submit():
        return _render_roster(found, form, q, page)
    try:
        batch = departures.start_from_roster(dbs(), who, found, form.selected.data, _secret())
    except departures.NothingSelected:
        dbs().rollback()
        form.add_error("selected", "所勾选的人员已不在名单中，请刷新后重新勾选")
        return _render_roster(found, form, q, page)
    dbs().commit()
    return redirect(url_for("workspace.batch_reason", token=batch.token), 303)


@bp.get(ROSTER + "/roster.csv")
@login_required
@db.writes_on_get
def export(kind: str, place: str) -> Response:
    found = _roster(kind, place)
    rows = list(workspace.export_rows(dbs(), acting(), found))
    dbs().commit()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["姓名", "公民身份号码", "登记日期", "居住地址"])
    for row in rows:
        writer.writerow(
            [
                _cell(row.name),
                row.masked_id_number,
                row.registered_since.isoformat(),
                _cell(row.address_line),
            ]
        )
    # The BOM tells Excel the file is UTF-8; without it, Chinese opens as mojibake.
    body = ("\ufeff" + buffer.getvalue()).encode("utf-8")
    filename = f"{_words(found)['title']}-登记人员.csv"
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": (
                f"attachment; filename=roster.csv; filename*=UTF-8''{quote(filename)}"
            ),
        },
    )


def _cell(text: str) -> str:
    # A spreadsheet runs a cell that starts like a formula; the register's text never should.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


# --- Upload (SPEC 10.5) ------------------------------------------------------------------------


@bp.route(ROSTER + "/upload", methods=["GET", "POST"])
# The file's own limit is checked by the upload code (with its message); the body may carry
# a little more, the form's other fields and the multipart framing.
@bounds.accepts_body(departure_file.MAX_BYTES + 64 * 1024)
@login_required
def upload(kind: str, place: str) -> BaseResponse:
    found = _roster(kind, place)
    who = acting()
    form = DepartureUploadForm(today=who.today)
    context = _context(found)
    if not form.validate_on_submit():
        return render_page("workspace/upload.html", form=form, problems=[], **context)
    data = form.file.data.stream.read(departure_file.MAX_BYTES + 1)
    problems: list[str] = []
    try:
        table = departure_file.read_table(data)
        checked = departure_file.check_rows(
            table,
            workspace.members_by_id_number(dbs(), found),
            today=who.today,
            reason_words=READS_AS_REASON,
        )
    except departure_file.FileRefused as error:
        departures.record_upload(dbs(), who, found, size=len(data), refused=error.code)
        dbs().commit()
        form.add_error("file", form.FILE_MESSAGES[error.code])
        return render_page("workspace/upload.html", form=form, problems=[], **context)
    if checked.problems:
        departures.record_upload(
            dbs(), who, found, size=len(data), refused="rows", rows=len(checked.problems)
        )
        dbs().commit()
        form.add_error(
            "file",
            f"文件中有{len(checked.problems)}行需要修改，请按下面的说明改正后重新上传。"
            "全部正确后才会办理，目前没有办理任何人员",
        )
        problems = [form.row_message(p, context["words"]["people"]) for p in checked.problems]
        return render_page("workspace/upload.html", form=form, problems=problems, **context)
    batch = departures.start_from_file(dbs(), who, found, checked.rows)
    departures.record_upload(
        dbs(), who, found, size=len(data), batch=batch.token, rows=len(checked.rows)
    )
    dbs().commit()
    return redirect(url_for("workspace.batch_check", token=batch.token), 303)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_error: RequestEntityTooLarge) -> BaseResponse:
    """A body over the allowance never reaches the view: say so on the upload page."""
    args = request.view_args or {}
    if request.endpoint != "workspace.upload":
        heading, message = ERRORS[400]
        return render_page("main/error.html", status=413, heading=heading, message=message)
    found = _roster(args.get("kind", ""), args.get("place", ""))
    form = DepartureUploadForm(formdata=None, today=acting().today)
    form.add_error("file", form.FILE_MESSAGES["too_big"])
    return render_page(
        "workspace/upload.html",
        status=413,
        form=form,
        problems=[],
        has_errors=True,
        **_context(found),
    )


# --- Batch departure (SPEC 10.4) -----------------------------------------------------------


def _batch(token: str) -> tuple[DepartureBatch, workspace.Roster]:
    try:
        return departures.batch_for(dbs(), acting().person_id, token)
    except departures.NoSuchBatch:
        abort(404)


def _batch_context(batch: DepartureBatch, roster: workspace.Roster) -> dict[str, Any]:
    return {
        **_context(roster),
        "batch": batch,
        "reason_words": REASON_WORDS,
        "declarant_words": DECLARANT_ROLE_WORDS,
        "batch_url": f"/workspace/batches/{batch.token}",
    }


@bp.route("/workspace/batches/<token>/reason", methods=["GET", "POST"])
@login_required
def batch_reason(token: str) -> BaseResponse:
    batch, found = _batch(token)
    if batch.submitted_at is not None:
        return redirect(url_for("workspace.batch_result", token=token), 303)
    if batch.source == "upload":  # each row brought its own reason and date
        return redirect(url_for("workspace.batch_check", token=token), 303)
    who = acting()
    answers = {
        "reason": batch.reason,
        "reason_detail": batch.reason_detail,
        "leave_date": batch.leave_date.isoformat() if batch.leave_date else None,
    }
    form = BatchReasonForm(today=who.today, data=answers)
    if form.validate_on_submit():
        departures.set_reason(
            dbs(),
            batch,
            reason=Reason(form.reason.data),
            reason_detail=form.reason_detail.data,
            leave_date=form.leave_date.data,
        )
        dbs().commit()
        return redirect(url_for("workspace.batch_check", token=token), 303)
    people = departures.entries(dbs(), who, batch, found)
    return render_page(
        "workspace/reason.html", form=form, people=people, **_batch_context(batch, found)
    )


@bp.route("/workspace/batches/<token>/check", methods=["GET", "POST"])
@login_required
def batch_check(token: str) -> BaseResponse:
    batch, found = _batch(token)
    if batch.submitted_at is not None:
        return redirect(url_for("workspace.batch_result", token=token), 303)
    if batch.source == "roster" and batch.leave_date is None:
        return redirect(url_for("workspace.batch_reason", token=token), 303)
    who = acting()
    form = DeclarationForm(today=who.today)
    if form.validate_on_submit():
        departures.submit(dbs(), who, batch, found)
        commit_and_deliver()
        return redirect(url_for("workspace.batch_result", token=token), 303)
    people = departures.entries(dbs(), who, batch, found)
    return render_page(
        "workspace/check.html", form=form, people=people, **_batch_context(batch, found)
    )


@bp.get("/workspace/batches/<token>")
@login_required
def batch_result(token: str) -> BaseResponse:
    batch, found = _batch(token)
    if batch.submitted_at is None:
        return redirect(url_for("workspace.batch_check", token=token), 303)
    people = departures.entries(dbs(), acting(), batch, found)
    declared = sum(1 for p in people if p.outcome == departures.Outcome.DECLARED)
    return render_page(
        "workspace/result.html", people=people, declared=declared, **_batch_context(batch, found)
    )
