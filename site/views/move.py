"""Change of address outside the wizard (SPEC 9.3, 10.7): the confirmations awaiting whoever
answers for an address, their decision, and the holder's withdrawal from /permit. The wizard
itself is served by views/_wizard.py from epermit.wizards.move."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from epermit import policy
from epermit.forms import ConfirmationForm, Form
from epermit.htmx import render_page
from epermit.services import move
from epermit.views._common import acting, commit_and_deliver, dbs, login_required

bp = Blueprint("move_requests", __name__)


@bp.get("/workspace/confirmations")
@login_required
def confirmations() -> Response:
    who = acting()
    answers_for_any = bool(policy.answered_address_ids(dbs(), who.person_id))
    return render_page(
        "move/confirmations.html",
        answers_for_any=answers_for_any,
        requests=move.confirmations_for(dbs(), who.person_id),
    )


@bp.route("/workspace/confirmations/<int(max=2147483647):change_id>", methods=["GET", "POST"])
@login_required
def decision(change_id: int) -> BaseResponse:
    who = acting()
    try:
        change = move.change_for_answerer(dbs(), who.person_id, change_id)
    except move.NoSuchRequest:
        abort(404)
    view = next(
        (v for v in move.confirmations_for(dbs(), who.person_id) if v.change.id == change.id), None
    )
    if view is None:
        # Ended already (decided, lapsed, withdrawn): the list says what is left to do.
        flash("ended", "confirmation")
        return redirect(url_for("move_requests.confirmations"), 303)
    form = ConfirmationForm(
        formdata=request.form if request.method == "POST" else None, today=who.today
    )
    if request.method == "POST" and form.validate():
        confirm = form.decision.data == "confirm"
        try:
            move.decide(
                dbs(),
                who,
                change_id=change.id,  # type: ignore[arg-type]
                confirm=confirm,
                refuse_reason=form.refuse_reason.data,
            )
        except move.AlreadyDecided:
            dbs().rollback()
            flash("ended", "confirmation")
            return redirect(url_for("move_requests.confirmations"), 303)
        commit_and_deliver()
        flash(f"{'confirmed' if confirm else 'refused'}:{view.holder.name}", "confirmation")
        return redirect(url_for("move_requests.confirmations"), 303)
    return render_page("move/decision.html", form=form, view=view, action=request.path)


@bp.post("/permit/move/<int(max=2147483647):change_id>/withdraw")
@login_required
def withdraw(change_id: int) -> BaseResponse:
    who = acting()
    form = Form(today=who.today)
    if not form.validate():
        abort(400)
    try:
        move.withdraw(dbs(), who, change_id=change_id)
    except move.NoSuchRequest:
        abort(404)
    except move.AlreadyDecided:
        dbs().rollback()
        flash("ended", "move")
        return redirect(url_for("permit.show"), 303)
    commit_and_deliver()
    flash("withdrawn", "move")
    return redirect(url_for("permit.show"), 303)
