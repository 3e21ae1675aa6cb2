"""Objecting to a deregistration someone else declared (SPEC 11.1), `/permit/objection`:
the holder, or a family member through 切换, within 30 days; one per deregistration."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, abort, redirect, url_for
from flask.blueprints import BlueprintSetupState
from werkzeug.wrappers import Response as BaseResponse

from epermit import policy
from epermit import wizard as engine
from epermit.forms import ObjectionForm
from epermit.htmx import render_page
from epermit.services import cases, objections
from epermit.views._common import acting, commit_and_deliver, dbs, login_required, viewing
from epermit.views._wizard import CaseWords, register_case_words
from epermit.vocabulary import CaseKind, ObjectionStatus

bp = Blueprint("objection", __name__)

WORDS = CaseWords(
    name="objection",
    title="注销异议",
    agent_title="异议人",
    outcomes={
        ObjectionStatus.PENDING: engine.Outcome("注销异议", "待处理"),
        ObjectionStatus.RESTORED: engine.Outcome("注销异议", "异议成立，已恢复"),
        ObjectionStatus.UPHELD: engine.Outcome("注销异议", "异议不成立，维持注销"),
    },
)


@bp.record_once
def _name_the_cases(state: BlueprintSetupState) -> None:
    # The case list and receipts read an objection case's words from here.
    assert isinstance(state.app, Flask)
    register_case_words(state.app, CaseKind.OBJECTION, WORDS)


def _why_not(error: objections.ObjectionRefused | policy.NotAllowed) -> str:
    """The refusal in words, for the page and for the statement field alike."""
    if isinstance(error, objections.AlreadyObjected):
        return f"已对这次注销提出过异议（办件编号{error.reference}），每次注销只能提出一次异议"
    if isinstance(error, objections.ObjectionPeriodOver):
        day = error.deadline
        return f"提出异议的期限已于{day.year}年{day.month}月{day.day}日届满，请到居住地派出所咨询"
    if isinstance(error, objections.OwnDeclaration):
        return "这次注销是您本人或持证人本人申报的，不能对自己的申报提出异议"
    if isinstance(error, objections.StatementEmpty):
        return "请填写异议理由"
    if isinstance(error, objections.StatementTooLong):
        return "异议理由不能超过500个字"
    return "居住证没有被他人申报注销，无需提出异议"


@bp.route("/permit/objection", methods=["GET", "POST"])
@login_required
def objection() -> BaseResponse:
    who = acting()
    holder = viewing()
    form = ObjectionForm(today=who.today)
    try:
        target = objections.objectable(dbs(), who, holder.id)  # type: ignore[arg-type]
    except policy.NotAllowed:
        abort(404)
    except objections.ObjectionRefused as error:
        # Nothing to object to (any more): the page says why, with no form.
        status = 409 if form.is_submitted() else 200
        return render_page(
            "objection/closed.html", status=status, holder=holder, reason=_why_not(error)
        )
    context: dict[str, Any] = {"holder": holder, "target": target}
    if not form.validate_on_submit():
        return render_page("objection/form.html", form=form, **context)
    try:
        case = objections.file(
            dbs(), who, holder_id=holder.id, statement=form.statement.data or ""  # type: ignore[arg-type]
        )
    except objections.ObjectionRefused as error:
        dbs().rollback()
        form.add_error("statement", _why_not(error))
        return render_page("objection/form.html", form=form, **context)
    commit_and_deliver()
    return redirect(url_for("objection.done", reference=case.reference), 303)


@bp.get("/permit/objection/<reference>")
@login_required
def done(reference: str) -> Response:
    record = cases.record_for(dbs(), acting().person_id, reference)
    if record is None or record.case.kind != CaseKind.OBJECTION:
        abort(404)
    return render_page("objection/done.html", record=record, case=record.case)
