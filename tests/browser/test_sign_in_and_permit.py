"""Sign-in and the permit page in a real browser, keyboard only, JS on and off, axe-clean."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.helpers import (
    assert_accessible,
    keyboard_submit,
    login,
    settle,
    tab_to,
    type_into,
)
from tests.browser.test_family_and_code import read_qr


def test_start_page_is_accessible(page, js):
    page.goto("/")
    assert page.locator("h1").inner_text() == "广东省电子居住证网上办理"
    assert_accessible(page, f"start-{js}")


def test_sign_in_with_keyboard_then_permit_shows_due(page, js, outbox):
    page.goto("/login")
    assert_accessible(page, f"login-{js}")
    type_into(page, "#phone", "138 0000 0001")
    keyboard_submit(page, js)
    page.wait_for_url("**/login/verify")
    assert_accessible(page, f"verify-{js}")
    type_into(page, "#code", outbox.last_code("13800000001"))
    keyboard_submit(page, js)
    page.wait_for_url("**/permit")
    assert page.locator("#status").inner_text() == "待签注"
    assert page.title().startswith("我的居住证")
    # The live code beside the card scans to this permit's verification page.
    url = read_qr(page)
    assert url.startswith("http://localhost/v/")  # the configured PUBLIC_BASE_URL
    page.goto(url.removeprefix("http://localhost"))
    expect(page.locator("h1")).to_have_text("居住证核验结果")
    expect(page.locator("#holder-name")).to_have_text("张*")
    page.go_back()
    assert_accessible(page, f"permit-{js}")


def test_wrong_phone_shows_error_summary_with_keyboard(page, js):
    page.goto("/login")
    type_into(page, "#phone", "12345")
    keyboard_submit(page, js)
    summary = page.locator(".error-summary")
    summary.wait_for()
    assert "手机号码应为以1开头的11位数字" in summary.inner_text()
    assert page.title().startswith("错误: ")
    assert page.locator("#phone").get_attribute("aria-invalid") == "true"
    focused = page.evaluate("document.activeElement.className")
    assert focused == "error-summary"
    assert_accessible(page, f"login-error-{js}")


def test_suspended_and_deregistered_permits_read_true(page, js, outbox):
    login(page, js, "13800000003", outbox)
    assert page.locator("#status").inner_text() == "使用功能中止"
    assert_accessible(page, f"permit-suspended-{js}")


def test_htmx_swaps_only_main_and_focuses_heading(page, js, outbox):
    login(page, js, "13800000003", outbox)
    page.evaluate("document.querySelector('header').dataset.kept = 'yes'")
    tab_to(page, 'nav a[href="/permit"]')
    page.keyboard.press("Enter")
    settle(page, js)
    page.locator("h1").wait_for()
    kept = page.evaluate("document.querySelector('header').dataset.kept")
    if js:
        # Only <main> was swapped: the header is the same element, and focus is on the h1.
        assert kept == "yes"
        expect(page.locator("h1")).to_be_focused()
    else:
        assert kept is None
    assert page.title() == "我的居住证 - 广东省电子居住证"


def test_idle_warning_appears_before_sign_out_and_can_be_dismissed(app, page, js, outbox):
    app.config["SESSION_IDLE_SECONDS"] = 40  # the warning comes at half of so short a limit
    login(page, js, "13800000001", outbox)
    if not js:
        # Without JavaScript the page says the limit, and the time, up front instead.
        expect(page.locator("#session-ends")).to_contain_text("没有操作将自动退出登录")
        expect(page.locator("#session-warning")).not_to_be_visible()
        return
    warning = page.locator("dialog#session-warning")
    expect(warning).to_be_visible(timeout=30_000)
    expect(warning).to_contain_text("分钟后将自动退出登录")
    expect(page.locator("#session-warning-title")).to_be_focused()
    assert_accessible(page, "idle-warning")
    page.keyboard.press("Tab")
    expect(warning.get_by_role("button", name="继续使用")).to_be_focused()
    page.keyboard.press("Enter")
    expect(warning).not_to_be_visible()
    expect(page.locator("h1")).to_have_text("我的居住证")
    assert page.url.endswith("/permit")
