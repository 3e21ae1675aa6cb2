"""Every page on the narrowest phone SPEC 8 names (320 px), JavaScript off: no horizontal
scrolling, nothing spilling out of its box, 24 px tap targets, zero axe violations, error
states included. The journeys themselves are walked by keyboard in the other modules; here
the point is each page's layout, so fields are filled directly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect
from sqlmodel import select

from epermit.models import Permit, Person
from epermit.services import permit_code
from tests.browser.helpers import assert_accessible, without_javascript

NARROW: ViewportSize = {"width": 320, "height": 640}


@pytest.fixture
def narrow(browser: Browser, live_server: str) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_server, viewport=NARROW, java_script_enabled=False, locale="zh-CN"
    )
    page = context.new_page()
    without_javascript(page)
    yield page
    context.close()


def submit(page: Page) -> None:
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()


def looks_right(page: Page, heading: str) -> None:
    expect(page.locator("h1")).to_have_text(heading)
    assert_accessible(page, f"narrow-{heading}")


def sign_in(page: Page, outbox, phone: str) -> None:
    page.goto("/login")
    page.fill("#phone", phone)
    submit(page)
    page.fill("#code", outbox.last_code(phone))
    submit(page)
    page.wait_for_url("**/permit")


def test_holder_pages_fit_a_320px_screen(narrow, outbox, clock):
    page = narrow
    page.goto("/")
    looks_right(page, "广东省电子居住证网上办理")
    page.goto("/login")
    submit(page)
    looks_right(page, "登录")
    page.fill("#phone", "13800000001")
    submit(page)
    page.fill("#code", "12345")
    submit(page)
    looks_right(page, "输入短信验证码")
    page.fill("#code", outbox.last_code("13800000001"))
    submit(page)
    looks_right(page, "我的居住证")
    page.goto("/permit/code")
    looks_right(page, "张伟的居住证二维码")
    page.goto("/family")
    looks_right(page, "家庭成员")
    page.goto("/family/add")
    submit(page)
    looks_right(page, "添加家庭成员")

    # 签注 for another person, with every applicant field refused at once, then for oneself.
    page.goto("/endorse")
    page.check("#for_whom-1")
    submit(page)
    page.fill("#agent_name", "")
    page.fill("#applicant_id_number", "43010219900307123")
    submit(page)
    expect(page.locator(".error-summary")).to_be_visible()
    looks_right(page, "代办人和申请人信息")
    page.go_back()
    page.go_back()
    page.check("#for_whom")
    submit(page)
    page.check("#address_unchanged")
    submit(page)
    submit(page)  # without the declaration: check answers in its error state
    expect(page.locator(".error-summary")).to_be_visible()
    looks_right(page, "检查您的签注申请")
    page.check("#declaration")
    submit(page)
    looks_right(page, "签注已办理")
    reference = page.locator("#reference").inner_text()
    page.goto("/cases")
    looks_right(page, "办件记录")
    page.goto(f"/cases/{reference}")
    looks_right(page, f"办件回执 {reference}")
    page.goto("/no-such-page")
    looks_right(page, "找不到页面")


def test_declarant_and_verifier_pages_fit_a_320px_screen(narrow, outbox, clock, app, dbsession):
    page = narrow
    sign_in(page, outbox, "13800000011")  # 黄丽, operator of 张伟's employer
    looks_right(page, "我的居住证")
    page.goto("/deregister")
    page.check("input[name=declarant_role][value=employer]")
    submit(page)
    page.fill("#org_name", "广州示例科技有限公司")
    page.fill("#org_uscc", "91440106MA5ABC1200")
    submit(page)
    looks_right(page, "申报单位信息")
    page.fill("#org_uscc", "91440106MA5ABC120A")
    submit(page)
    page.fill("#applicant_name", "张伟")
    page.fill("#applicant_id_number", "430102199003071234")
    submit(page)
    page.check("input[name=reason][value=left_job]")
    page.fill("#leave_date", (clock.today + timedelta(days=3)).isoformat())
    submit(page)
    looks_right(page, "注销原因和离开日期")
    page.fill("#leave_date", clock.today.isoformat())
    submit(page)
    looks_right(page, "检查您的注销申报")
    page.check("#declaration")
    submit(page)
    looks_right(page, "居住证已注销")

    # What a verifier sees after scanning: a deregistered permit, then a broken code.
    zhang = dbsession.exec(select(Person).where(Person.name == "张伟")).one()
    permit = dbsession.exec(select(Permit).where(Permit.person_id == zhang.id)).one()
    token = permit_code.make_token(permit.id, clock(), app.config["SECRET_KEY"])
    page.goto(f"/v/{token}")
    looks_right(page, "居住证核验结果")
    expect(page.locator("#status")).to_have_text("已注销")
    page.goto(f"/v/{token[:-2]}xx")
    looks_right(page, "二维码无效")
