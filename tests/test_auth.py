"""Sign-in by phone and SMS code, sessions and sign-out (SPEC 5)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from epermit import demo
from epermit.models import AuditEvent, OneTimeCode
from tests.conftest import csrf_token_of

PHONE = demo.phone("张伟")  # who signs in throughout


def start_login(client_request, phone=PHONE):
    return client_request.post("/login", {"phone": phone})


def test_sign_in_with_code_from_outbox_shows_own_permit(client_request, outbox):
    start_login(client_request)
    code = outbox.last_code(PHONE)
    assert len(code) == 6 and code.isdigit()
    answer = client_request.post("/login/verify", {"code": code})
    assert answer.location == "/permit"
    page = client_request.get("/permit")
    assert page.h1 == "我的居住证"
    assert "张伟已登录" in page.text("header")


def test_code_is_stored_hashed(client_request, outbox, dbsession):
    start_login(client_request)
    code = outbox.last_code(PHONE)
    row = dbsession.exec(select(OneTimeCode)).one()
    assert code not in row.code_hash and len(row.code_hash) == 64


def test_sms_outbox_line_has_the_spec_keys(client_request, outbox):
    start_login(client_request)
    message = outbox.messages(PHONE)[-1]
    assert set(message) == {"to", "text", "code", "at"}
    assert message["code"] in message["text"]


def test_phone_is_normalised_before_sending(client_request, outbox):
    start_login(client_request, "+86 138-0000-0001")
    assert outbox.last_code(PHONE)


def test_unknown_number_gets_the_same_answer_and_no_sms(client_request, outbox):
    known = start_login(client_request, PHONE)
    unknown = start_login(client_request, "13900000009")
    assert known.location == unknown.location == "/login/verify"
    page = client_request.get("/login/verify")
    assert "如果139****0009是已登记的手机号码" in page.main_text
    assert outbox.messages("13900000009") == []


def test_malformed_phone_gets_chinese_message_next_to_field(client_request):
    page = client_request.post("/login", {"phone": "12345"}, expected_status=422)
    assert page.errors() == {"phone": "手机号码应为以1开头的11位数字,如13800000000"}
    assert page.soup.select_one("#phone")["aria-invalid"] == "true"
    assert page.soup.select_one("#phone")["value"] == "12345"
    assert page.soup.title.get_text().startswith("错误: ")
    assert page.text(".error-summary h2") == "提交的信息有误"


def test_empty_phone_is_refused(client_request):
    page = client_request.post("/login", {"phone": ""}, expected_status=422)
    assert page.errors()["phone"] == "请输入手机号码"


def test_wrong_code_says_how_many_tries_remain(client_request, outbox):
    start_login(client_request)
    code = outbox.last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    page = client_request.post("/login/verify", {"code": wrong}, expected_status=422)
    assert page.errors()["code"] == "验证码不正确,请核对短信后重新输入(还可尝试4次)"


def test_five_wrong_tries_end_the_code(client_request, outbox):
    start_login(client_request)
    code = outbox.last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(4):
        client_request.post("/login/verify", {"code": wrong}, expected_status=422)
    page = client_request.post("/login/verify", {"code": wrong}, expected_status=422)
    assert "错误次数过多" in page.errors()["code"]
    page = client_request.post("/login/verify", {"code": code}, expected_status=422)
    assert "错误次数过多" in page.errors()["code"]
    assert client_request.client.get("/permit").status_code == 303


def test_expired_code_is_refused(client_request, outbox, clock):
    start_login(client_request)
    code = outbox.last_code(PHONE)
    clock.advance(seconds=301)
    page = client_request.post("/login/verify", {"code": code}, expected_status=422)
    assert page.errors()["code"] == "验证码已过期,请点击“重新获取验证码”"


def test_malformed_code_is_refused(client_request):
    start_login(client_request)
    page = client_request.post("/login/verify", {"code": "12ab"}, expected_status=422)
    assert page.errors()["code"] == "短信验证码应为6位数字,请查看短信后重新输入"


def test_full_width_code_is_accepted(client_request, outbox):
    start_login(client_request)
    code = outbox.last_code(PHONE)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in code)
    assert client_request.post("/login/verify", {"code": full_width}).location == "/permit"


def test_resend_waits_sixty_seconds(client_request, outbox, clock):
    start_login(client_request)
    start_login(client_request)
    assert len(outbox.messages(PHONE)) == 1
    page = client_request.get("/login/verify")
    assert "秒后重新获取" in page.main_text
    clock.advance(seconds=61)
    start_login(client_request)
    assert len(outbox.messages(PHONE)) == 2


def test_signing_in_again_right_after_signing_out_sends_a_new_code_at_once(
    client_request, auth, outbox
):
    auth.login("张伟")
    auth.logout()
    start_login(client_request)
    assert len(outbox.messages(PHONE)) == 2
    assert "秒后重新获取" not in client_request.get("/login/verify").main_text
    answer = client_request.post("/login/verify", {"code": outbox.last_code(PHONE)})
    assert answer.location == "/permit"


def test_five_wrong_tries_still_wait_for_the_next_code(client_request, outbox):
    start_login(client_request)
    for _ in range(5):
        client_request.post("/login/verify", {"code": "000000"}, expected_status=422)
    start_login(client_request)
    assert len(outbox.messages(PHONE)) == 1
    assert "秒后重新获取" in client_request.get("/login/verify").main_text


def test_someone_elses_wrong_guesses_do_not_end_my_code(app, client_request, outbox):
    start_login(client_request)
    mine = outbox.last_code(PHONE)
    stranger = app.test_client()
    token = csrf_token_of(stranger)
    stranger.post("/login", data={"phone": PHONE, "csrf_token": token})
    for _ in range(5):
        stranger.post("/login/verify", data={"code": "000000", "csrf_token": token})
    # The stranger only used up the code their own request made.
    answer = client_request.post("/login/verify", {"code": mine})
    assert answer.location == "/permit"


def test_resubmitting_someones_number_does_not_use_up_their_sign_ins(app, client_request, outbox):
    stranger = app.test_client()
    token = csrf_token_of(stranger)
    for _ in range(12):  # answered "too soon" after the first: no code, no count
        stranger.post("/login", data={"phone": PHONE, "csrf_token": token})
    assert len(outbox.messages(PHONE)) == 1
    answer = start_login(client_request)
    assert answer.location == "/login/verify"
    assert len(outbox.messages(PHONE)) == 2


def test_new_code_replaces_the_old_one(client_request, outbox, clock):
    start_login(client_request)
    old = outbox.last_code(PHONE)
    clock.advance(seconds=61)
    start_login(client_request)
    new = outbox.last_code(PHONE)
    if old != new:
        page = client_request.post("/login/verify", {"code": old}, expected_status=422)
        assert "code" in page.errors()
    assert client_request.post("/login/verify", {"code": new}).location == "/permit"


def test_sign_in_is_rate_limited_per_client_address(client_request):
    # 200 a minute: an order of magnitude above one person's needs, as a whole office or a
    # carrier's NAT may share the address (tests/test_sign_in_limits.py has the rest).
    token = csrf_token_of(client_request.client)
    for n in range(200):
        answer = client_request.client.post(
            "/login", data={"phone": f"1390000{n:04d}", "csrf_token": token}
        )
        assert answer.status_code == 303
    page = client_request.post("/login", {"phone": "13900009999"}, expected_status=429)
    assert "操作过于频繁" in page.errors()["phone"]


@pytest.mark.app_config(LOGIN_ADDRESS_LIMIT="20 per minute")
def test_forwarded_for_header_is_ignored_unless_a_proxy_is_trusted(client_request):
    # Otherwise anyone could dodge the per-address limit by inventing addresses.
    token = csrf_token_of(client_request.client)
    for n in range(20):
        client_request.client.post(
            "/login",
            data={"phone": f"1390000{n:04d}", "csrf_token": token},
            headers={"X-Forwarded-For": f"10.0.{n // 250}.{n % 250}"},
        )
    answer = client_request.client.post(
        "/login",
        data={"phone": "13900009999", "csrf_token": csrf_token_of(client_request.client)},
        headers={"X-Forwarded-For": "10.0.1.1"},
    )
    assert answer.status_code == 429


@pytest.mark.app_config(TRUSTED_PROXIES=1, LOGIN_ADDRESS_LIMIT="20 per minute")
def test_behind_a_trusted_proxy_each_client_has_its_own_address(client_request, dbsession):
    token = csrf_token_of(client_request.client)

    def login_from(address: str, phone: str) -> int:
        return client_request.client.post(
            "/login",
            data={"phone": phone, "csrf_token": token},
            # Over https Flask-WTF also wants a same-site Referer, as browsers send.
            headers={
                "X-Forwarded-For": address,
                "X-Forwarded-Proto": "https",
                "Referer": "https://localhost/login",
            },
        ).status_code

    for n in range(20):
        assert login_from("203.0.113.7", f"1390000{n:04d}") == 303
    assert login_from("203.0.113.7", "13900009999") == 429
    # Another person behind the same proxy is not held back by the first one's tries.
    assert login_from("198.51.100.2", PHONE) == 303
    event = dbsession.exec(select(AuditEvent).where(AuditEvent.action == "login_code_sent")).one()
    assert event.client_address == "198.51.100.2"


def test_post_without_csrf_token_is_refused(client_request):
    page = client_request.post("/login", {"phone": PHONE}, expected_status=400, csrf=False)
    assert page.h1 == "请求无法处理"


def test_session_cookie_is_httponly_and_lax(client, auth):
    auth.login("张伟")
    response = client.get("/permit")
    assert response.status_code == 200
    cookie = client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax"


def test_idle_session_ends_after_thirty_minutes(client_request, auth, clock):
    auth.login("张伟")
    clock.advance(minutes=29)
    assert client_request.get("/permit").h1 == "我的居住证"
    clock.advance(minutes=29)
    assert client_request.get("/permit").h1 == "我的居住证"
    clock.advance(minutes=31)
    answer = client_request.get("/permit", expected_status=303)
    assert "/login" in answer.location and "expired=1" in answer.location
    page = client_request.get(answer.location)
    assert "自动退出登录" in page.main_text


def test_warning_poll_does_not_keep_the_session_alive(client, auth, clock):
    auth.login("张伟")
    clock.advance(minutes=25)
    warning = client.get("/session/warning", headers={"HX-Request": "true"})
    assert "5分钟后将自动退出" in warning.get_data(as_text=True)
    clock.advance(minutes=6)
    assert client.get("/permit").status_code == 303


def test_pages_carry_the_idle_warning_poll(client_request, auth):
    auth.login("张伟")
    page = client_request.get("/permit")
    poll = page.soup.select_one("#session-warning")
    assert poll["hx-get"] == "/session/warning" and "delay:1500s" in poll["hx-trigger"]


def test_sign_out_ends_the_session(client_request, auth):
    auth.login("张伟")
    answer = client_request.post("/logout")
    assert answer.location == "/?signed_out=1"
    assert "/login" in client_request.get("/permit", expected_status=303).location


def test_a_cookie_kept_from_before_sign_out_signs_in_nobody(app, client_request, auth, dbsession):
    auth.login("张伟")
    kept = client_request.client.get_cookie("session").value  # copied, or stolen
    other_device = app.test_client()
    other_device.set_cookie("session", kept)
    assert other_device.get("/permit").status_code == 200
    client_request.post("/logout")
    # The server cannot delete cookies, but the copy no longer names anyone.
    for client in (other_device, app.test_client()):
        client.set_cookie("session", kept)
        answer = client.get("/permit")
        assert answer.status_code == 303 and answer.headers["Location"].startswith("/login")
    event = dbsession.exec(select(AuditEvent).where(AuditEvent.action == "signed_out")).one()
    assert event.client_address == "127.0.0.1"
    # Signing in again works as before.
    auth.login("张伟")
    assert client_request.get("/permit").h1 == "我的居住证"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "/\\evil.example/x",
        "https://evil.example/x",
        "/\t/evil.example/x",  # browsers drop the tab: //evil.example
        "/\n/evil.example/x",  # a newline cannot even go into a header
        "/%0d%0aSet-Cookie:x=1",
        "permit",
    ],
)
def test_next_is_never_offsite_or_broken(client_request, outbox, clock, target):
    client_request.post("/login", {"phone": PHONE})
    client_request.client.get("/login", query_string={"next": target})
    answer = client_request.client.post(
        "/login",
        query_string={"next": target},
        data={"phone": PHONE, "csrf_token": csrf_token_of(client_request.client)},
    )
    assert answer.status_code == 303
    answer = client_request.post("/login/verify", {"code": outbox.last_code(PHONE)})
    assert answer.location == "/permit"


def test_next_is_kept_through_sign_in(client_request, auth, outbox):
    draft = client_request.get("/endorse", expected_status=303)
    assert draft.location == "/login?next=/endorse"
    client_request.post("/login?next=/endorse/abc-_D9/who?change=1", {"phone": PHONE})
    answer = client_request.post("/login/verify", {"code": outbox.last_code(PHONE)})
    assert answer.location == "/endorse/abc-_D9/who?change=1"


def test_extending_a_session_goes_back_only_to_a_page_of_this_site(client_request, auth):
    auth.login("张伟")
    answer = client_request.post("/session/extend", {"back": "/\t/evil.example"})
    assert answer.location == "/permit"
    answer = client_request.post("/session/extend", {"back": "/family"})
    assert answer.location == "/family"


def test_failed_delivery_keeps_the_message_in_the_outbox(app, client_request, dbsession):
    from epermit.models import SmsOutbox

    app.config["SMS_BACKEND"] = "carrier-down"  # the sender cannot be built: delivery fails
    answer = start_login(client_request)
    assert answer.location == "/login/verify"
    dbsession.rollback()
    waiting = dbsession.exec(select(SmsOutbox).where(SmsOutbox.delivered_at.is_(None))).all()
    assert [m.to for m in waiting] == [PHONE]


def test_a_delivered_code_is_not_kept_readable_in_the_outbox_table(client_request, dbsession):
    from epermit.models import SmsOutbox

    start_login(client_request)
    dbsession.rollback()
    message = dbsession.exec(select(SmsOutbox)).one()
    assert message.delivered_at is not None and message.code is None
    assert "验证码为******" in message.text


def test_delivery_run_sends_each_message_once(app, client_request, outbox):
    from epermit.commands import deliver_outbox

    start_login(client_request)
    with app.app_context():
        assert deliver_outbox() == 0
    assert len(outbox.messages(PHONE)) == 1
