"""The staff console, /staff (SPEC 12): sign-in with password and TOTP, search, the person
page, statistics. Thin: parse, call a service, render.

Staff sessions are their own: a staff cookie holds no holder and a holder's none of staff
(each sign-in clears the other), a holder's session gets 404 here, and a staff session ends
after 15 minutes idle.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from epermit import charts, clock
from epermit.acting import StaffActing
from epermit.db import writes_on_get
from epermit.extensions import limiter
from epermit.forms import (
    ALL_CITY,
    DecisionForm,
    StaffLoginForm,
    StaffSearchForm,
    StaffStatsForm,
    StaffTotpForm,
)
from epermit.htmx import render_page
from epermit.models import Staff
from epermit.services import objection_decisions as decisions
from epermit.services import staff as service
from epermit.services import staff_auth
from epermit.views._common import client_address, commit_and_deliver, dbs

bp = Blueprint("staff", __name__, url_prefix="/staff")

# Pages open without a staff session (each still refuses a holder's session).
OPEN = {"staff.login", "staff.totp"}
# How long the password step is good for before the TOTP must be given.
PENDING_SECONDS = 300


def current_staff() -> Staff | None:
    """The signed-in staff member, or None; an idle, signed-out or disabled one is
    forgotten here, once per request."""
    if "staff" not in g:
        staff = None
        staff_id = session.get("staff_id")
        if staff_id is not None:
            moment = clock.epoch()
            idle = moment - session.get("staff_seen", 0)
            staff = dbs().get(Staff, staff_id)
            if (
                staff is None
                or staff.disabled
                or staff.session_epoch != session.get("staff_epoch")
                or idle > current_app.config["STAFF_IDLE_SECONDS"]
            ):
                g.staff_expired = staff is not None and idle > current_app.config[
                    "STAFF_IDLE_SECONDS"
                ]
                session.clear()
                staff = None
            else:
                session["staff_seen"] = moment
        g.staff = staff
    return g.staff


def signed_in_staff() -> Staff:
    staff = current_staff()
    assert staff is not None, "only behind the staff guard"
    return staff


def staff_acting() -> StaffActing:
    if "staff_acting" not in g:
        now = clock.now()
        g.staff_acting = StaffActing(
            staff=signed_in_staff(),
            now=now,
            today=clock.local(now).date(),
            client_address=client_address(),
        )
    return g.staff_acting


@bp.before_request
def _guard() -> BaseResponse | None:
    if "person_id" in session:
        # A holder's session never opens a staff page, not even the sign-in (SPEC 12.1).
        abort(404)
    if current_staff() is None and request.endpoint not in OPEN:
        expired = "1" if g.get("staff_expired") else None
        return redirect(url_for("staff.login", expired=expired), 303)
    return None


@bp.after_request
def _private(response: Response) -> Response:
    # Police data: never cached anywhere, never indexed (with the robots meta of the layout).
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.app_context_processor
def _staff_context() -> dict[str, Any]:
    return {"signed_in_staff": g.get("staff")}


def _page(template: str, **context: Any) -> Response:
    return render_page(template, **context)


# --- Sign-in ---------------------------------------------------------------------------------


def _refusal_message(error: staff_auth.StaffSignInRefused) -> str:
    if isinstance(error, staff_auth.AccountLocked):
        until = clock.local(error.until)
        return (
            f"连续{staff_auth.MAX_FAILURES}次输入错误，账户已锁定，"
            f"请于{until.hour:02d}:{until.minute:02d}后再试"
        )
    if isinstance(error, staff_auth.AccountDisabled):
        return "该账户已停用，不能登录。如有疑问，请联系所在单位的系统管理员"
    if isinstance(error, staff_auth.WrongTotp):
        return "动态验证码不正确或已使用，请查看身份验证器中最新的6位数字后重新输入"
    return "员工编号或密码不正确，请核对后重新输入"


# Per client address, beside each account's own lock: one address trying many staff numbers
# (password spraying) is slowed down too.
SIGN_IN_LIMIT = "20 per minute;200 per hour"


def _sign_in_limit() -> str:
    return str(current_app.config.get("STAFF_SIGN_IN_LIMIT", SIGN_IN_LIMIT))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_sign_in_limit, methods=["POST"])
def login() -> BaseResponse:
    form = StaffLoginForm(today=clock.today())
    expired = request.args.get("expired") == "1"
    if not form.validate_on_submit():
        return _page("staff/login.html", form=form, expired=expired)
    try:
        staff = staff_auth.check_password(
            dbs(),
            number=form.number.data or "",
            password=form.password.data or "",
            now=clock.now(),
            client_address=client_address(),
        )
    except staff_auth.StaffSignInRefused as error:
        dbs().commit()  # a failure must count
        field = "number" if isinstance(error, staff_auth.AccountDisabled) else "password"
        form.add_error(field, _refusal_message(error))
        return _page("staff/login.html", form=form, expired=False)
    dbs().commit()
    session.clear()
    session["staff_pending"] = staff.id
    session["staff_pending_at"] = clock.epoch()
    return redirect(url_for("staff.totp"), 303)


@bp.route("/login/totp", methods=["GET", "POST"])
@limiter.limit(_sign_in_limit, methods=["POST"])
def totp() -> BaseResponse:
    pending = session.get("staff_pending")
    if pending is None or clock.epoch() - session.get("staff_pending_at", 0) > PENDING_SECONDS:
        session.clear()
        return redirect(url_for("staff.login"), 303)
    form = StaffTotpForm(today=clock.today())
    if not form.validate_on_submit():
        return _page("staff/totp.html", form=form)
    try:
        staff = staff_auth.check_totp(
            dbs(),
            staff_id=pending,
            code=form.totp.data or "",
            now=clock.now(),
            client_address=client_address(),
        )
    except staff_auth.StaffSignInRefused as error:
        dbs().commit()
        if isinstance(error, staff_auth.AccountLocked | staff_auth.AccountDisabled):
            session.clear()
        form.add_error("totp", _refusal_message(error))
        return _page("staff/totp.html", form=form)
    dbs().commit()
    session.clear()
    session["staff_id"] = staff.id
    session["staff_epoch"] = staff.session_epoch
    session["staff_seen"] = clock.epoch()
    return redirect(url_for("staff.search"), 303)


@bp.post("/logout")
def logout() -> BaseResponse:
    staff_auth.sign_out(
        dbs(), staff_id=staff_acting().staff_id, now=clock.now(), client_address=client_address()
    )
    dbs().commit()
    session.clear()
    return redirect(url_for("staff.login", signed_out=1), 303)


# --- Search and the person page --------------------------------------------------------------


@bp.get("")
def index() -> BaseResponse:
    return redirect(url_for("staff.search"), 303)


@bp.get("/search")
@writes_on_get  # a search is an audit event
def search() -> BaseResponse:
    form = StaffSearchForm(request.args, today=clock.today())
    if "q" not in request.args:
        return _page("staff/search.html", form=form, searched=False)
    if form.validate():
        try:
            person_id = service.search(dbs(), staff_acting(), form.q.data or "")
        except service.UnrecognisedQuery:
            form.add_error("q", "无法识别，请输入完整的办件编号、18位公民身份号码或11位手机号码")
        except service.NoMatch:
            dbs().commit()
            form.add_error("q", "在您的辖区内没有找到与此匹配的人员，请核对后重新输入")
        else:
            dbs().commit()
            return redirect(url_for("staff.person", person_id=person_id), 303)
    return render_page("staff/search.html", status=422, form=form, searched=True)


@bp.get("/people/<int:person_id>")
@writes_on_get  # every staff view of a person is an audit event (SPEC 12.3)
def person(person_id: int) -> BaseResponse:
    try:
        dossier = service.dossier(dbs(), staff_acting(), person_id)
    except service.OutOfScope:
        abort(404)
    dbs().commit()
    return _page("staff/person.html", dossier=dossier, form=StaffSearchForm(today=clock.today()))


# --- Statistics ------------------------------------------------------------------------------


def _stats(download: bool) -> tuple[StaffStatsForm, service.Stats | None]:
    form = StaffStatsForm(request.args, today=clock.today())
    if not form.validate():
        return form, None
    today = staff_acting().today
    end = form.end.data or today
    start = form.start.data or end - timedelta(days=service.DEFAULT_DAYS - 1)
    if end < start:
        start = end
    stats = service.statistics(
        dbs(),
        staff_acting(),
        start=start,
        end=end,
        district=form.district.data or None,
        download=download,
    )
    dbs().commit()
    return form, stats


@bp.get("/stats")
@writes_on_get  # a view of the statistics is an audit event
def stats() -> BaseResponse:
    form, result = _stats(download=False)
    if result is None:
        return render_page("staff/stats.html", status=422, form=form, stats=None, chart=None)
    chart = charts.stacked_bars(
        [
            (f"{row.day.month}/{row.day.day}", [row.group(name) for name in service.GROUPS])
            for row in result.by_day
        ]
    )
    query = {
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "district": result.district or ALL_CITY,
    }
    return _page(
        "staff/stats.html",
        form=form,
        stats=result,
        chart=chart,
        csv_url=url_for("staff.stats_csv") + "?" + urlencode(query),
        groups=list(service.GROUPS),
        metrics=service.METRICS,
    )


@bp.get("/stats.csv")
@writes_on_get
def stats_csv() -> BaseResponse:
    form, result = _stats(download=True)
    if result is None:
        return redirect(url_for("staff.stats") + "?" + urlencode(request.args), 303)
    body = render_template("staff/stats.csv", stats=result, metrics=service.METRICS)
    filename = f"stats-{result.start:%Y%m%d}-{result.end:%Y%m%d}.csv"
    # With a BOM, so that Excel and WPS open the Chinese header as UTF-8.
    return Response(
        "\ufeff" + body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- Objections (SPEC 12.4) ------------------------------------------------------------------


@bp.get("/objections")
@writes_on_get  # a view of the queue is an audit event
def objections() -> BaseResponse:
    entries = decisions.pending(dbs(), staff_acting())
    dbs().commit()
    return _page("staff/objections.html", entries=entries)


def _decision_message(error: decisions.DecisionRefused) -> str:
    if isinstance(error, decisions.AlreadyDecided):
        return "该异议已经处理过，不能再次处理。处理结果见本页"
    if isinstance(error, decisions.PermitReplaced):
        return "此人已重新申领居住证，不能撤销原注销，请选择“维持注销”并说明情况"
    if isinstance(error, decisions.NoteTooLong):
        return f"处理说明不能超过{error.max_chars}个字"
    return "请填写处理说明"


@bp.route("/objections/<int:objection_id>", methods=["GET", "POST"])
@writes_on_get  # a view of an objection is an audit event
def objection(objection_id: int) -> BaseResponse:
    form = DecisionForm(today=clock.today())
    if form.validate_on_submit():
        try:
            decisions.decide(
                dbs(),
                staff_acting(),
                objection_id=objection_id,
                decision=form.decision.data or "",
                note=form.note.data or "",
            )
        except service.OutOfScope:
            abort(404)
        except decisions.DecisionRefused as error:
            dbs().rollback()
            note_error = isinstance(error, decisions.NoteMissing | decisions.NoteTooLong)
            form.add_error("note" if note_error else "decision", _decision_message(error))
            status = 409 if isinstance(error, decisions.AlreadyDecided) else 422
        else:
            commit_and_deliver()
            flash("decided", "staff")
            return redirect(url_for("staff.objection", objection_id=objection_id), 303)
    else:
        status = None
    try:
        found = decisions.entry(dbs(), staff_acting(), objection_id)
    except service.OutOfScope:
        abort(404)
    dbs().commit()
    return render_page("staff/objection.html", status=status, form=form, found=found)
