"""The workspace walked in a real browser with the keyboard, JavaScript on and off, on a
phone-sized screen, with zero axe-core violations (SPEC 10; issue 11's "Done when")."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import sqlalchemy as sa
from playwright.sync_api import FilePayload, Page, expect
from sqlmodel import select

from epermit import demo
from epermit.models import Case
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

REFERENCE = re.compile(r"ZX\d{8}[0-9A-Z]{7}")
SANYUANLI = "广州市白云区三元里大道200号"
# The roster's own button, not the search form's above it.
DEPART = 'form[action$="/departures"] button'
TENANTS = ("张伟", "李娜", "张小明", "孙丽", "马超", "何静", "郭鹏", "林芳", "罗明")


def tick(page: Page, selector: str) -> None:
    tab_to(page, selector)
    page.keyboard.press("Space")
    expect(page.locator(selector)).to_be_checked()


def tick_person(page: Page, name: str) -> None:
    box_id = page.locator("main label", has_text=re.compile(f"^{name}$")).get_attribute("for")
    tick(page, f"#{box_id}")


def open_workspace(page: Page, js: bool, name: str) -> None:
    follow(page, js, 'nav a[href="/workspace"]')
    expect(page.locator("h1")).to_have_text("工作台")
    assert_accessible(page, f"{name}-workspace")


def references_on(page: Page) -> list[str]:
    return REFERENCE.findall(page.locator("main").inner_text())


def cases_made(dbsession) -> int:
    dbsession.rollback()
    return dbsession.exec(select(sa.func.count()).select_from(Case)).one()


def test_landlord_chen_jun_reports_two_tenants_gone(page: Page, js: bool, outbox: Outbox, clock, dbsession):
    name = f"landlord-{js}"
    login(page, js, demo.phone("陈军"), outbox)
    open_workspace(page, js, name)
    places = page.locator("main li.permit-card h2")
    expect(places).to_have_count(8)
    lines = places.all_inner_texts()
    assert demo.HOME[1] in lines
    assert [line for line in lines if line.startswith(SANYUANLI)] == [
        f"{SANYUANLI}{room}房" for room in range(201, 208)
    ]
    counts = [int(n) for n in page.locator("main .registered-count").all_inner_texts()]
    assert sum(counts) == 9

    follow(page, js, 'main a[href="/workspace/address/all"]')
    expect(page.locator("h1")).to_have_text("登记人员")
    expect(page.locator("#roster-total")).to_have_text("现登记9人。")
    for tenant in TENANTS:
        expect(page.locator("main label", has_text=re.compile(f"^{tenant}$"))).to_have_count(1)
    assert_accessible(page, f"{name}-roster")

    keyboard_submit(page, js, DEPART)  # nobody ticked
    expect_error(page, js, f"{name}-roster-error", "请勾选要申报离开的人员")
    tick_person(page, "孙丽")
    tick_person(page, "马超")
    keyboard_submit(page, js, DEPART)

    expect(page.locator("h1")).to_have_text("离开原因和日期")
    expect(page.locator("input[name=reason][value=moved_out]")).to_be_checked()
    expect(page.locator("main")).to_contain_text("孙丽")
    assert_accessible(page, f"{name}-reason")
    type_into(page, "#leave_date", clock.today.isoformat())
    keyboard_submit(page, js)

    expect(page.locator("h1")).to_have_text("检查申报离开的人员")
    people = page.locator("ol.people li")
    expect(people).to_have_count(2)
    expect(page.locator(".warning-box")).to_contain_text("立即终止使用")
    assert_accessible(page, f"{name}-check")
    tick(page, "#declaration")
    keyboard_submit(page, js)

    expect(page.locator("h1")).to_have_text("已申报离开")
    assert len(set(references_on(page))) == 2
    assert_accessible(page, f"{name}-result")
    for tenant in ("孙丽", "马超"):
        assert any("注销" in m["text"] for m in outbox.messages(demo.phone(tenant)))


def gbk_csv(*rows: list[str]) -> bytes:
    lines = [["公民身份号码", "姓名", "离开日期"], *rows]
    return "\r\n".join(",".join(r) for r in lines).encode("gbk")


def choose_file(page: Page, data: bytes) -> None:
    tab_to(page, "#file")
    payload: FilePayload = {"name": "离职人员.csv", "mimeType": "text/csv", "buffer": data}
    page.set_input_files("#file", files=[payload])


def test_employer_uploads_a_gbk_file_fixes_a_bad_row_and_confirms(page: Page, js: bool, outbox: Outbox, clock, dbsession):
    name = f"employer-{js}"
    login(page, js, demo.phone("黄丽"), outbox)
    open_workspace(page, js, name)
    follow(page, js, 'main a[href^="/workspace/org/"]')
    expect(page.locator("p.caption")).to_have_text("广州示例科技有限公司")
    roster_url = page.url
    follow(page, js, 'main a[href$="/upload"]')
    expect(page.locator("h1")).to_have_text("上传离开人员名单")
    assert_accessible(page, f"{name}-upload")

    zhang = demo.person("张伟").id_number
    today = clock.today.isoformat()
    choose_file(page, gbk_csv([zhang, "张伟", today], [demo.person("赵强").id_number, "赵强", today]))
    keyboard_submit(page, js)
    expect_error(page, js, f"{name}-upload-error", "1行需要修改")
    expect(page.locator(".problems")).to_contain_text("第3行：该公民身份号码不在本单位登记人员中")
    assert cases_made(dbsession) == 1  # 刘洋's, from the demo: nothing written

    choose_file(page, gbk_csv([zhang, "张伟", today]))
    keyboard_submit(page, js)
    expect(page.locator("h1")).to_have_text("检查申报离开的人员")
    expect(page.locator("ol.people")).to_contain_text("离职")
    assert_accessible(page, f"{name}-check")
    check_url = page.url
    tick(page, "#declaration")
    keyboard_submit(page, js)
    expect(page.locator("h1")).to_have_text("已申报离开")
    first = references_on(page)
    assert len(first) == 1
    made = cases_made(dbsession)

    # The same batch again: its check page now leads to the result, which is unchanged.
    page.goto(check_url)
    expect(page.locator("h1")).to_have_text("已申报离开")
    assert cases_made(dbsession) == made
    assert references_on(page) == first
    page.goto(roster_url)
    # 张伟 has left the employer's roster; 马超 (SPEC 7, turn 2) is still on it.
    expect(page.locator("main label", has_text=re.compile("^张伟$"))).to_have_count(0)
    expect(page.locator("main label", has_text=re.compile("^马超$"))).to_have_count(1)


def test_a_second_submit_of_the_same_batch_from_the_browser_creates_nothing(page: Page, js: bool, outbox: Outbox, clock, dbsession):
    login(page, js, demo.phone("黄丽"), outbox)
    page.goto("/workspace")
    follow(page, js, 'main a[href^="/workspace/org/"]')
    tick_person(page, "张伟")
    keyboard_submit(page, js, DEPART)
    type_into(page, "#leave_date", clock.today.isoformat())
    keyboard_submit(page, js)
    check_url = page.url
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    tick(page, "#declaration")
    keyboard_submit(page, js)
    expect(page.locator("h1")).to_have_text("已申报离开")
    made = cases_made(dbsession)
    again = page.request.post(check_url, form={"declaration": "y", "csrf_token": csrf or ""}, max_redirects=0)
    result_path = urlsplit(check_url).path.removesuffix("/check")
    assert again.status == 303 and again.headers["location"] == result_path
    assert cases_made(dbsession) == made


def test_another_persons_roster_is_not_found(page: Page, js: bool, outbox: Outbox, dbsession):
    home = dbsession.execute(sa.text("SELECT id FROM address WHERE line = :l"), {"l": demo.HOME[1]}).scalar_one()
    login(page, js, demo.phone("黄丽"), outbox)
    answer = page.goto(f"/workspace/address/{home}")
    assert answer is not None and answer.status == 404
    expect(page.locator("h1")).to_have_text("找不到页面")
    expect(page.locator("main")).not_to_contain_text("张伟")
    assert_accessible(page, f"not-found-{js}")


def test_someone_with_no_place_is_told_who_can_use_the_workspace(page: Page, js: bool, outbox: Outbox):
    login(page, js, demo.phone("赵强"), outbox)
    expect(page.locator('nav a[href="/workspace"]')).to_have_count(0)
    page.goto("/workspace")
    expect(page.locator("main")).to_contain_text("没有登记为任何房屋的房东")
    assert_accessible(page, f"about-{js}")
