"""Issue 10 in a real browser: the idle-session warning, the QR in dark and forced colours,
200 % text on every page, a dropped connection, forced-colours button edges, 大字模式."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PHONE
from tests.browser.helpers import assert_accessible, login, settle, without_javascript

ZHANG_WEI = "13800000001"


@pytest.fixture
def js_page(browser: Browser, live_server: str) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_server, viewport=PHONE, java_script_enabled=True, locale="zh-CN"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def read_qr(page: Page) -> str:
    png = page.locator("#permit-code").screenshot()
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1, "the shown QR code must be readable"
    return results[0].text


# --- the idle-session warning ---------------------------------------------------------


def test_the_warning_is_reset_by_htmx_navigation_takes_focus_and_extends_without_reload(
    js_page: Page, outbox
):
    page = js_page
    page.clock.install()
    login(page, True, ZHANG_WEI, outbox)
    dialog = page.locator("#session-warning")
    # 24 minutes idle, then an htmx navigation: the 25-minute warning must not come 1 minute later.
    page.clock.fast_forward("24:00")
    page.locator('main a[href="/family"], nav a[href="/family"]').first.click()
    expect(page.locator("h1")).to_have_text("家庭成员")
    settle(page, True)
    page.clock.fast_forward("02:00")
    expect(dialog).not_to_be_visible()
    # Something typed, then 25 minutes without a request: the dialog, with the focus.
    page.goto("/family/add")
    page.locator("#name").fill("王小二")
    marker = page.evaluate("() => (window.__stillHere = Math.random())")
    page.clock.fast_forward("25:01")
    expect(dialog).to_be_visible()
    expect(page.locator("#session-warning-title")).to_be_focused()
    expect(dialog).to_contain_text("5分钟后将自动退出登录")
    # A minute before the end it says so again (the dialog left open meanwhile).
    page.clock.fast_forward("04:00")
    expect(dialog).to_contain_text("1分钟后将自动退出登录")
    with page.expect_response("**/session/extend") as extended:
        dialog.get_by_role("button", name="继续使用").click()
    assert extended.value.status == 204
    expect(dialog).not_to_be_visible()
    # The same page, not a reload, with what was typed; the focus back where it was.
    assert page.evaluate("() => window.__stillHere") == marker
    expect(page.locator("#name")).to_have_value("王小二")
    expect(page.locator("#name")).to_be_focused()
    # And the clock starts again: no warning soon after.
    page.clock.fast_forward("20:00")
    expect(dialog).not_to_be_visible()


def test_without_javascript_the_page_says_when_the_session_ends(
    browser: Browser, live_server: str, outbox
):
    context = browser.new_context(base_url=live_server, viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    login(page, False, ZHANG_WEI, outbox)
    footer = page.locator("#session-ends")
    expect(footer).to_contain_text("30分钟内没有操作将自动退出登录")
    assert ":" in footer.locator("time").inner_text()
    expect(footer).to_contain_text("已提交的每一步都保存为草稿")
    # No dialog shows without the script that opens it.
    expect(page.locator("#session-warning")).not_to_be_visible()
    context.close()


# --- the QR in dark modes -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto-dark", "forced-colours-dark", "forced-colours-light"])
def test_the_code_is_readable_in_dark_and_forced_colours(js_page: Page, outbox, mode):
    page = js_page
    login(page, True, ZHANG_WEI, outbox)
    if mode == "auto-dark":
        # Chromium's "darken websites" (DevTools: Emulate auto dark mode).
        cdp = page.context.new_cdp_session(page)
        cdp.send("Emulation.setAutoDarkModeOverride", {"enabled": True})
        page.emulate_media(color_scheme="dark")
    else:
        if mode.endswith("dark"):
            page.emulate_media(forced_colors="active", color_scheme="dark")
        else:
            page.emulate_media(forced_colors="active", color_scheme="light")
    page.goto("/permit/code")
    assert "/v/" in read_qr(page)
    page.goto("/permit")
    assert "/v/" in read_qr(page)


# --- 200 % text on every page ----------------------------------------------------------


def press(page: Page) -> None:
    """The main form's own button (a page may have a second form, 重新获取验证码)."""
    page.locator("main form button[type=submit]").first.click()


def pages_of_a_journey(page: Page, outbox) -> Iterator[str]:
    """Walk to every kind of page, yielding each one's name once it is shown."""
    page.goto("/")
    yield "start"
    page.goto("/login")
    press(page)
    yield "login-error"
    page.fill("#phone", ZHANG_WEI)
    press(page)
    page.wait_for_url("**/login/verify")
    yield "verify"
    page.fill("#code", outbox.last_code(ZHANG_WEI))
    press(page)
    page.wait_for_url("**/permit")
    yield "permit"
    for url in ("/permit/code", "/family", "/family/add", "/cases"):
        page.goto(url)
        yield url
    page.goto("/endorse")
    page.wait_for_url("**/who")
    press(page)
    expect(page.locator(".error-summary")).to_be_visible()
    yield "who-error"
    page.check("#for_whom-1")
    press(page)
    page.wait_for_url("**/applicant")
    press(page)
    expect(page.locator(".error-summary")).to_be_visible()
    yield "applicant-error"
    page.goto(page.url.replace("/applicant", "/who"))
    page.check("#for_whom")
    press(page)
    page.wait_for_url("**/residence")
    yield "residence"
    page.check("#address_unchanged")
    press(page)
    page.wait_for_url("**/check")
    yield "check"
    page.check("#declaration")
    press(page)
    page.wait_for_url("**/done")
    yield "done"
    reference = page.locator("#reference").inner_text().strip()
    page.goto(f"/cases/{reference}")
    yield "receipt"
    page.goto("/cases")
    yield "cases-with-one"
    page.goto("/deregister")
    page.wait_for_url("**/role")
    yield "role"
    page.check("#declarant_role")
    press(page)
    page.wait_for_url("**/declarant")
    yield "declarant"
    page.goto("/no-such-page")
    yield "not-found"


@pytest.mark.parametrize("large", [False, True], ids=["standard", "large-text"])
def test_no_page_scrolls_sideways_at_200_percent_text(browser: Browser, live_server, outbox, large):
    context = browser.new_context(
        base_url=live_server, viewport=PHONE, java_script_enabled=False, locale="zh-CN"
    )
    page = context.new_page()
    without_javascript(page)
    # The browser's own text size doubled (Chrome's font-size setting), as at 200 % text.
    cdp = context.new_cdp_session(page)
    cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 32, "fixed": 26}})
    if large:
        page.goto("/text-size?large=1&next=/")
    try:
        shown = []
        for name in pages_of_a_journey(page, outbox):
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at 200 % text"
            size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
            assert size >= (40 if large else 34), f"{name}: text at {size}px is not doubled"
            shown.append(name)
        assert len(shown) == 18
    finally:
        context.close()


def test_masked_id_is_read_in_words_and_back_link_has_no_chevron_in_its_name(js_page: Page, outbox):
    page = js_page
    login(page, True, ZHANG_WEI, outbox)
    card = page.locator(".card-fields")
    assert "4301开头、1234结尾，中间10位已隐藏" in card.inner_text()
    tree = page.accessibility.snapshot() if hasattr(page, "accessibility") else None
    assert tree is None or "**********" not in str(tree)
    page.goto("/permit/code")
    back = page.locator("a.back-link")
    expect(back).to_have_accessible_name("返回居住证")
    # The code: one named image, its inner drawing hidden.
    assert page.locator("#permit-code svg").get_attribute("aria-hidden") == "true"


# --- a dropped connection ---------------------------------------------------------------


def test_a_dropped_connection_is_announced_with_a_retry(js_page: Page, outbox):
    page = js_page
    login(page, True, ZHANG_WEI, outbox)
    page.goto("/endorse")
    page.wait_for_url("**/who")
    page.check("#for_whom")
    page.context.set_offline(True)
    page.locator("main button[type=submit]").click()
    status = page.locator("#request-status")
    expect(status).to_contain_text("网络连接中断")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(page.locator(".request-failed")).to_be_focused()
    expect(page.locator("h1")).to_have_text("您为谁办理签注？")
    assert_accessible(page, "request-failed")
    page.context.set_offline(False)
    status.get_by_role("button", name="重试").click()
    page.wait_for_url("**/residence")
    expect(page.locator("h1")).to_contain_text("是否仍住在登记的居住地址")
    expect(status).to_be_empty()


# --- forced colours and focus -----------------------------------------------------------


EDGES = """() => [...document.querySelectorAll('button, .button')].filter(b => b.offsetParent)
  .map(b => { const s = getComputedStyle(b);
    return [b.textContent.trim(), parseFloat(s.borderTopWidth), s.borderTopStyle,
            s.borderTopColor, getComputedStyle(document.body).backgroundColor]; })"""


def test_every_button_has_a_visible_edge_in_forced_colours(js_page: Page, outbox):
    page = js_page
    page.emulate_media(forced_colors="active", color_scheme="dark")
    login(page, True, ZHANG_WEI, outbox)
    for url in ("/permit", "/family", "/family/add"):
        page.goto(url)
        for text, width, style, colour, background in page.evaluate(EDGES):
            assert width >= 1 and style != "none", f"{url}: {text} has no edge"
            assert colour != background and colour != "rgba(0, 0, 0, 0)", (
                f"{url}: {text}'s edge is invisible ({colour} on {background})"
            )


def test_secondary_buttons_and_the_error_summary_show_the_focus_ring(js_page: Page, outbox):
    page = js_page
    login(page, True, ZHANG_WEI, outbox)
    page.goto("/permit")
    button = page.locator("main a.button.secondary").first
    button.focus()
    shadow = button.evaluate("(b) => getComputedStyle(b).boxShadow")
    assert "11, 12, 12" in shadow and "6px" in shadow, shadow
    page.goto("/endorse")
    page.wait_for_url("**/who")
    page.locator("main button[type=submit]").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    outline = summary.evaluate("(s) => getComputedStyle(s).outlineStyle")
    assert outline == "solid"
    # Following its link brings the question into view with the radio focused.
    summary.locator("a").first.click()
    expect(page.locator("#for_whom")).to_be_focused()
    top = page.locator("#for_whom").locator("xpath=ancestor::div[contains(@class,'field')]")
    assert top.evaluate("(f) => f.getBoundingClientRect().top") >= -1


# --- 大字模式 ----------------------------------------------------------------------------


def test_large_text_mode_is_switched_without_javascript_and_is_accessible(
    page: Page, js: bool, outbox
):
    login(page, js, ZHANG_WEI, outbox)
    link = page.get_by_role("link", name="大字模式")
    with page.expect_navigation():
        link.click()
    page.wait_for_url("**/permit")
    expect(page.get_by_role("link", name="标准字号")).to_be_visible()
    if js:
        sizes = page.evaluate(
            """() => ({ text: parseFloat(getComputedStyle(document.querySelector('main p')).fontSize),
                footer: parseFloat(getComputedStyle(document.querySelector('.site-footer')).fontSize),
                button: document.querySelector('main .button').getBoundingClientRect().height })"""
        )
        assert sizes["text"] >= 18 and sizes["footer"] >= 18, sizes
        assert sizes["button"] >= 48, sizes
    assert_accessible(page, f"large-permit-{js}")
    for url in ("/family/add", "/cases"):
        page.goto(url)
        assert_accessible(page, f"large-{url.strip('/').replace('/', '-')}-{js}")
    page.goto("/endorse")
    page.wait_for_url("**/who")
    page.locator("main button[type=submit]").click()
    expect(page.locator(".error-summary")).to_be_visible()
    assert_accessible(page, f"large-who-error-{js}")
    with page.expect_navigation():
        page.get_by_role("link", name="标准字号").click()
    expect(page.get_by_role("link", name="大字模式")).to_be_visible()


def test_large_text_returns_to_the_page_shown_after_htmx_swaps(js_page: Page, outbox):
    page = js_page
    login(page, True, ZHANG_WEI, outbox)
    page.locator('nav a[href="/family"]').click()
    page.wait_for_url("**/family")
    settle(page, True)
    with page.expect_navigation():
        page.get_by_role("link", name="大字模式").click()
    page.wait_for_url("**/family")
    expect(page.locator("html")).to_have_class("large-text")
