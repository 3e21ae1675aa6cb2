"""The pages issue 9 added, in a real browser with the keyboard alone, JavaScript on and off,
zero axe violations: a relative's approval of a family link, the counter a direct link's
deregistration is sent to, and sign-in when the phone is over its cap of SMS."""

from __future__ import annotations

from datetime import date

from playwright.sync_api import expect
from sqlmodel import select

from epermit import demo
from epermit.models import Address, FamilyLink, Permit, Person
from epermit.vocabulary import LinkBasis
from tests.browser.helpers import assert_accessible, keyboard_submit, login, tab_to, type_into


def test_adding_someone_elses_child_waits_for_a_parents_code(page, js, outbox):
    login(page, js, demo.phone("赵强"), outbox)
    page.goto("/family/add")
    type_into(page, "#name", "张小明")
    type_into(page, "#id_number", demo.person("张小明").id_number)
    tab_to(page, "#relationship")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # 子女
    keyboard_submit(page, js)
    page.wait_for_url("**/family/add/consent")
    expect(page.locator("h1")).to_have_text("输入张小明的家庭成员收到的验证码")
    expect(page.locator("main")).to_contain_text("须经已将其添加为家庭成员的亲属同意")
    assert_accessible(page, f"family-approval-{js}")
    type_into(page, "#consent_code", "000000")
    keyboard_submit(page, js)
    expect(page.locator(".error-summary")).to_contain_text("验证码不正确")
    assert_accessible(page, f"family-approval-error-{js}")


def test_a_direct_links_deregistration_names_the_counter(page, js, outbox, app, dbsession):
    child = Person(
        name="孙小红",
        id_number="110101201601010027",
        sex="女",
        ethnicity="汉族",
        birth_date=date(2016, 1, 1),
        hukou="北京市东城区",
    )
    dbsession.add(child)
    dbsession.flush()
    address = dbsession.exec(select(Address)).first()
    assert address is not None and child.id is not None
    dbsession.add(
        Permit(
            person_id=child.id,
            address_id=address.id,
            issuing_authority="广州市公安局天河分局",
            issue_date=date(2026, 3, 1),
            valid_until=date(2027, 3, 1),
            continuity_start=date(2026, 3, 1),
        )
    )
    zhao = dbsession.exec(select(Person).where(Person.name == "赵强")).one()
    dbsession.add(
        FamilyLink(
            person_id=zhao.id,
            member_id=child.id,
            relationship="child",
            created_at=app.config["CLOCK"](),
            basis=LinkBasis.DIRECT,
        )
    )
    dbsession.commit()
    login(page, js, demo.phone("赵强"), outbox)
    page.goto("/deregister")
    page.wait_for_url("**/role")
    page.locator('input[name=declarant_role][value="family"]').check()
    keyboard_submit(page, js)
    page.wait_for_url("**/declarant")
    keyboard_submit(page, js)  # prefilled with the account's own details
    page.wait_for_url("**/applicant")
    page.locator(f'input[name=member][value="{child.id}"]').check()
    keyboard_submit(page, js)
    page.wait_for_url("**/stop")
    expect(page.locator("h1")).to_have_text("不能在网上为孙小红申报注销")
    expect(page.locator("main")).to_contain_text("广州市公安局天河分局")
    assert_accessible(page, f"deregister-direct-link-{js}")


def test_sign_in_over_the_phones_cap_says_to_use_the_latest_code(page, js, outbox, app):
    phone = demo.phone("李娜")
    for _ in range(3):  # strangers' requests, each from a browser of its own
        client = app.test_client()
        token = client.get("/login").get_data(as_text=True).split('name="csrf_token" value="')[1]
        client.post("/login", data={"phone": phone, "csrf_token": token.split('"')[0]})
    page.goto("/login")
    type_into(page, "#phone", phone)
    keyboard_submit(page, js)
    page.wait_for_url("**/login/verify")
    expect(page.locator('[role="status"]')).to_contain_text("本次没有发送新的短信")
    assert_accessible(page, f"login-capped-{js}")
    type_into(page, "#code", outbox.last_code(phone))
    keyboard_submit(page, js)
    page.wait_for_url("**/permit")
