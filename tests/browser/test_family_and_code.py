"""切换, a family member's live code and its public verification in a real browser:
keyboard only, JavaScript on and off, zero axe violations; the QR is read from a screenshot."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from tests.browser.helpers import (
    assert_accessible,
    follow,
    keyboard_submit,
    login,
    tab_to,
    type_into,
)


def press_enter_and_load(page, selector: str) -> None:
    """Tab to a control whose answer is a whole new page (hx-boost="false") and press Enter."""
    tab_to(page, selector)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("load")


def switch_to(page, name: str) -> None:
    page.goto("/family")
    press_enter_and_load(page, f'main button:has-text("切换到{name}的居住证")')
    page.wait_for_url("**/permit")


def read_qr(page) -> str:
    png = page.locator("#permit-code").screenshot()
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1, "the shown QR code must be readable"
    return results[0].text


def test_switch_to_each_family_member_with_keyboard(page, js, outbox):
    login(page, js, "13800000001", outbox)
    follow(page, js, 'nav a[href="/family"]')
    expect(page.locator("h1")).to_have_text("家庭成员")
    assert page.locator("main li h2").all_inner_texts() == ["张伟（本人）", "李娜", "张小明"]
    assert_accessible(page, f"family-{js}")

    press_enter_and_load(page, 'main button:has-text("切换到李娜的居住证")')
    page.wait_for_url("**/permit")
    expect(page.locator("h1")).to_have_text("李娜的居住证")
    expect(page.locator("header")).to_contain_text("正在为李娜办理")
    expect(page.locator("#status")).to_have_text("有效")
    assert_accessible(page, f"permit-switched-{js}")

    switch_to(page, "张小明")
    expect(page.locator("h1")).to_have_text("张小明的居住证")
    expect(page.locator("header")).to_contain_text("正在为张小明办理")

    switch_to(page, "张伟")
    expect(page.locator("h1")).to_have_text("我的居住证")
    expect(page.locator("header")).not_to_contain_text("正在为")


def test_family_members_code_is_shown_and_verifies(page, js, outbox, live_server):
    login(page, js, "13800000001", outbox)
    switch_to(page, "张小明")
    follow(page, js, 'main a[href="/permit/code"]')
    expect(page.locator("h1")).to_have_text("张小明的居住证二维码")
    expect(page.locator("#permit-code svg")).to_be_visible()
    expect(page.locator(".code-time")).to_contain_text("生成时间")
    assert_accessible(page, f"code-{js}")

    url = read_qr(page)
    assert url.startswith("http://localhost/v/")
    page.goto(live_server + url.removeprefix("http://localhost"))
    expect(page.locator("h1")).to_have_text("居住证核验结果")
    expect(page.locator("#holder-name")).to_have_text("张*明")
    expect(page.locator("#status")).to_have_text("待签注")
    assert "张小明" not in page.locator("main").inner_text()
    assert_accessible(page, f"verify-{js}")


def test_refresh_link_shows_a_new_code_with_the_new_time(page, js, outbox, clock):
    login(page, js, "13800000002", outbox)
    page.goto("/permit/code")
    expect(page.locator(".code-time")).to_contain_text("10:00:00")
    before = read_qr(page)
    clock.advance(minutes=1)
    follow(page, js, 'main a:has-text("刷新二维码")')
    expect(page.locator(".code-time")).to_contain_text("10:01:00")
    if js:
        # Only the code was swapped: focus stays on the link the visitor pressed.
        expect(page.locator('main a:has-text("刷新二维码")')).to_be_focused()
    assert read_qr(page) != before
    assert_accessible(page, f"code-refreshed-{js}")


def test_suspended_permit_says_why_there_is_no_code(page, js, outbox):
    login(page, js, "13800000003", outbox)
    page.goto("/permit/code")
    expect(page.locator("main")).to_contain_text("使用功能中止期间不能亮码")
    expect(page.locator("#permit-code")).to_have_count(0)
    assert_accessible(page, f"code-suspended-{js}")


def test_tampered_code_is_refused_clearly(page, js):
    answer = page.goto("/v/not-a-real-token")
    assert answer is not None and answer.status == 404
    expect(page.locator("h1")).to_have_text("二维码无效")
    assert_accessible(page, f"verify-refused-{js}")


def test_add_family_member_with_consent_code_by_keyboard(page, js, outbox):
    login(page, js, "13800000001", outbox)
    page.goto("/family/add")
    assert_accessible(page, f"family-add-{js}")
    keyboard_submit(page, js)
    expect(page.locator(".error-summary")).to_be_visible()
    assert page.title().startswith("错误: ")
    assert_accessible(page, f"family-add-errors-{js}")

    type_into(page, "#name", "赵强")
    type_into(page, "#id_number", "410102199309144711")
    tab_to(page, "#relationship")
    for _ in range(3):  # arrow keys move through the radios: 配偶, 父母, 子女, 兄弟姐妹
        page.keyboard.press("ArrowDown")
    expect(page.locator("#relationship-3")).to_be_checked()
    keyboard_submit(page, js)
    page.wait_for_url("**/family/add/consent")
    expect(page.locator("h1")).to_have_text("输入赵强收到的验证码")
    assert_accessible(page, f"family-consent-{js}")
    type_into(page, "#consent_code", outbox.last_code("13800000020"))
    keyboard_submit(page, js)
    page.wait_for_url("**/family")
    expect(page.locator('[role="status"]')).to_have_text("已添加赵强为家庭成员。")
    assert page.locator("main li h2").all_inner_texts()[-1] == "赵强"


def test_code_refreshes_itself_every_minute_with_js(page, js, outbox, clock):
    login(page, js, "13800000002", outbox)
    if js:
        page.clock.install()
    page.goto("/permit/code")
    expect(page.locator(".code-time")).to_contain_text("10:00:00")
    clock.advance(minutes=1)
    if js:
        page.clock.fast_forward(61_000)
        expect(page.locator(".code-time")).to_contain_text("10:01:00")
        expect(page.locator("h1")).to_have_text("李娜的居住证二维码")
    else:
        # Without JavaScript nothing polls: the page says so and the link refreshes it.
        expect(page.locator(".code-time")).to_contain_text("10:00:00")
        expect(page.locator('main a[href="/permit/code"]')).to_have_text("刷新二维码")
