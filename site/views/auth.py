"""Sign-in by phone and SMS code, sign-out and the idle-session warning (SPEC 5)."""

from __future__ import annotations

import re
import secrets

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from epermit import clock
from epermit.devices import coarse_device
from epermit.extensions import limiter, phone_key
from epermit.forms import TOO_OFTEN, LoginForm, VerifyForm, code_error
from epermit.htmx import current_path, is_partial, render_page
from epermit.services import auth, codes
from epermit.sql import saved_id
from epermit.views._common import client_address, commit_and_deliver, current_person, dbs

bp = Blueprint("auth", __name__)

CLIENT_LIMIT = "20 per minute;200 per hour"
PHONE_LIMIT = "10 per hour"
VERIFY_LIMIT = "30 per minute"


# The characters of this site's own paths and queries. Browsers drop tabs and newlines from
# a Location ("/\t/evil.example" becomes "//evil.example"), and read "\\" as "/", so anything
# else is refused rather than cleaned.
_OWN_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9/_.~%=&?-]*")


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect, never a header that cannot be sent."""
    if target and _OWN_PATH.fullmatch(target):
        return target.rstrip("?")
    return url_for("permit.show")


@bp.errorhandler(429)
def _too_many(_error: Exception) -> Response:
    """Rate limits answer next to the field, like any other refusal (SPEC 3.5)."""
    if request.endpoint == "auth.verify" and session.get("login_phone"):
        verify_form = VerifyForm(today=clock.today())
        verify_form.code.errors = [TOO_OFTEN]
        phone = session["login_phone"]
        return render_page(
            "auth/verify.html",
            status=429,
            form=verify_form,
            phone=phone,
            masked_phone=phone[:3] + "****" + phone[-4:],
            resend_wait=None,
        )
    form = LoginForm(today=clock.today())
    form.phone.errors = [TOO_OFTEN]
    return render_page("auth/login.html", status=429, form=form, expired=False)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(CLIENT_LIMIT, methods=["POST"])
# Only requests that issued a code count against the phone: someone else resubmitting its
# number (answered "too soon") does not use up its owner's sign-ins.
@limiter.limit(
    PHONE_LIMIT,
    key_func=phone_key,
    methods=["POST"],
    deduct_when=lambda _response: g.get("code_issued", False),
)
def login() -> BaseResponse:
    form = LoginForm(today=clock.today())
    expired = request.args.get("expired") == "1"
    if not form.validate_on_submit():
        return render_page("auth/login.html", form=form, expired=expired)
    phone = form.phone.data
    assert phone is not None  # a required field that validated
    browser = session.setdefault("login_browser", secrets.token_urlsafe(12))
    try:
        auth.request_code(
            dbs(),
            phone=phone,
            browser=browser,
            now=clock.now(),
            secret=current_app.config["SECRET_KEY"],
            ttl_seconds=current_app.config["CODE_TTL_SECONDS"],
            client_address=client_address(),
        )
        commit_and_deliver()
        g.code_issued = True
        session.pop("resend_wait", None)
    except codes.ResendTooSoon as wait:
        dbs().rollback()
        session["resend_wait"] = wait.wait_seconds
    session["login_phone"] = phone
    session["login_next"] = _safe_next(request.args.get("next"))
    return redirect(url_for("auth.verify"), 303)


@bp.route("/login/verify", methods=["GET", "POST"])
@limiter.limit(VERIFY_LIMIT, methods=["POST"])
def verify() -> BaseResponse:
    phone = session.get("login_phone")
    if not phone:
        return redirect(url_for("auth.login"), 303)
    form = VerifyForm(today=clock.today())
    context = {
        "masked_phone": phone[:3] + "****" + phone[-4:],
        "phone": phone,
        "resend_wait": session.get("resend_wait"),
    }
    if not form.validate_on_submit():
        return render_page("auth/verify.html", form=form, **context)
    code = form.code.data
    assert code is not None  # a required field that validated
    try:
        person = auth.verify_code(
            dbs(),
            phone=phone,
            browser=session.get("login_browser", ""),
            code=code,
            now=clock.now(),
            secret=current_app.config["SECRET_KEY"],
            client_address=client_address(),
            device=coarse_device(request.headers.get("User-Agent")),
        )
    except codes.CodeError as error:
        dbs().commit()  # a wrong try must count
        form.code.errors = [code_error(error, resend="重新获取验证码")]
        return render_page("auth/verify.html", form=form, **context)
    dbs().commit()
    target = session.get("login_next") or url_for("permit.show")
    session.clear()
    session["person_id"] = person.id
    session["epoch"] = person.session_epoch
    session["seen"] = clock.epoch()
    return redirect(target, 303)


@bp.post("/logout")
def logout() -> BaseResponse:
    person = current_person()
    if person is not None:
        auth.sign_out(
            dbs(), person_id=saved_id(person), now=clock.now(), client_address=client_address()
        )
        dbs().commit()
    session.clear()
    return redirect(url_for("main.index", signed_out=1), 303)


@bp.get("/session/warning")
def session_warning() -> BaseResponse:
    """Fetched by htmx shortly before the idle limit; not counted as activity."""
    if not is_partial():
        return redirect(url_for("permit.show"), 303)
    return Response(
        render_template(
            "auth/_session_warning.html",
            signed_in=current_person() is not None,
            back=current_path(default=url_for("permit.show")),
        )
    )


@bp.post("/session/extend")
def session_extend() -> BaseResponse:
    # Reaching here already counted as activity (security._expire_idle_session).
    back = request.form.get("back")
    return redirect(_safe_next(back) if current_person() else url_for("auth.login"), 303)
