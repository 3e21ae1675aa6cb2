"""Staff sign-in (SPEC 12.1): password then TOTP, lockout, disabled accounts, and staff
sessions kept apart from holders'."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from epermit import demo
from epermit.models import AuditEvent, Staff
from tests.staff_helpers import StaffAuth, totp_at

WRONG = "员工编号或密码不正确，请核对后重新输入"


@pytest.fixture
def staff_auth(client, clock) -> StaffAuth:
    return StaffAuth(client, clock)


def test_officer_signs_in_with_password_then_totp(client_request, staff_auth):
    first = staff_auth.password("王警官")
    assert first.status_code == 303 and first.headers["Location"] == "/staff/login/totp"
    page = client_request.get("/staff/login/totp")
    assert page.h1 == "输入动态验证码"
    staff_auth.totp(totp_at("王警官", staff_auth.clock()))
    page = client_request.get("/staff/search")
    assert page.h1 == "查询人员"
    assert "王警官（天河区）已登录" in page.text(".account")


def test_wrong_password_and_unknown_number_get_the_same_answer(client_request, staff_auth):
    wrong = client_request.post(
        "/staff/login", {"number": demo.staff("王警官").number, "password": "guess"}, 422
    )
    unknown = client_request.post("/staff/login", {"number": "999999999", "password": "guess"}, 422)
    assert wrong.errors() == unknown.errors() == {"password": WRONG}
    assert wrong.soup.select_one("#password")["value"] == ""  # never drawn back


def test_empty_fields_are_named(client_request):
    page = client_request.post("/staff/login", {"number": "", "password": ""}, 422)
    assert page.errors() == {"number": "请输入员工编号", "password": "请输入密码"}
    assert page.soup.title.get_text().startswith("错误: ")


def test_five_failures_lock_the_account_for_fifteen_minutes(client_request, staff_auth, clock):
    number = demo.staff("王警官").number
    for _ in range(4):
        client_request.post("/staff/login", {"number": number, "password": "guess"}, 422)
    fifth = client_request.post("/staff/login", {"number": number, "password": "guess"}, 422)
    assert "账户已锁定" in fifth.errors()["password"]
    # Locked: even the right password is refused, and nothing about it is checked.
    right = staff_auth.password("王警官")
    assert right.status_code == 422 and "账户已锁定" in right.get_data(as_text=True)
    clock.advance(minutes=14)
    assert staff_auth.password("王警官").status_code == 422
    clock.advance(minutes=1, seconds=1)
    staff_auth.login("王警官")


def test_wrong_totp_codes_count_towards_the_lock(client_request, staff_auth, dbsession):
    staff_auth.password("王警官")
    for _ in range(4):
        page = client_request.post("/staff/login/totp", {"totp": "000000"}, 422)
        assert page.errors() == {
            "totp": "动态验证码不正确或已使用，请查看身份验证器中最新的6位数字后重新输入"
        }
    page = client_request.post("/staff/login/totp", {"totp": "000000"}, 422)
    assert "账户已锁定" in page.errors()["totp"]
    staff = dbsession.exec(select(Staff).where(Staff.number == demo.staff("王警官").number)).one()
    assert staff.locked_until is not None


def test_a_totp_code_signs_in_once(client, clock):
    first = StaffAuth(client, clock)
    first.login("王警官")
    code = totp_at("王警官", clock())
    other = client.application.test_client()
    again = StaffAuth(other, clock)
    assert again.password("王警官").status_code == 303
    replay = again.totp(code)
    assert replay.status_code == 422 and "已使用" in replay.get_data(as_text=True)


def test_totp_allows_one_step_of_drift_and_no_more(client_request, staff_auth, clock):
    staff_auth.password("王警官")
    too_old = totp_at("王警官", clock() - timedelta(seconds=60))
    assert staff_auth.totp(too_old).status_code == 422
    one_step_old = totp_at("王警官", clock() - timedelta(seconds=30))
    assert staff_auth.totp(one_step_old).status_code == 303


def test_disabled_account_is_refused_after_the_right_password(
    client_request, staff_auth, dbsession
):
    staff = dbsession.exec(select(Staff).where(Staff.number == demo.staff("王警官").number)).one()
    staff.disabled = True
    dbsession.commit()
    page = client_request.post(
        "/staff/login", {"number": staff.number, "password": demo.STAFF_PASSWORD}, 422
    )
    assert page.errors() == {"number": "该账户已停用，不能登录。如有疑问，请联系所在单位的系统管理员"}
    # With a wrong password it says no more than for anyone else.
    page = client_request.post("/staff/login", {"number": staff.number, "password": "x"}, 422)
    assert page.errors() == {"password": WRONG}


def test_disabling_an_account_ends_its_open_session(client_request, staff_auth, dbsession):
    staff_auth.login("王警官")
    staff = dbsession.exec(select(Staff).where(Staff.number == demo.staff("王警官").number)).one()
    staff.disabled = True
    dbsession.commit()
    page = client_request.get("/staff/search", 303)
    assert page.location.startswith("/staff/login")


def test_holder_session_opens_no_staff_page(client_request, auth):
    auth.login("张伟")
    for url in ("/staff", "/staff/login", "/staff/search", "/staff/stats", "/staff/people/1"):
        page = client_request.get(url, 404)
        assert page.h1 == "找不到页面"


def test_staff_session_opens_no_holder_page(client_request, staff_auth):
    staff_auth.login("王警官")
    for url in ("/permit", "/cases", "/family"):
        page = client_request.get(url, 303)
        assert page.location.startswith("/login")


def test_holder_sign_in_ends_the_staff_session(client_request, staff_auth, auth):
    staff_auth.login("王警官")
    auth.login("张伟")
    assert client_request.get("/staff/search", 404).h1 == "找不到页面"


def test_staff_session_ends_after_fifteen_minutes_idle(client_request, staff_auth, clock):
    staff_auth.login("王警官")
    clock.advance(minutes=14)
    client_request.get("/staff/search")
    clock.advance(minutes=14)
    client_request.get("/staff/search")  # activity keeps it open
    clock.advance(minutes=15, seconds=1)
    page = client_request.get("/staff/search", 303)
    assert page.location == "/staff/login?expired=1"
    page = client_request.get(page.location)
    assert "已自动退出" in page.main_text


def test_sign_out_ends_every_copy_of_the_cookie(client, client_request, staff_auth):
    staff_auth.login("王警官")
    kept = client.get_cookie("session")
    assert kept is not None
    client_request.post("/staff/logout", {}, csrf=True)
    client.set_cookie("session", kept.value)
    assert client_request.get("/staff/search", 303).location.startswith("/staff/login")


def test_sign_in_and_failures_are_audited(client_request, staff_auth, dbsession):
    client_request.post("/staff/login", {"number": demo.staff("王警官").number, "password": "x"}, 422)
    staff_auth.login("王警官")
    actions = [e.action for e in dbsession.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]
    assert actions[-2:] == ["staff_sign_in_failed", "staff_signed_in"]


def test_create_staff_prints_a_password_and_secret_that_sign_in(app, client, clock):
    result = app.test_cli_runner().invoke(
        args=["create-staff", "--number", "440106009", "--name", "李警官", "--role", "officer",
              "--district", "天河区"]
    )
    assert result.exit_code == 0, result.output
    password = result.output.split("one-time password: ")[1].split()[0]
    secret = result.output.split("TOTP secret (base32, 30 s, 6 digits): ")[1].split()[0]
    import pyotp

    from tests.staff_helpers import csrf_of

    token = csrf_of(client)
    answer = client.post(
        "/staff/login", data={"number": "440106009", "password": password, "csrf_token": token}
    )
    assert answer.status_code == 303
    token = csrf_of(client, "/staff/login/totp")
    answer = client.post(
        "/staff/login/totp", data={"totp": pyotp.TOTP(secret).at(clock()), "csrf_token": token}
    )
    assert answer.status_code == 303 and answer.headers["Location"] == "/staff/search"


def test_create_staff_refuses_an_officer_without_a_district(app):
    result = app.test_cli_runner().invoke(
        args=["create-staff", "--number", "440106010", "--name", "李警官", "--role", "officer"]
    )
    assert result.exit_code != 0 and "an officer needs one of the districts" in result.output


# An hour's window: the suite on a loaded machine may take more than a minute for 20 tries.
@pytest.mark.app_config(STAFF_SIGN_IN_LIMIT="5 per hour")
def test_one_address_trying_many_staff_numbers_is_slowed_down(client_request):
    for n in range(5):
        client_request.post("/staff/login", {"number": f"99999{n:04d}", "password": "x"}, 422)
    page = client_request.post("/staff/login", {"number": "999990099", "password": "x"}, 429)
    assert page.h1 == "操作过于频繁"
