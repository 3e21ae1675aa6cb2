"""Family members and 切换 (SPEC 2.9): list, add (directly or with SMS consent), remove,
and switch whose permit /permit shows and the wizards act for."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    session,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from epermit.extensions import CONSENT_TRIES, LOOKUP, spend, within
from epermit.forms import (
    RELATIONSHIP_WORDS,
    TOO_OFTEN,
    FamilyAddForm,
    FamilyConsentForm,
    FamilySwitchForm,
    Form,
    code_error,
)
from epermit.htmx import render_page
from epermit.services import codes, family
from epermit.sql import fits_id
from epermit.views._common import (
    acting,
    commit_and_deliver,
    dbs,
    login_required,
    viewing_id,
)
from epermit.vocabulary import LinkBasis

bp = Blueprint("family", __name__)

PENDING = "family_pending"


def _owner_id() -> int:
    return acting().person_id


@bp.get("/family")
@login_required
def index() -> Response:
    owner_id = _owner_id()
    members = family.members(dbs(), owner_id, acting().today)
    return render_page(
        "family/index.html",
        members=members,
        shown_id=viewing_id(),
        relation_words=RELATIONSHIP_WORDS,
    )


@bp.post("/family/switch")
@login_required
def switch() -> BaseResponse:
    owner_id = _owner_id()
    form = FamilySwitchForm(today=acting().today)
    if not form.validate():
        abort(400)
    member_id = int(form.member.data or 0)
    if not fits_id(member_id):
        abort(404)  # no row has it, and PostgreSQL would refuse to look for it
    try:
        person = family.check_switch(dbs(), owner_id, member_id)
    except family.NotAMember:
        # Same answer as for a person who does not exist: no way to probe who is registered.
        abort(404)
    if person.id == owner_id:
        session.pop("viewing_id", None)
    else:
        session["viewing_id"] = person.id
    return redirect(url_for("permit.show"), 303)


@bp.route("/family/add", methods=["GET", "POST"])
@login_required
def add() -> BaseResponse:
    who = acting()
    form = FamilyAddForm(today=who.today)
    if form.is_submitted() and not within(LOOKUP, who.person_id):
        # Adding by name and ID number must not become a way to test guesses against the
        # register: it shares the wizards' lookup budget.
        form.id_number.errors = [TOO_OFTEN]
        return render_page("family/add.html", status=429, form=form)
    if not form.validate_on_submit():
        return render_page("family/add.html", form=form)
    try:
        outcome = family.request_adding(
            dbs(),
            who,
            name=form.name.data or "",
            id_number=form.id_number.data or "",
            relationship=form.relationship.data,
            ttl_seconds=current_app.config["CODE_TTL_SECONDS"],
            secret=current_app.config["SECRET_KEY"],
        )
    except family.FamilyError as error:
        dbs().rollback()
        if isinstance(error, family.NoMatchingPermit):
            spend(LOOKUP, who.person_id)  # only a miss counts against the budget
        _explain(form, error)
        return render_page("family/add.html", form=form)
    commit_and_deliver()
    if isinstance(outcome, family.Added):
        flash(outcome.member.name, "added")
        return redirect(url_for("family.index"), 303)
    session[PENDING] = {"member_id": outcome.member.id, "relationship": outcome.relationship}
    return redirect(url_for("family.consent"), 303)


def _explain(form: FamilyAddForm, error: family.FamilyError) -> None:
    if isinstance(error, family.NoMatchingPermit):
        message = "姓名与公民身份号码不一致,或此人没有广东省居住证,请核对后重新输入"
        form.id_number.errors = [message]
    elif isinstance(error, family.IsSelf):
        form.id_number.errors = ["这是您本人的公民身份号码,请输入家庭成员的公民身份号码"]
    elif isinstance(error, family.AlreadyMember):
        form.id_number.errors = [f"{error.member.name}已在您的家庭成员中,无需重复添加"]
    elif isinstance(error, family.ConsentCapped):
        form.id_number.errors = [
            "此人近期收到的验证码已达上限,暂时不能再发送。请稍后再试,或请其本人添加您"
        ]
    elif isinstance(error, family.NoPhoneForConsent):
        form.id_number.errors = [
            "此人未登记手机号码,无法发送同意验证码。请其本人到居住地派出所登记手机号码后再添加"
        ]
    else:  # pragma: no cover - every FamilyError is mapped above
        raise error


def _pending() -> tuple[int, str] | None:
    pending = session.get(PENDING)
    if not pending:
        return None
    return int(pending["member_id"]), str(pending["relationship"])


@bp.route("/family/add/consent", methods=["GET", "POST"])
@login_required
def consent() -> BaseResponse:
    who = acting()
    pending = _pending()
    if pending is None:
        return redirect(url_for("family.add"), 303)
    member_id, relationship = pending
    try:
        person = family.candidate(dbs(), member_id)
        agreement = family.agreement_for(dbs(), person, who.today)
    except (family.NotAMember, family.NoPhoneForConsent):
        session.pop(PENDING, None)
        return redirect(url_for("family.add"), 303)
    form = FamilyConsentForm(today=who.today)
    # Whose code it is: the member's own, or (approved) one of the people listing them.
    approval = agreement.basis is not LinkBasis.CONSENTED
    context: dict[str, Any] = {"person": person, "approval": approval}
    if form.is_submitted() and not within(CONSENT_TRIES, who.person_id):
        # Guesses at consent codes share one budget with the wizards' consent steps.
        form.consent_code.errors = [TOO_OFTEN]
        return render_page("family/consent.html", status=429, form=form, **context)
    if not form.validate_on_submit():
        return render_page("family/consent.html", form=form, **context)
    try:
        added = family.confirm_adding(
            dbs(),
            who,
            member_id=member_id,
            relationship=relationship,
            code=form.consent_code.data or "",
            secret=current_app.config["SECRET_KEY"],
        )
    except codes.CodeError as error:
        dbs().commit()  # a wrong try must count
        spend(CONSENT_TRIES, who.person_id)
        form.consent_code.errors = [code_error(error, resend="重新发送验证码", check_with="向对方")]
        return render_page("family/consent.html", form=form, **context)
    except family.AlreadyMember:
        dbs().rollback()
        session.pop(PENDING, None)
        return redirect(url_for("family.index"), 303)
    commit_and_deliver()
    session.pop(PENDING, None)
    flash(added.member.name, "added")
    return redirect(url_for("family.index"), 303)


@bp.post("/family/add/consent/resend")
@login_required
def resend() -> BaseResponse:
    pending = _pending()
    if pending is None:
        return redirect(url_for("family.add"), 303)
    try:
        family.resend_consent(
            dbs(),
            acting(),
            member_id=pending[0],
            ttl_seconds=current_app.config["CODE_TTL_SECONDS"],
            secret=current_app.config["SECRET_KEY"],
        )
        commit_and_deliver()
        flash("sent", "resend")
    except codes.ResendTooSoon:
        dbs().rollback()
        flash("wait", "resend")
    except codes.TooManyCodes:
        dbs().rollback()
        flash("capped", "resend")
    return redirect(url_for("family.consent"), 303)


# <id:…> (epermit.bounds): a number no row can have is no page (404), on either database.
@bp.route("/family/<id:member_id>/remove", methods=["GET", "POST"])
@login_required
def remove(member_id: int) -> BaseResponse:
    owner_id = _owner_id()
    try:
        member = family.member(dbs(), owner_id, member_id)
    except family.NotAMember:
        abort(404)
    form = Form(today=acting().today)
    if not form.validate_on_submit():
        return render_page("family/remove.html", form=form, member=member)
    try:
        family.remove(dbs(), acting(), member_id=member_id)
    except family.NotAMember:
        dbs().rollback()
        abort(404)
    dbs().commit()
    if session.get("viewing_id") == member_id:
        session.pop("viewing_id", None)
    flash(member.person.name, "removed")
    return redirect(url_for("family.index"), 303)
