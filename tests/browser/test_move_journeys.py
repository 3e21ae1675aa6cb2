"""Change of address walked in a real browser with the keyboard alone, JS on and off, on a
360 px screen, with zero axe-core violations on every page (SPEC 9, 10.7; issue 12)."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Page, expect

from epermit import demo
from tests.browser.helpers import (
    assert_accessible,
    expect_error,
    follow,
    keyboard_submit,
    login,
    settle,
    tab_to,
    type_into,
)
from tests.browser.test_deregister_journeys import choose_radio, tick
from tests.conftest import Outbox

REFERENCE = re.compile(r"^BG\d{8}[0-9A-Z]{7}$")
GAO_FLAT = "广州市海珠区江南大道中300号501房"
LI_NA_FLAT = "广州市番禺区市桥街50号802房"


def heading(page: Page, text: str) -> None:
    expect(page.locator("h1")).to_have_text(text)


def choose_label(page: Page, name: str, label: str) -> None:
    """Pick the radio of `name` whose label reads `label` as a keyboard user does: Tab into
    the group (it stops on the first radio when none is checked), then the arrow keys."""
    radios = page.locator(f"main input[type=radio][name={name}]")
    labels = [
        page.locator(f'label[for="{radios.nth(i).get_attribute("id")}"]').inner_text()
        for i in range(radios.count())
    ]
    target = next(i for i, text in enumerate(labels) if label in text)
    assert not page.locator(f"main input[type=radio][name={name}]:checked").count()
    tab_to(page, f"main input[type=radio][name={name}] >> nth=0")
    if target == 0:
        page.keyboard.press("Space")
    for _ in range(target):
        page.keyboard.press("ArrowDown")
    expect(radios.nth(target)).to_be_checked()


def sign_in_again(page: Page, js: bool, name: str, outbox: Outbox) -> None:
    page.context.clear_cookies()
    login(page, js, demo.phone(name), outbox)


def search(page: Page, js: bool, text: str) -> None:
    """Type into the register search; with JS the results come live as one types, without
    it Enter sends the GET search form."""
    tab_to(page, "#q")
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type(text)
    if js:
        page.wait_for_timeout(600)  # the hx-trigger's delay
        settle(page, js)
    else:
        with page.expect_navigation():
            page.keyboard.press("Enter")
        settle(page, js)


def choose_new_address(page: Page, js: bool, query: str, line: str, name: str) -> None:
    assert_accessible(page, f"address-{name}-{js}")
    search(page, js, "江")  # one character: told to type more
    if js:
        expect(page.locator("#address-results")).to_contain_text("地址关键字至少输入2个字")
    else:
        expect_error(page, js, f"address-short-{name}-{js}", "地址关键字至少输入2个字")
    search(page, js, query)
    expect(page.locator("#address-results")).to_contain_text(line)
    assert_accessible(page, f"address-results-{name}-{js}")
    choose_label(page, "address_id", line)
    keyboard_submit(page, js, "#address-results button[type=submit]")


def request_move(page: Page, js: bool, clock, name: str) -> str:
    """赵强 (signed in, on /permit) asks to move to 高峰's flat; returns the reference."""
    follow(page, js, 'main a[href="/move"]')
    heading(page, "您为谁办理居住变更登记？")
    assert_accessible(page, f"who-{name}-{js}")
    choose_radio(page, "for_whom", "self")
    keyboard_submit(page, js)
    heading(page, "您的新居住地址")
    choose_new_address(page, js, "江南大道中300号", GAO_FLAT, name)
    heading(page, "什么时候搬入新地址？")
    type_into(page, "#moved_on", (clock.today + timedelta(days=1)).isoformat())
    keyboard_submit(page, js)
    expect_error(page, js, f"moved-on-future-{name}-{js}", "搬入日期不能晚于今天")
    tab_to(page, "#moved_on")
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type((clock.today - timedelta(days=1)).isoformat())
    keyboard_submit(page, js)
    heading(page, "在新地址的居住方式")
    assert_accessible(page, f"housing-{name}-{js}")
    choose_radio(page, "housing", "rented")
    keyboard_submit(page, js)
    heading(page, "检查您的居住变更登记")
    main = page.locator("main").inner_text()
    assert GAO_FLAT in main and "7日内确认" in main and "都不变" in main
    assert_accessible(page, f"check-{name}-{js}")
    tick(page, "#declaration")
    keyboard_submit(page, js)
    heading(page, "居住变更登记已提交")
    reference = page.locator("#reference").inner_text()
    assert REFERENCE.match(reference), reference
    assert_accessible(page, f"done-{name}-{js}")
    return reference


def decide(page: Page, js: bool, holder: str, decision: str, name: str, reason: str = "") -> None:
    """On /workspace/confirmations: open the holder's request and decide it."""
    heading(page, "待确认的居住变更")
    expect(page.locator("main")).to_contain_text(holder)
    assert_accessible(page, f"confirmations-{name}-{js}")
    follow(page, js, "main .request a.button")
    heading(page, f"确认{holder}搬入")
    assert_accessible(page, f"decision-{name}-{js}")
    choose_radio(page, "decision", decision)
    if decision == "refuse":
        keyboard_submit(page, js)  # no reason given
        expect_error(page, js, f"decision-error-{name}-{js}", "请填写拒绝原因")
        type_into(page, "#refuse_reason", reason)
    keyboard_submit(page, js)
    heading(page, "待确认的居住变更")
    assert_accessible(page, f"decided-{name}-{js}")


def test_zhao_qiang_moves_to_gao_fengs_flat_and_gao_feng_confirms(page, js, outbox, clock):
    login(page, js, demo.phone("赵强"), outbox)
    valid_until = page.locator("#valid-until").inner_text()
    continuity = page.locator(".card-fields div:has(dt:text('居住年限起算日')) dd").inner_text()
    request_move(page, js, clock, "zhao")
    assert any("赵*" in m["text"] for m in outbox.messages(demo.phone("高峰")))

    sign_in_again(page, js, "高峰", outbox)
    # His workspace counts the request and links to the confirmations list.
    page.goto("/workspace")
    settle(page, js)
    expect(page.locator(".awaiting-count")).to_have_text("1")
    follow(page, js, 'main a[href="/workspace/confirmations"]')
    decide(page, js, "赵强", "confirm", "gao")
    expect(page.locator("main [role=status]")).to_contain_text("已确认")
    # ...and 赵强 is on the roster of the flat now.
    page.goto("/workspace")
    settle(page, js)
    follow(page, js, 'main a[href^="/workspace/address/"]')
    expect(page.locator("main")).to_contain_text("赵强")
    assert_accessible(page, f"roster-gao-{js}")

    sign_in_again(page, js, "赵强", outbox)
    card = page.locator(".card-fields")
    expect(card).to_contain_text(GAO_FLAT)
    expect(page.locator("#valid-until")).to_have_text(valid_until)
    expect(page.locator(".card-fields div:has(dt:text('居住年限起算日')) dd")).to_have_text(
        continuity
    )
    expect(page.locator("#history-title + ul")).to_contain_text("机场路200号505房")
    assert_accessible(page, f"permit-after-move-{js}")


def test_zhang_wei_moves_zhang_xiaoming_to_li_nas_flat_and_li_na_confirms(page, js, outbox, clock):
    login(page, js, demo.phone("张伟"), outbox)
    page.goto("/move")
    settle(page, js)
    choose_radio(page, "for_whom", "other")
    keyboard_submit(page, js)
    heading(page, "代办人和申请人信息")
    choose_label(page, "member", "张小明（子女）")
    choose_label(page, "relationship", "子女")
    keyboard_submit(page, js)
    heading(page, "张小明的新居住地址")
    expect(page.locator(".caption")).to_contain_text("为张小明办理")
    search(page, js, "市桥街50号")
    choose_label(page, "address_id", LI_NA_FLAT)
    keyboard_submit(page, js, "#address-results button[type=submit]")
    type_into(page, "#moved_on", clock.today.isoformat())
    keyboard_submit(page, js)
    choose_radio(page, "housing", "relative")
    keyboard_submit(page, js)
    heading(page, "检查您的居住变更登记")
    assert_accessible(page, f"check-other-{js}")
    tick(page, "#declaration")
    keyboard_submit(page, js)
    heading(page, "居住变更登记已提交")

    sign_in_again(page, js, "李娜", outbox)
    page.goto("/workspace/confirmations")
    settle(page, js)
    decide(page, js, "张小明", "confirm", "li-na")
    assert any(
        "张小明" in m["text"] and LI_NA_FLAT in m["text"]
        for m in outbox.messages(demo.phone("张伟"))
    )


def test_a_refused_request_tells_the_holder_the_reason(page, js, outbox, clock):
    login(page, js, demo.phone("赵强"), outbox)
    request_move(page, js, clock, "refused")
    sign_in_again(page, js, "高峰", outbox)
    page.goto("/workspace/confirmations")
    settle(page, js)
    decide(page, js, "赵强", "refuse", "refuse", reason="此人未在本房屋居住")
    assert "此人未在本房屋居住" in outbox.messages(demo.phone("赵强"))[-1]["text"]
    sign_in_again(page, js, "赵强", outbox)
    expect(page.locator(".card-fields")).to_contain_text("机场路200号505房")
    follow(page, js, 'nav a[href="/cases"]')
    expect(page.locator("main")).to_contain_text("房屋登记人已拒绝")


def test_a_lapsed_request_tells_the_holder(app, page, js, outbox, clock):
    login(page, js, demo.phone("赵强"), outbox)
    request_move(page, js, clock, "lapsed")
    clock.advance(days=7, hours=1)
    assert "lapsed 1 " in app.test_cli_runner().invoke(args=["send-reminders"]).output
    assert "7日内未确认" in outbox.messages(demo.phone("赵强"))[-1]["text"]
    sign_in_again(page, js, "赵强", outbox)
    expect(page.locator("main")).not_to_contain_text("居住变更待确认")
    follow(page, js, 'nav a[href="/cases"]')
    expect(page.locator("main")).to_contain_text("逾期未确认，已失效")


def test_endorsement_with_a_changed_address_leads_to_move(page, js, outbox):
    login(page, js, demo.phone("张伟"), outbox)
    follow(page, js, 'main .status form[action="/endorse"] button')  # 办理签注, for himself
    choose_radio(page, "address_unchanged", "no")
    keyboard_submit(page, js)
    heading(page, "请先变更居住地址")
    assert_accessible(page, f"endorse-moved-{js}")
    follow(page, js, 'main a[href="/move"]')
    heading(page, "您为谁办理居住变更登记？")


def test_deregistering_after_a_move_within_the_city_stops_with_the_advice(page, js, outbox, clock):
    login(page, js, demo.phone("赵强"), outbox)
    follow(page, js, 'main a[href="/deregister"]')
    choose_radio(page, "declarant_role", "self")
    keyboard_submit(page, js)
    keyboard_submit(page, js)  # the declarant's details are the account's, prefilled
    choose_radio(page, "reason", "moved_out")
    type_into(page, "#leave_date", clock.today.isoformat())
    keyboard_submit(page, js)
    heading(page, "搬离后您是否仍在广州居住？")
    assert_accessible(page, f"still-in-city-{js}")
    choose_radio(page, "still_in_city", "yes")
    keyboard_submit(page, js)
    heading(page, "在广州市内搬家，请变更居住地址")
    expect(page.locator("main")).to_contain_text("居住年限")
    assert_accessible(page, f"moved-within-city-{js}")
    follow(page, js, 'main a.button[href="/move"]')
    heading(page, "您为谁办理居住变更登记？")
