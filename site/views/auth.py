"""Sign-in by phone and SMS code, sign-out and the idle-session warning (SPEC 5)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    request,
    session,
    url_for,
)
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RoutingException
from werkzeug.wrappers import Response as BaseResponse

from epermit import clock
from epermit.devices import coarse_device
from epermit.extensions import limiter
from epermit.forms import TOO_OFTEN, LoginForm, VerifyForm, code_error
from epermit.htmx import follow, render_page
from epermit.services import auth, codes
from epermit.sql import saved_id
from epermit.views._common import client_address, commit_and_deliver, current_person, dbs

bp = Blueprint("auth", __name__)

# Per client address, only on these anonymous pages, and high: many people share an address
# behind carrier-grade NAT. What stops a phone being flooded or its owner locked out are the
# per-phone and per-browser budgets of services.auth; these only slow a single source down.
# Counted only for codes made and for codes refused, not for every submit.
CLIENT_LIMIT = "200 per minute;2000 per hour"
VERIFY_LIMIT = "300 per minute"

# A browser that signed in with a phone keeps a signed note of it (a keyed digest, not the
# number), so that its later requests use the phone's device budget, which strangers' requests
# never touch. At most a few phones per browser (a shared family computer).
DEVICE_COOKIE = "epermit_device"
DEVICE_COOKIE_DAYS = 365
DEVICES_KEPT = 3


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
            capped=False,
        )
    form = LoginForm(today=clock.today())
    form.phone.errors = [TOO_OFTEN]
    return render_page("auth/login.html", status=429, form=form, expired=False)


def _device_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="device")


def _device_digest(phone: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"device:{phone}".encode(), hashlib.sha256).hexdigest()[:20]


def _known_devices() -> list[str]:
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return []
    try:
        known = _device_serializer().loads(raw)
    except BadSignature:
        return []
    return [str(item) for item in known][:DEVICES_KEPT] if isinstance(known, list) else []


def _is_known_device(phone: str) -> bool:
    return _device_digest(phone) in _known_devices()


def _remember_device(response: BaseResponse, phone: str) -> None:
    digest = _device_digest(phone)
    known = [digest, *(item for item in _known_devices() if item != digest)][:DEVICES_KEPT]
    response.set_cookie(
        DEVICE_COOKIE,
        _device_serializer().dumps(known),
        max_age=int(timedelta(days=DEVICE_COOKIE_DAYS).total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    # A setting only so that tests of the proxy handling need not make 200 requests.
    lambda: current_app.config.get("LOGIN_ADDRESS_LIMIT", CLIENT_LIMIT),
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
    known_device = _is_known_device(phone)
    try:
        sent = auth.request_code(
            dbs(),
            phone=phone,
            browser=browser,
            known_device=known_device,
            now=clock.now(),
            secret=current_app.config["SECRET_KEY"],
            ttl_seconds=current_app.config["CODE_TTL_SECONDS"],
            client_address=client_address(),
        )
        # Registered number or not, the same delivery run: its time must not tell them apart.
        commit_and_deliver(always=True)
        g.code_issued = True
        session.pop("resend_wait", None)
        session["login_capped"] = not sent
    except codes.ResendTooSoon as wait:
        dbs().rollback()
        session["resend_wait"] = wait.wait_seconds
    except codes.TooManyCodes:
        # This browser asked for this phone too often; other browsers are not held back.
        dbs().rollback()
        form.phone.errors = [TOO_OFTEN]
        return render_page("auth/login.html", status=429, form=form, expired=False)
    session["login_device"] = known_device
    session["login_phone"] = phone
    session["login_next"] = _safe_next(request.args.get("next"))
    # With htmx the code page comes in the same round trip (epermit.htmx.follow); its form
    # is made only then (a redirect draws none).
    return follow(
        url_for("auth.verify"),
        lambda: _verify_page(VerifyForm(formdata=None, today=clock.today())),
    )


def _verify_page(form: VerifyForm) -> Response:
    phone = session["login_phone"]
    return render_page(
        "auth/verify.html",
        form=form,
        masked_phone=phone[:3] + "****" + phone[-4:],
        phone=phone,
        resend_wait=session.get("resend_wait"),
        capped=session.get("login_capped", False),
    )


@bp.route("/login/verify", methods=["GET", "POST"])
@limiter.limit(
    VERIFY_LIMIT, methods=["POST"], deduct_when=lambda _response: g.get("code_refused", False)
)
def verify() -> BaseResponse:
    phone = session.get("login_phone")
    if not phone:
        return redirect(url_for("auth.login"), 303)
    form = VerifyForm(today=clock.today())
    if not form.validate_on_submit():
        return _verify_page(form)
    code = form.code.data
    assert code is not None  # a required field that validated
    try:
        person = auth.verify_code(
            dbs(),
            phone=phone,
            browser=session.get("login_browser", ""),
            known_device=bool(session.get("login_device")),
            code=code,
            now=clock.now(),
            secret=current_app.config["SECRET_KEY"],
            client_address=client_address(),
            device=coarse_device(request.headers.get("User-Agent")),
        )
    except codes.CodeError as error:
        dbs().commit()  # a wrong try must count
        g.code_refused = True
        form.code.errors = [code_error(error, resend="重新获取验证码")]
        return _verify_page(form)
    dbs().commit()
    target = session.get("login_next") or url_for("permit.show")
    session.clear()
    # The token cached for this request was the cleared session's: forms on the page now
    # answered (epermit.htmx.follow) need one of the new session.
    g.pop("csrf_token", None)
    session["person_id"] = person.id
    session["epoch"] = person.session_epoch
    session["seen"] = clock.epoch()
    try:
        endpoint, args = current_app.url_map.bind("").match(target, method="GET")
    except (HTTPException, RoutingException):
        endpoint, args = None, {}
    if endpoint is None or "?" in target:
        response = redirect(target, 303)
    else:
        # With htmx the page signed in to comes in the same round trip, as a whole page
        # (its header names who is signed in); a target with a query keeps the redirect.
        view: Any = current_app.view_functions[endpoint]
        response = follow(
            target, lambda: current_app.make_response(view(**args)), whole_page=True
        )
    _remember_device(response, phone)
    return response


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


@bp.post("/session/extend")
def session_extend() -> BaseResponse:
    # Reaching here already counted as activity (security._expire_idle_session). The
    # warning's script asks with HX-Request and stays on its page: nothing typed is lost.
    if request.headers.get("HX-Request"):
        return Response(status=204 if current_person() else 401)
    back = request.form.get("back")
    return redirect(_safe_next(back) if current_person() else url_for("auth.login"), 303)
