"""The holder's side in a real browser, keyboard only, JavaScript on and off, 360 px, zero
axe-core violations (SPEC 11; issue 13): 陈军 deregisters 孙丽, she sees who and why, objects,
and finds the case, the objection and a check of her code in /activity; 赵强 takes himself
off 张伟's family list and 张伟 is told by SMS."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlmodel import select

from epermit import demo
from epermit.models import FamilyLink, Permit, Person
from epermit.services import permit_code
from tests.browser.helpers import (
    assert_accessible,
    expect_error,
    follow,
    keyboard_submit,
    login,
    tab_to,
    type_into,
)
from tests.browser.test_deregister_journeys import (
    check_and_confirm,
    choose_radio,
    expect_step,
    sign_out,
    tick,
)

OBJECTION = re.compile(r"^YY\d{8}[0-9A-Z]{7}$")
STATEMENT = "我还住在三元里大道200号201房,没有搬走。"


def press_enter_and_load(page: Page, selector: str) -> None:
    """Tab to a control whose answer is a whole new page (hx-boost="false") and press Enter."""
    tab_to(page, selector)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("load")


def person(dbsession, name) -> Person:
    return dbsession.exec(select(Person).where(Person.name == name)).one()


def someone_checks_the_code_of(page: Page, dbsession, name: str, clock) -> None:
    """A verifier scans the holder's code: the same signed URL the QR carries."""
    dbsession.rollback()
    permit = dbsession.exec(select(Permit).where(Permit.person_id == person(dbsession, name).id)).one()
    token = permit_code.make_token(permit.id, clock(), "test-secret")
    page.goto(f"/v/{token}")
    expect(page.locator("h1")).to_have_text("居住证核验结果")


def test_sun_li_sees_who_deregistered_her_objects_and_finds_it_in_activity(
    page, js, outbox, clock, dbsession
):
    name = f"holder-side-{js}"
    someone_checks_the_code_of(page, dbsession, "孙丽", clock)
    clock.advance(minutes=1)  # each event its own minute, so the record's order is known

    login(page, js, demo.phone("陈军"), outbox)
    follow(page, js, 'main a[href="/deregister"]')
    choose_radio(page, "declarant_role", "landlord")
    keyboard_submit(page, js)
    keyboard_submit(page, js)  # the declarant is the account, filled in
    type_into(page, "#applicant_name", "孙丽")
    type_into(page, "#applicant_id_number", demo.person("孙丽").id_number)
    keyboard_submit(page, js)
    choose_radio(page, "reason", "moved_out")
    type_into(page, "#leave_date", clock.today.isoformat())
    keyboard_submit(page, js)
    check_and_confirm(page, js, name, "孙丽", "房东", "孙丽", "搬离登记住址")
    sign_out(page)
    clock.advance(minutes=1)

    login(page, js, demo.phone("孙丽"), outbox)
    expect(page.locator("#status")).to_have_text("已注销")
    declared = page.locator("#declared-by")
    expect(declared).to_contain_text("房东陈*")
    expect(declared).to_contain_text("搬离登记住址")
    expect(page.locator("main")).not_to_contain_text("陈军")
    assert_accessible(page, f"{name}-permit")

    follow(page, js, 'main a[href="/permit/objection"]')
    expect_step(page, "对注销提出异议", f"{name}-objection")
    keyboard_submit(page, js)  # nothing written, nothing ticked
    expect_error(page, js, f"{name}-objection-error", "请填写异议理由", "请勾选声明")
    expect(page.locator("#statement")).to_have_attribute("aria-invalid", "true")
    type_into(page, "#statement", STATEMENT)
    tick(page, "#declaration")
    clock.advance(minutes=1)
    keyboard_submit(page, js)
    expect_step(page, "异议已提交", f"{name}-objection-done")
    expect(page.locator("#reference")).to_have_text(OBJECTION)
    reference = page.locator("#reference").inner_text()
    assert any(reference in m["text"] for m in outbox.messages(demo.phone("孙丽")))

    page.goto("/permit")
    expect(page.locator("#objection-status")).to_contain_text("等待派出所处理")
    follow(page, js, 'main a[href="/activity"]')
    expect_step(page, "办理与核验记录", f"{name}-activity")
    entries = page.locator("#activity > li")
    # Newest first: the objection, her sign-in, 陈军's deregistration, the check of her code.
    expect(entries.nth(0)).to_contain_text("注销异议")
    expect(entries.nth(0)).to_contain_text(reference)
    expect(entries.nth(1)).to_contain_text("登录")
    expect(entries.nth(2)).to_contain_text("注销：房东陈*申报注销")
    expect(entries.nth(3)).to_contain_text("您的居住证二维码被核验")


def test_zhao_qiang_takes_himself_off_zhang_weis_list(page, js, outbox, clock, dbsession):
    name = f"acting-for-me-{js}"
    dbsession.add(
        FamilyLink(
            person_id=person(dbsession, "张伟").id,
            member_id=person(dbsession, "赵强").id,
            relationship="other_relative",
            created_at=clock(),
            basis="consented",
        )
    )
    dbsession.commit()
    login(page, js, demo.phone("赵强"), outbox)
    follow(page, js, 'nav a[href="/family"]')
    section = page.locator("#acting-for-me-list")
    expect(section.locator("h3")).to_have_text(["张伟"])
    expect(section).to_contain_text("其他近亲属")
    assert_accessible(page, f"{name}-family")

    follow(page, js, "#acting-for-me-list a")
    expect_step(page, "退出张伟的家庭成员名单", f"{name}-confirm")
    press_enter_and_load(page, "main button[type=submit]")
    page.wait_for_url("**/family")
    expect(page.locator(".notice")).to_contain_text("您已退出张伟的家庭成员名单")
    expect(page.locator("#acting-for-me-list")).to_have_count(0)
    assert_accessible(page, f"{name}-left")
    texts = [m["text"] for m in outbox.messages(demo.phone("张伟"))]
    assert any("赵强已将自己从您的家庭成员中移除" in text for text in texts)
