"""The permit page shows the holder's card, the true status and the actions it allows."""

from __future__ import annotations

from datetime import timedelta

from epermit import demo


def cn(d):
    return f"{d.year}年{d.month}月{d.day}日"


def test_zhang_wei_is_due_with_valid_until_in_ten_days(client_request, auth, clock):
    auth.login("张伟")
    page = client_request.get("/permit")
    assert page.text("#status") == "待签注"
    valid_until = clock.today + timedelta(days=10)
    assert page.text("#valid-until") == cn(valid_until)
    assert page.soup.select_one("#valid-until time")["datetime"] == valid_until.isoformat()
    # For himself by the button in the status box (it answers the wizard's first question).
    button = page.soup.select_one('.status form[action="/endorse"]')
    assert button.button.get_text() == "办理签注"
    assert button.select_one("input[name=for_whom]")["value"] == "self"
    assert page.soup.select_one('a[href="/deregister"]') is not None


def test_card_shows_masked_id_and_registration(client_request, auth):
    auth.login("张伟")
    page = client_request.get("/permit")
    card = page.text(".permit-card")
    # Shown in groups that wrap, read out in words (issue 10).
    assert "4301 ***** ***** 1234" in card and "4301开头、1234结尾，中间10位已隐藏" in card
    assert demo.person("张伟").id_number not in page.response.get_data(as_text=True)
    assert "广州市天河区天河路100号1201房" in card
    assert "广州市公安局天河分局" in card


def test_permit_page_shows_the_live_code_beside_the_card(client_request, auth, clock):
    auth.login("张伟")
    page = client_request.get("/permit")
    code = page.soup.select_one("#permit-code")
    assert code["role"] == "img" and "张伟的居住证核验二维码" in code["aria-label"]
    assert code.select_one("svg path") is not None
    live = page.soup.select_one("#permit-code-live")
    assert live["hx-get"] == "/permit/code/live" and live["hx-trigger"] == "every 60s"
    made = page.soup.select_one(".code-time time")
    assert made["datetime"].startswith(clock.today.isoformat())
    # Without JavaScript, reloading the page is the refresh.
    assert page.soup.find("a", string="刷新二维码")["href"] == "/permit"


def test_wang_fang_is_suspended_and_offered_late_endorsement(client_request, auth):
    auth.login("王芳")
    page = client_request.get("/permit")
    assert page.text("#status") == "使用功能中止"
    assert page.soup.select_one('.status form[action="/endorse"] button').get_text() == "补办签注"
    assert page.soup.select_one('a[href="/permit/code"]') is None
    assert page.soup.select_one("#permit-code") is None
    assert "补办签注后即可恢复使用" in page.main_text


def test_liu_yang_is_deregistered_with_no_endorsement_or_deregistration(
    client_request, auth, clock
):
    auth.login("刘洋")
    page = client_request.get("/permit")
    assert page.text("#status") == "已注销"
    assert page.soup.select_one('a[href="/endorse"], form[action="/endorse"]') is None
    assert page.soup.select_one('a[href="/deregister"]') is None
    assert "派出所重新申领" in page.main_text
    declared = page.soup.find("dt", string="注销日期").find_next_sibling("dd")
    left = page.soup.find("dt", string="离开日期").find_next_sibling("dd")
    # The demo deregistration was declared 30 days ago, on the day he left.
    assert (
        declared.time["datetime"]
        == left.time["datetime"]
        == (clock.today - timedelta(days=30)).isoformat()
    )


def test_li_na_is_valid_and_told_when_endorsement_opens(client_request, auth, clock):
    auth.login("李娜")
    page = client_request.get("/permit")
    assert page.text("#status") == "有效"
    assert page.soup.select_one('a[href="/endorse"], form[action="/endorse"]') is None
    assert page.soup.select_one('a[href="/permit/code"]') is not None


def test_status_follows_the_clock_not_a_stored_flag(client_request, auth, clock):
    auth.login("李娜")
    clock.advance(days=201)
    auth.login("李娜")
    assert client_request.get("/permit").text("#status") == "使用功能中止"


def test_person_without_permit_is_told_where_to_apply(client_request, auth):
    auth.login("陈军")
    page = client_request.get("/permit")
    assert "名下没有广东省居住证" in page.main_text
    assert page.soup.select_one("#status") is None


def test_permit_page_needs_sign_in(client_request):
    answer = client_request.get("/permit", expected_status=303)
    assert answer.location.startswith("/login?next=/permit")


def test_htmx_request_gets_only_main(client_request, auth):
    auth.login("张伟")
    page = client_request.get("/permit", htmx=True)
    assert page.soup.title.get_text() == "我的居住证 - 广东省电子居住证"
    assert page.soup.select_one("header") is None and page.soup.select_one("h1")
    assert page.response.headers["Vary"].count("HX-Request") == 1


def test_history_restore_gets_the_full_page(client, auth):
    auth.login("张伟")
    html = client.get(
        "/permit", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    ).get_data(as_text=True)
    assert html.startswith("<!doctype html>")
