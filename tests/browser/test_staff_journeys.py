"""The staff console in a real browser, keyboard only, JavaScript on and off, axe-clean on
every page (issue 14's Done-when)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlmodel import select

from epermit import demo
from epermit.models import Permit
from tests.browser.helpers import (
    assert_accessible,
    expect_error,
    follow,
    keyboard_submit,
    settle,
    tab_to,
    type_into,
)
from tests.objection_helpers import file_objection, landlord_deregisters, person
from tests.staff_helpers import totp_at
from tests.test_staff_stats import endorse


def cn(d) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def staff_login(page: Page, js: bool, name: str, clock) -> None:
    page.goto("/staff/login")
    assert_accessible(page, f"staff-login-{js}")
    type_into(page, "#number", demo.staff(name).number)
    type_into(page, "#password", demo.STAFF_PASSWORD)
    keyboard_submit(page, js)
    page.wait_for_url("**/staff/login/totp")
    assert_accessible(page, f"staff-totp-{js}")
    type_into(page, "#totp", totp_at(name, clock()))
    keyboard_submit(page, js)
    page.wait_for_url("**/staff/search")
    expect(page.locator("h1")).to_have_text("查询人员")


def test_wang_finds_zhang_wei_by_id_number_and_sees_his_cases_but_not_sun_li(
    page, js, clock, dbsession
):
    endorse(dbsession, "张伟", clock.today - timedelta(days=3))
    staff_login(page, js, "王警官", clock)
    assert_accessible(page, f"staff-search-{js}")
    type_into(page, "#q", demo.person("张伟").id_number)
    keyboard_submit(page, js)
    expect(page.locator("h1")).to_have_text("张伟")
    expect(page.locator("#id-number")).to_have_text(demo.person("张伟").id_number)
    expect(page.locator("#cases")).to_contain_text("签注")
    expect(page.locator("#cases")).to_contain_text("已签注")
    assert_accessible(page, f"staff-person-{js}")
    sun = person(dbsession, "孙丽")
    answer = page.goto(f"/staff/people/{sun.id}")
    assert answer is not None and answer.status == 404
    expect(page.locator("h1")).to_have_text("找不到页面")
    expect(page.locator("main")).not_to_contain_text("孙丽")


def test_search_that_matches_nothing_says_so_next_to_the_field(page, js, clock):
    staff_login(page, js, "王警官", clock)
    type_into(page, "#q", demo.person("孙丽").id_number)  # registered in 白云区
    keyboard_submit(page, js)
    expect_error(page, js, f"staff-search-none-{js}", "在您的辖区内没有找到与此匹配的人员")


def test_wrong_password_is_named_with_focus_on_the_summary(page, js):
    page.goto("/staff/login")
    type_into(page, "#number", demo.staff("王警官").number)
    type_into(page, "#password", "not-the-password")
    keyboard_submit(page, js)
    expect_error(page, js, f"staff-login-error-{js}", "员工编号或密码不正确")
    expect(page.locator("#password")).to_have_value("")


def test_chen_restores_sun_lis_permit_after_her_objection(
    page, js, clock, dbsession, outbox, browser, live_server
):
    permit = dbsession.exec(
        select(Permit).where(Permit.person_id == person(dbsession, "孙丽").id, Permit.is_current)
    ).one()
    valid_until, continuity = permit.valid_until, permit.continuity_start
    landlord_deregisters(dbsession, "孙丽", "陈军", clock())
    file_objection(dbsession, "孙丽", clock())
    staff_login(page, js, "陈警官", clock)
    follow(page, js, 'nav a[href="/staff/objections"]')
    expect(page.locator("h1")).to_have_text("待处理的注销异议")
    expect(page.locator("#objections")).to_contain_text("孙丽")
    assert_accessible(page, f"staff-objections-{js}")
    follow(page, js, "#objections tbody a")
    expect(page.locator("#statement")).to_have_text("我仍住在这里,房东弄错了。")
    assert_accessible(page, f"staff-objection-{js}")
    tab_to(page, "#decision")  # the first radio: 撤销注销,恢复居住证
    page.keyboard.press("Space")
    type_into(page, "#note", "经上门核实,孙丽仍居住在该房屋。")
    keyboard_submit(page, js)
    expect(page.locator("#decision")).to_contain_text("已撤销注销")
    expect(page.locator("main [role=status]")).to_contain_text("已短信通知持证人和申报人")
    assert_accessible(page, f"staff-objection-decided-{js}")
    assert "决定撤销该注销" in outbox.messages(demo.phone("孙丽"))[-1]["text"]
    assert "已撤销" in outbox.messages(demo.phone("陈军"))[-1]["text"]
    # She signs in herself, in a browser of her own: 有效, with the dates she had.
    context = browser.new_context(base_url=live_server, java_script_enabled=js)
    holder = context.new_page()
    holder.goto("/login")
    holder.fill("#phone", demo.phone("孙丽"))
    holder.locator("main button[type=submit]").first.click()
    holder.wait_for_url("**/login/verify")
    holder.fill("#code", outbox.last_code(demo.phone("孙丽")))
    holder.locator("main button[type=submit]").first.click()
    holder.wait_for_url("**/permit")
    expect(holder.locator("#status")).to_have_text("有效")
    expect(holder.locator("#valid-until")).to_have_text(cn(valid_until))
    since = holder.locator("dt", has_text="居住年限起算日").locator("xpath=following-sibling::dd[1]")
    expect(since).to_have_text(cn(continuity))
    context.close()


def test_liu_sees_the_citys_statistics_and_downloads_the_csv(page, js, clock, dbsession):
    endorse(dbsession, "张伟", clock.today - timedelta(days=1))
    endorse(dbsession, "孙丽", clock.today - timedelta(days=1), late=True)
    staff_login(page, js, "刘所长", clock)
    follow(page, js, 'nav a[href="/staff/stats"]')
    expect(page.locator("h1")).to_have_text("业务统计")
    expect(page.locator("#range")).to_contain_text("全市")
    expect(page.locator("figure.chart svg rect")).to_have_count(1)
    assert_accessible(page, f"staff-stats-{js}")
    with page.expect_download() as download_info:
        tab_to(page, "main a[download]")
        page.keyboard.press("Enter")
    download = download_info.value
    text = open(download.path(), encoding="utf-8-sig").read()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["日期", "区", "按期签注", "补办签注"]
    yesterday = (clock.today - timedelta(days=1)).isoformat()
    counted = [r[:4] for r in rows[1:]]
    assert [yesterday, "天河区", "1", "0"] in counted
    assert [yesterday, "白云区", "0", "1"] in counted
    # Choosing a district with the keyboard narrows the figures.
    # Tab reaches a radio group at its chosen radio (全市); the arrows move the choice.
    tab_to(page, 'input[name="district"]:checked')
    for _ in range(5):  # 越秀区 海珠区 荔湾区 天河区 白云区
        page.keyboard.press("ArrowDown")
    expect(page.locator('input[name="district"][value="白云区"]')).to_be_checked()
    keyboard_submit(page, js)
    expect(page.locator("#range")).to_contain_text("白云区")
    settle(page, js)
    assert_accessible(page, f"staff-stats-district-{js}")
