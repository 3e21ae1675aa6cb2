"""The deregistration wizard walked in a real browser with the keyboard alone, JS on and off,
by a landlord and by an employer, with zero axe-core violations on every step, error states
included (SPEC 2.8, 4.3, 8; issue 4)."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Page, expect

from tests.browser.helpers import (
    assert_accessible,
    expect_error,
    follow,
    keyboard_submit,
    login,
    tab_to,
    type_into,
)
from tests.conftest import Outbox

# SPEC 4.6: ZX, the date, six characters and a check character.
REFERENCE = re.compile(r"^ZX\d{8}[0-9A-Z]{7}$")


def choose_radio(page: Page, name: str, value: str) -> None:
    """Pick a radio as a keyboard user does: Tab into the group (which stops on the checked
    radio, or the first when none is), then Space, or the arrow keys to move to another."""
    radios = page.locator(f"main input[type=radio][name={name}]")
    values = [radios.nth(i).get_attribute("value") for i in range(radios.count())]
    checked = page.locator(f"main input[type=radio][name={name}]:checked")
    entry = values.index(checked.get_attribute("value")) if checked.count() else 0
    tab_to(page, f"main input[type=radio][name={name}][value={values[entry]}]")
    target = values.index(value)
    if target == entry:
        page.keyboard.press("Space")
    for _ in range(target - entry):
        page.keyboard.press("ArrowDown")
    for _ in range(entry - target):
        page.keyboard.press("ArrowUp")
    expect(radios.nth(target)).to_be_checked()


def tick(page: Page, selector: str) -> None:
    tab_to(page, selector)
    page.keyboard.press("Space")
    expect(page.locator(selector)).to_be_checked()


def retype(page: Page, selector: str, text: str) -> None:
    """Replace what a field holds (a prefilled or refused value): select all, then type."""
    tab_to(page, selector)
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type(text)
    expect(page.locator(selector)).to_have_value(text)


def expect_step(page: Page, heading: str, name: str) -> None:
    expect(page.locator("h1")).to_have_text(heading)
    assert page.title().startswith(heading)
    assert_accessible(page, name)


def sign_out(page: Page) -> None:
    tab_to(page, "header button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator(".notice")).to_contain_text("已安全退出")


def start_from_permit_page(page: Page, js: bool, name: str) -> None:
    """A declarant without a permit of their own finds the way from 我的居住证."""
    expect(page.locator("h1")).to_have_text("我的居住证")
    assert_accessible(page, f"{name}-permit")
    follow(page, js, 'main a[href="/deregister"]')


def check_and_confirm(page: Page, js: bool, name: str, holder: str, *facts: str) -> None:
    expect_step(page, "检查您的注销申报", f"{name}-check")
    warning = page.locator(".warning-box")
    expect(warning).to_contain_text(f"注销后，{holder}的居住证立即终止使用")
    expect(warning).to_contain_text("重新申领")
    summary = page.locator("dl.summary")
    for fact in facts:
        expect(summary).to_contain_text(fact)
    # Each answer can be changed, and each change link says, to a screen reader, what.
    assert page.locator("dl.summary a .visually-hidden").count() >= 4
    keyboard_submit(page, js)  # the declaration not ticked
    expect_error(page, js, f"{name}-check-error", "请勾选声明")
    tick(page, "#declaration")
    keyboard_submit(page, js)
    expect_step(page, "居住证已注销", f"{name}-done")
    expect(page.locator("#reference")).to_have_text(REFERENCE)
    expect(page.locator("main")).to_contain_text(f"{holder}的居住证已立即终止使用")


def holder_sees_deregistered(page: Page, js: bool, phone: str, outbox: Outbox, name: str) -> None:
    """The holder was told by SMS, and their permit page now says 已注销."""
    assert any("注销" in message["text"] for message in outbox.messages(phone))
    sign_out(page)
    login(page, js, phone, outbox)
    expect(page.locator("#status")).to_have_text("已注销")
    expect(page.locator('main a[href="/deregister"]')).to_have_count(0)
    expect(page.locator('main a[href="/endorse"]')).to_have_count(0)
    assert_accessible(page, f"{name}-holder-permit")


def test_landlord_chen_jun_deregisters_li_na(page, js, outbox, clock):
    name = f"landlord-{js}"
    login(page, js, "13800000010", outbox)
    start_from_permit_page(page, js, name)

    expect_step(page, "您以什么身份申报注销？", f"{name}-role")
    keyboard_submit(page, js)  # nothing chosen
    expect_error(page, js, f"{name}-role-error", "请选择您申报注销的身份")
    assert page.locator("#declarant_role").get_attribute("aria-invalid") == "true"
    choose_radio(page, "declarant_role", "landlord")
    keyboard_submit(page, js)

    expect_step(page, "申报人信息", f"{name}-declarant")
    # Filled in from the account: the keyboard user only continues.
    expect(page.locator("#declarant_name")).to_have_value("陈军")
    expect(page.locator("#declarant_id_number")).to_have_value("440102197804195176")
    expect(page.locator("#declarant_phone")).to_have_value("13800000010")
    keyboard_submit(page, js)

    expect_step(page, "要注销谁的居住证？", f"{name}-applicant")
    expect(page.locator("main input[name=member]")).to_have_count(0)  # no family list
    keyboard_submit(page, js)  # nobody named
    expect_error(page, js, f"{name}-applicant-error", "请输入申请人姓名")
    type_into(page, "#applicant_name", "李娜")
    type_into(page, "#applicant_id_number", "510104199208152241")
    keyboard_submit(page, js)

    expect_step(page, "注销原因和离开日期", f"{name}-reason")
    assert "李娜" in page.locator(".caption").inner_text()
    choose_radio(page, "reason", "moved_out")
    tomorrow = clock.today + timedelta(days=1)
    type_into(page, "#leave_date", tomorrow.isoformat())
    keyboard_submit(page, js)
    expect_error(page, js, f"{name}-reason-error", "离开日期不能晚于今天")
    # What was entered is kept: the choice, and the refused date to correct.
    expect(page.locator("main input[name=reason][value=moved_out]")).to_be_checked()
    expect(page.locator("#leave_date")).to_have_value(tomorrow.isoformat())
    retype(page, "#leave_date", clock.today.isoformat())
    keyboard_submit(page, js)

    today = clock.today
    check_and_confirm(
        page,
        js,
        name,
        "李娜",
        "房东",
        "陈军",
        "李娜",
        "搬离登记住址",
        f"{today.year}年{today.month}月{today.day}日",
    )
    holder_sees_deregistered(page, js, "13800000002", outbox, name)


def test_employer_huang_li_deregisters_zhang_wei(page, js, outbox, clock):
    name = f"employer-{js}"
    login(page, js, "13800000011", outbox)
    start_from_permit_page(page, js, name)

    expect_step(page, "您以什么身份申报注销？", f"{name}-role")
    choose_radio(page, "declarant_role", "employer")
    keyboard_submit(page, js)

    expect_step(page, "申报单位信息", f"{name}-declarant")
    expect(page.locator("#contact_name")).to_have_value("黄丽")
    expect(page.locator("#contact_phone")).to_have_value("13800000011")
    type_into(page, "#org_name", "广州示例科技有限公司")
    type_into(page, "#org_uscc", "91440106MA5ABC120B")  # the last character is wrong
    keyboard_submit(page, js)
    expect_error(page, js, f"{name}-declarant-error", "统一社会信用代码最后一位校验码不正确")
    assert page.locator("#org_uscc").get_attribute("aria-invalid") == "true"
    assert page.locator("#org_uscc").get_attribute("aria-describedby").split() == [
        "org_uscc-hint",
        "org_uscc-error",
    ]
    # Everything typed is kept; the prefilled contact is not doubled.
    expect(page.locator("#org_name")).to_have_value("广州示例科技有限公司")
    expect(page.locator("#contact_name")).to_have_value("黄丽")
    retype(page, "#org_uscc", "91440106MA5ABC120A")
    keyboard_submit(page, js)

    expect_step(page, "要注销谁的居住证？", f"{name}-applicant")
    type_into(page, "#applicant_name", "张伟")
    type_into(page, "#applicant_id_number", "430102199003071234")
    keyboard_submit(page, js)

    expect_step(page, "注销原因和离开日期", f"{name}-reason")
    keyboard_submit(page, js)  # nothing chosen, no date
    expect_error(page, js, f"{name}-reason-error", "请选择注销原因", "请输入离开日期")
    choose_radio(page, "reason", "left_job")
    today = clock.today
    # Typed the way a Chinese input method writes dates.
    type_into(page, "#leave_date", f"{today.year}年{today.month}月{today.day}日")
    keyboard_submit(page, js)

    check_and_confirm(
        page,
        js,
        name,
        "张伟",
        "用人单位",
        "广州示例科技有限公司",
        "91440106MA5ABC120A",
        "张伟",
        "离职",
    )
    holder_sees_deregistered(page, js, "13800000001", outbox, name)
