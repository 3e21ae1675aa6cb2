"""Family members and 切换 (SPEC 2.9): list, switch, add with or without SMS consent, remove."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import select

from epermit import identity, policy
from epermit.models import Address, AuditEvent, Draft, FamilyLink, Permit, Person

ZHAO_QIANG = ("赵强", "410102199309144711", "13800000020")
ZHANG_XIAOMING = ("张小明", "430102201509051273")


def person_id(dbsession, name):
    return dbsession.exec(select(Person.id).where(Person.name == name)).one()


def member_names(page):
    return [h2.get_text(strip=True) for h2 in page.soup.select("main li h2")]


def switch(client_request, dbsession, name, expected_status=303):
    return client_request.post(
        "/family/switch", {"member": person_id(dbsession, name)}, expected_status=expected_status
    )


def add(client_request, name, id_number, relationship="other_relative", expected_status=303):
    return client_request.post(
        "/family/add",
        {"name": name, "id_number": id_number, "relationship": relationship},
        expected_status=expected_status,
    )


def add_holder(dbsession, name, id_number, phone=None):
    """A permit holder with no relation to anyone (a stranger to the demo family)."""
    person = Person(
        name=name,
        id_number=id_number,
        phone=phone,
        sex=identity.sex_of(id_number),
        ethnicity="汉族",
        birth_date=identity.birth_date_of(id_number),
        hukou="湖南省长沙市芙蓉区",
    )
    dbsession.add(person)
    dbsession.flush()
    address = dbsession.exec(select(Address)).first()
    dbsession.add(
        Permit(
            person_id=person.id,
            address_id=address.id,
            issuing_authority="广州市公安局天河分局",
            issue_date=date(2026, 3, 1),
            valid_until=date(2027, 3, 1),
            continuity_start=date(2026, 3, 1),
        )
    )
    dbsession.commit()
    return person


# --- The list and 切换 -------------------------------------------------------------------


def test_zhang_wei_sees_li_na_and_zhang_xiaoming_with_relation_and_status(client_request, auth):
    auth.login("张伟")
    page = client_request.get("/family")
    assert page.h1 == "家庭成员"
    assert member_names(page) == ["张伟（本人）", "李娜", "张小明"]
    cards = [" ".join(li.get_text(" ", strip=True).split()) for li in page.soup.select("main li")]
    assert "关系 配偶" in cards[1] and "居住证状态 有效" in cards[1]
    assert "关系 子女" in cards[2] and "居住证状态 待签注" in cards[2]
    assert (
        "5101开头、2241结尾，中间10位已隐藏" in cards[1]
        and "510104199208152241" not in page.main_text
    )
    assert "正在查看此人的居住证" in cards[0]


def test_switch_to_li_na_shows_her_permit_and_names_her_everywhere(client_request, auth, dbsession):
    auth.login("张伟")
    answer = switch(client_request, dbsession, "李娜")
    assert answer.location == "/permit"
    page = client_request.get("/permit")
    assert page.h1 == "李娜的居住证"
    assert page.text("#status") == "有效"
    assert "正在为 李娜 办理" in page.text("header")
    family_page = client_request.get("/family")
    assert "正在为 李娜 办理" in family_page.text("header")
    cards = family_page.soup.select("main li")
    assert "正在查看此人的居住证" in cards[1].get_text()


def test_switch_to_zhang_xiaoming_then_back_to_self(client_request, auth, dbsession):
    auth.login("张伟")
    switch(client_request, dbsession, "张小明")
    page = client_request.get("/permit")
    assert page.h1 == "张小明的居住证"
    assert page.text("#status") == "待签注"
    switch(client_request, dbsession, "张伟")
    page = client_request.get("/permit")
    assert page.h1 == "我的居住证"
    assert "正在为" not in page.text("header")


def test_switch_form_reloads_the_whole_page_so_the_header_changes(client_request, auth):
    auth.login("张伟")
    page = client_request.get("/family")
    forms = page.soup.select('form[action="/family/switch"]')
    assert len(forms) == 2  # to 李娜 and to 张小明; 张伟 is shown already
    assert all(form["hx-boost"] == "false" for form in forms)
    assert forms[0].select_one("button").get_text() == "切换到李娜的居住证"


def test_cannot_switch_to_a_person_who_is_not_a_member(client_request, auth, dbsession):
    auth.login("张伟")
    page = switch(client_request, dbsession, "赵强", expected_status=404)
    assert "赵强" not in page.main_text
    assert client_request.get("/permit").h1 == "我的居住证"


def test_no_way_to_see_a_non_members_permit_through_the_session(
    app, client_request, auth, dbsession
):
    auth.login("张伟")
    with client_request.client.session_transaction() as flask_session:
        flask_session["viewing_id"] = person_id(dbsession, "赵强")
    page = client_request.get("/permit")
    assert page.h1 == "我的居住证" and "赵强" not in page.response.get_data(as_text=True)
    code_page = client_request.get("/permit/code")
    assert code_page.h1 == "张伟的居住证二维码"


def test_member_removed_on_another_device_is_no_longer_shown_anywhere(
    client_request, auth, dbsession
):
    auth.login("张伟")
    switch(client_request, dbsession, "李娜")
    assert "正在为 李娜 办理" in client_request.get("/cases").text("header")
    # Removed from another device: this browser's session still names her.
    dbsession.exec(
        sa.delete(FamilyLink).where(
            FamilyLink.person_id == person_id(dbsession, "张伟"),
            FamilyLink.member_id == person_id(dbsession, "李娜"),
        )
    )
    dbsession.commit()
    page = client_request.get("/cases")
    assert "李娜" not in page.text("header")
    with client_request.client.session_transaction() as flask_session:
        assert "viewing_id" not in flask_session
    draft = client_request.get("/endorse", expected_status=303).location.rsplit("/", 1)[0]
    dbsession.rollback()
    assert "member" not in dbsession.get(Draft, draft.rsplit("/", 1)[1]).answers["_defaults"]


def test_family_page_needs_sign_in(client_request):
    assert client_request.get("/family", expected_status=303).location.startswith("/login")


# --- Adding: consent by SMS ------------------------------------------------------------------


def test_adding_zhao_qiang_needs_the_code_sent_to_his_phone(
    client_request, auth, outbox, dbsession
):
    auth.login("张伟")
    name, id_number, phone = ZHAO_QIANG
    answer = add(client_request, name, id_number, "sibling")
    assert answer.location == "/family/add/consent"
    message = outbox.messages(phone)[-1]
    assert "张伟申请将您添加为家庭成员" in message["text"] and message["code"] in message["text"]
    page = client_request.get("/family/add/consent")
    assert page.h1 == "输入赵强收到的验证码"
    assert "尾号为0020的手机号码" in page.main_text and "138" not in page.main_text
    assert "赵强" not in member_names(client_request.get("/family"))

    client_request.post("/family/add/consent", {"consent_code": outbox.last_code(phone)})
    page = client_request.get("/family")
    assert member_names(page)[-1] == "赵强"
    assert "已添加赵强为家庭成员" in page.text('[role="status"]')
    link = dbsession.exec(
        select(FamilyLink).where(FamilyLink.member_id == person_id(dbsession, "赵强"))
    ).one()
    assert link.relationship == "sibling" and link.basis == "consented"
    event = dbsession.exec(
        select(AuditEvent).where(AuditEvent.action == "family_member_added")
    ).one()
    assert event.detail == {"relationship": "sibling", "basis": "consented"}
    told = outbox.messages(phone)[-1]["text"]
    assert "张伟已将您添加为家庭成员" in told


def test_wrong_consent_code_is_refused_and_counted(client_request, auth, outbox, dbsession):
    auth.login("张伟")
    add(client_request, *ZHAO_QIANG[:2])
    right = outbox.last_code(ZHAO_QIANG[2])
    wrong = "000000" if right != "000000" else "111111"
    page = client_request.post("/family/add/consent", {"consent_code": wrong}, expected_status=422)
    assert page.errors() == {
        "consent_code": "验证码不正确，请向对方核对短信后重新输入（还可尝试4次）"
    }
    assert page.soup.title.get_text().startswith("错误: ")
    assert not policy.is_family_member(
        dbsession, person_id(dbsession, "张伟"), person_id(dbsession, "赵强")
    )


def test_expired_consent_code_is_refused(client_request, auth, outbox, clock):
    auth.login("张伟")
    add(client_request, *ZHAO_QIANG[:2])
    clock.advance(minutes=6)
    page = client_request.post(
        "/family/add/consent",
        {"consent_code": outbox.last_code(ZHAO_QIANG[2])},
        expected_status=422,
    )
    assert "验证码已过期" in page.errors()["consent_code"]


def test_consent_code_can_be_sent_again_after_a_minute(client_request, auth, outbox, clock):
    auth.login("张伟")
    add(client_request, *ZHAO_QIANG[:2])
    first = outbox.last_code(ZHAO_QIANG[2])
    client_request.post("/family/add/consent/resend")
    assert len(outbox.messages(ZHAO_QIANG[2])) == 1
    assert (
        "验证码刚刚发送过，请1分钟后再重新发送"
        in client_request.get("/family/add/consent").main_text
    )
    clock.advance(seconds=61)
    client_request.post("/family/add/consent/resend")
    assert len(outbox.messages(ZHAO_QIANG[2])) == 2
    page = client_request.post("/family/add/consent", {"consent_code": first}, expected_status=422)
    assert page.errors()["consent_code"].startswith("验证码不正确")  # the old code stopped working
    client_request.post("/family/add/consent", {"consent_code": outbox.last_code(ZHAO_QIANG[2])})
    assert "赵强" in member_names(client_request.get("/family"))


def test_a_resend_notice_never_shows_as_a_family_message(client_request, auth, clock):
    auth.login("张伟")
    add(client_request, *ZHAO_QIANG[:2])
    clock.advance(seconds=61)
    client_request.post("/family/add/consent/resend")
    # Straight to the list (another tab): no "已将…移出" line made of the notice.
    page = client_request.get("/family")
    assert not page.soup.select('[role="status"]') and "sent" not in page.main_text


def test_submitting_the_add_form_twice_sends_one_code(client_request, auth, outbox):
    auth.login("张伟")
    add(client_request, *ZHAO_QIANG[:2])
    add(client_request, *ZHAO_QIANG[:2])
    assert len(outbox.messages(ZHAO_QIANG[2])) == 1


def test_consent_page_without_a_request_goes_back_to_the_form(client_request, auth):
    auth.login("张伟")
    assert client_request.get("/family/add/consent", expected_status=303).location == (
        "/family/add"
    )
    answer = client_request.post("/family/add/consent", {"consent_code": "123456"})
    assert answer.location == "/family/add"


def test_adult_without_a_phone_cannot_consent_and_is_not_added(client_request, auth, dbsession):
    add_holder(dbsession, "孙涛", "110101199001010031")
    auth.login("张伟")
    page = add(client_request, "孙涛", "110101199001010031", expected_status=422)
    assert "未登记手机号码" in page.errors()["id_number"]
    assert "孙涛" not in member_names(client_request.get("/family"))


# --- Adding: minors and the elderly by name and ID number ------------------------------------


def test_a_child_without_a_phone_on_nobodys_list_is_added_directly_by_name_and_id(
    client_request, auth, outbox, dbsession
):
    add_holder(dbsession, "孙小红", "110101201601010027")
    auth.login("赵强")
    answer = add(client_request, "孙小红", "110101201601010027", "child")
    assert answer.location == "/family"
    page = client_request.get("/family")
    assert member_names(page) == ["赵强（本人）", "孙小红"]
    event = dbsession.exec(
        select(AuditEvent).where(AuditEvent.action == "family_member_added")
    ).one()
    assert event.detail["basis"] == "direct"
    link = dbsession.exec(
        select(FamilyLink).where(FamilyLink.member_id == person_id(dbsession, "孙小红"))
    ).one()
    assert link.basis == "direct"


def test_adding_a_strangers_child_is_refused_when_the_name_does_not_match(client_request, auth):
    auth.login("赵强")
    page = add(client_request, "张大明", ZHANG_XIAOMING[1], expected_status=422)
    assert page.errors() == {
        "id_number": "姓名与公民身份号码不一致，或此人没有广东省居住证，请核对后重新输入"
    }
    assert page.soup.select_one("#name")["value"] == "张大明"
    assert member_names(client_request.get("/family")) == ["赵强（本人）"]


def test_unknown_id_number_gets_the_same_answer_as_a_wrong_name(client_request, auth):
    auth.login("赵强")
    unknown = add(client_request, "张小明", "110101201501010038", expected_status=422)
    wrong_name = add(client_request, "张大明", ZHANG_XIAOMING[1], expected_status=422)
    assert unknown.errors() == wrong_name.errors()


def test_a_person_of_sixty_or_more_without_a_phone_is_added_by_name_and_id(
    client_request, auth, dbsession
):
    add_holder(dbsession, "钱桂英", "11010119600101002X")
    auth.login("张伟")
    answer = add(client_request, "钱桂英", "11010119600101002X", "parent")
    assert answer.location == "/family"
    assert "钱桂英" in member_names(client_request.get("/family"))


def test_a_person_of_sixty_or_more_with_a_phone_consents_by_code(
    client_request, auth, dbsession, outbox
):
    add_holder(dbsession, "钱桂英", "11010119600101002X", phone="13800000039")
    auth.login("张伟")
    answer = add(client_request, "钱桂英", "11010119600101002X", "parent")
    assert answer.location == "/family/add/consent"
    assert "张伟申请将您添加为家庭成员" in outbox.messages("13800000039")[-1]["text"]
    assert "钱桂英" not in member_names(client_request.get("/family"))


@pytest.mark.parametrize(
    ("id_number", "direct"),
    [
        ("430102200811260012", True),  # 17, turns 18 tomorrow
        ("430102200811250017", False),  # 18 today
        ("430102196611260019", False),  # 59, turns 60 tomorrow
        ("430102196611250013", True),  # 60 today
    ],
)
def test_consent_is_needed_from_18_to_59(id_number, direct):
    assert policy.is_minor_or_elder(id_number, date(2026, 11, 25)) is direct


def test_adding_oneself_or_an_existing_member_is_refused(client_request, auth):
    auth.login("张伟")
    page = add(client_request, "张伟", "430102199003071234", expected_status=422)
    assert "您本人" in page.errors()["id_number"]
    page = add(client_request, "李娜", "510104199208152241", "spouse", expected_status=422)
    assert page.errors()["id_number"] == "李娜已在您的家庭成员中，无需重复添加"


def test_add_form_checks_every_field_and_keeps_what_was_typed(client_request, auth):
    auth.login("张伟")
    page = client_request.post(
        "/family/add", {"name": "", "id_number": "4301021990030712"}, expected_status=422
    )
    assert page.errors() == {
        "name": "请输入家庭成员姓名",
        "id_number": "家庭成员公民身份号码应为18位，请核对后重新输入",
        "relationship": "请选择此人与您的关系",
    }
    assert page.soup.select_one("#id_number")["value"] == "4301021990030712"
    summary = [a["href"] for a in page.soup.select(".error-summary a")]
    assert summary == ["#name", "#id_number", "#relationship"]


def test_add_form_htmx_partial_has_the_form(client_request, auth):
    auth.login("张伟")
    page = client_request.get("/family/add", htmx=True)
    assert page.soup.select_one('form[action="/family/add"] input[name="csrf_token"]')


# --- Removing ------------------------------------------------------------------------------


def test_removing_li_na_takes_her_off_the_list_and_out_of_reach(client_request, auth, dbsession):
    auth.login("张伟")
    switch(client_request, dbsession, "李娜")
    li_na = person_id(dbsession, "李娜")
    page = client_request.get(f"/family/{li_na}/remove")
    assert page.h1 == "移除家庭成员李娜"
    assert page.soup.select_one("form")["hx-boost"] == "false"
    answer = client_request.post(f"/family/{li_na}/remove")
    assert answer.location == "/family"
    page = client_request.get("/family")
    assert member_names(page) == ["张伟（本人）", "张小明"]
    assert "已将李娜移出家庭成员" in page.main_text
    assert client_request.get("/permit").h1 == "我的居住证"
    switch(client_request, dbsession, "李娜", expected_status=404)
    client_request.post(f"/family/{li_na}/remove", expected_status=404)
    dbsession.commit()  # end the read snapshot taken before the removal
    event = dbsession.exec(
        select(AuditEvent).where(AuditEvent.action == "family_member_removed")
    ).one()
    assert event.subject_id == li_na
    # Her own list is hers: 张伟 is still on it.
    assert policy.is_family_member(dbsession, li_na, person_id(dbsession, "张伟"))


def test_cannot_remove_someone_who_is_not_on_the_list(client_request, auth, dbsession):
    auth.login("张伟")
    client_request.get(f"/family/{person_id(dbsession, '赵强')}/remove", expected_status=404)


def test_wizards_act_for_the_switched_member_by_default(client_request, auth, dbsession):
    auth.login("张伟")
    switch(client_request, dbsession, "张小明")
    with client_request.client.session_transaction() as flask_session:
        assert flask_session["viewing_id"] == person_id(dbsession, "张小明")
    draft = client_request.get("/endorse", expected_status=303).location.rsplit("/", 1)[0]
    who = client_request.get(f"{draft}/who")
    assert who.soup.select_one("input[name=for_whom][checked]")["value"] == "other"
    client_request.post(f"{draft}/who", {"for_whom": "other"})
    applicant = client_request.get(f"{draft}/applicant")
    member = applicant.soup.select_one("input[name=member][checked]")
    assert member["value"] == str(person_id(dbsession, "张小明"))
    relationship = applicant.soup.select_one("input[name=relationship][checked]")
    assert relationship["value"] == "child"  # as 张伟's family list records him


def test_submitting_the_consent_code_twice_adds_once(client_request, auth, outbox, dbsession):
    auth.login("张伟")
    add(client_request, *ZHAO_QIANG[:2])
    code = outbox.last_code(ZHAO_QIANG[2])
    with client_request.client.session_transaction() as flask_session:
        pending = dict(flask_session["family_pending"])
    client_request.post("/family/add/consent", {"consent_code": code})
    with client_request.client.session_transaction() as flask_session:
        flask_session["family_pending"] = pending  # as a second tab would still have it
    answer = client_request.post("/family/add/consent", {"consent_code": code})
    assert answer.location == "/family"
    zhao = person_id(dbsession, "赵强")
    links = dbsession.exec(select(FamilyLink).where(FamilyLink.member_id == zhao)).all()
    assert len(links) == 1
