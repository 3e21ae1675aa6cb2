"""The deregistration wizard for all six kinds of declarant (SPEC 2.8, 4.3)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import func, select

from epermit import demo
from epermit.models import Address, AuditEvent, Case, Deregistration, Draft, Permit, Person

# The demo world's organisations by role: (name, credit code).
ORGS = {role: (org[0], org[1]) for org in demo.ORGANISATIONS for role in [org[2]]}


def cn(d) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def start(client_request) -> str:
    answer = client_request.get("/deregister", expected_status=303)
    match = re.fullmatch(r"/deregister/([\w-]+)/role", answer.location)
    assert match, answer.location
    return match.group(1)


def person_declarant(name: str) -> dict[str, str]:
    return {
        "declarant_name": name,
        "declarant_id_number": demo.person(name).id_number,
        "declarant_phone": demo.phone(name),
    }


def org_declarant(role: str, contact: str) -> dict[str, str]:
    org_name, uscc = ORGS[role]
    return {
        "org_name": org_name,
        "org_uscc": uscc,
        "contact_name": contact,
        "contact_phone": demo.phone(contact),
    }


def applicant(name: str) -> dict[str, str]:
    return {
        "member": "other",
        "applicant_name": name,
        "applicant_id_number": demo.person(name).id_number,
    }


def reason(today, **extra) -> dict[str, str]:
    data = {"reason": "left_city", "reason_detail": "", "leave_date": today.isoformat()}
    data.update(extra)
    return data


def walk(client_request, draft, role, declarant, holder=None):
    """Answer role, declarant and (unless self) applicant; return the last answer."""
    client_request.post(f"/deregister/{draft}/role", {"declarant_role": role})
    answer = client_request.post(f"/deregister/{draft}/declarant", declarant)
    if holder is not None:
        answer = client_request.post(f"/deregister/{draft}/applicant", applicant(holder))
    return answer


def finish(client_request, draft, today):
    if client_request.client.get(f"/deregister/{draft}/check").status_code != 200:
        assert client_request.post(f"/deregister/{draft}/reason", reason(today)).location == (
            f"/deregister/{draft}/check"
        )
    return client_request.post(f"/deregister/{draft}/check", {"declaration": "y"})


def status_of(client_request, auth, name):
    auth.logout()
    auth.login(name)
    return client_request.get("/permit").text("#status")


def deregistrations(dbsession) -> int:
    dbsession.rollback()
    return dbsession.exec(select(func.count()).select_from(Deregistration)).one()


@pytest.mark.parametrize(
    ("declarer", "role", "holder"),
    [
        ("陈军", "landlord", "李娜"),
        ("黄丽", "employer", "张伟"),
        ("周敏", "school", "张小明"),
        ("吴刚", "hotel", "王芳"),
    ],
)
def test_registered_relation_can_deregister(
    client_request, auth, dbsession, clock, outbox, declarer, role, holder
):
    auth.login(declarer)
    draft = start(client_request)
    declarant = org_declarant(role, declarer) if role in ORGS else person_declarant(declarer)
    answer = walk(client_request, draft, role, declarant, holder)
    assert answer.location == f"/deregister/{draft}/reason"
    client_request.post(f"/deregister/{draft}/reason", reason(clock.today))
    check = client_request.get(f"/deregister/{draft}/check")
    assert "立即终止使用" in check.main_text and "重新申领" in check.main_text
    assert finish(client_request, draft, clock.today).location == f"/deregister/{draft}/done"
    done = client_request.get(f"/deregister/{draft}/done")
    assert done.text("#reference").startswith("ZX" + clock.today.strftime("%Y%m%d"))
    dbsession.rollback()
    case = dbsession.exec(select(Case).where(Case.reference == done.text("#reference"))).one()
    holder_person = dbsession.exec(select(Person).where(Person.name == holder)).one()
    assert case.applicant_id == holder_person.id
    assert dbsession.exec(
        select(AuditEvent).where(AuditEvent.subject_id == holder_person.id)
    ).first()
    phone = demo.person(holder).phone
    if phone:
        assert "注销" in outbox.messages(phone)[-1]["text"]
        assert "我们已向持证人发送短信" in done.main_text
    else:
        # 张小明 has no phone: the page must not claim a message went out.
        assert "短信" not in done.main_text
    # The declarant's case list has it.
    assert done.text("#reference") in client_request.get("/cases").main_text
    if holder != "张小明":
        assert status_of(client_request, auth, holder) == "已注销"
        page = client_request.get("/permit")
        assert page.soup.select_one('a[href="/endorse"]') is None
        assert done.text("#reference") in client_request.get("/cases").main_text


def test_a_wizard_deregistration_marks_the_permit_and_takes_her_off_the_roster(
    client_request, auth, dbsession, clock
):
    # Rosters read Permit.deregistered (SPEC 13), set with the deregistration itself.
    auth.login("陈军")
    home = dbsession.exec(select(Address.id).where(Address.line == demo.HOME[1])).one()
    assert "李娜" in client_request.get(f"/workspace/address/{home}").main_text
    draft = start(client_request)
    walk(client_request, draft, "landlord", person_declarant("陈军"), "李娜")
    assert finish(client_request, draft, clock.today).location == f"/deregister/{draft}/done"
    dbsession.rollback()
    li = dbsession.exec(select(Person).where(Person.name == "李娜")).one()
    assert dbsession.exec(select(Permit.deregistered).where(Permit.person_id == li.id)).one()
    roster = client_request.get(f"/workspace/address/{home}").main_text
    assert "李娜" not in roster and "张伟" in roster


def test_family_member_deregisters_spouse(client_request, auth, dbsession, clock, outbox):
    auth.login("张伟")
    draft = start(client_request)
    li_na = dbsession.exec(select(Person).where(Person.name == "李娜")).one()
    client_request.post(f"/deregister/{draft}/role", {"declarant_role": "family"})
    client_request.post(f"/deregister/{draft}/declarant", person_declarant("张伟"))
    page = client_request.get(f"/deregister/{draft}/applicant")
    assert "李娜（配偶）" in [label.get_text() for label in page.soup.select(".radio label")]
    answer = client_request.post(f"/deregister/{draft}/applicant", {"member": str(li_na.id)})
    assert answer.location == f"/deregister/{draft}/reason"
    finish(client_request, draft, clock.today)
    assert "注销" in outbox.messages("13800000002")[-1]["text"]
    assert status_of(client_request, auth, "李娜") == "已注销"


def test_holder_deregisters_themself_without_sms(client_request, auth, clock, outbox):
    auth.login("赵强")
    draft = start(client_request)
    answer = walk(client_request, draft, "self", person_declarant("赵强"))
    assert answer.location == f"/deregister/{draft}/reason"
    sent = len(outbox.messages("13800000020"))
    finish(client_request, draft, clock.today)
    assert len(outbox.messages("13800000020")) == sent
    assert client_request.get("/permit").text("#status") == "已注销"


def test_landlord_of_other_address_cannot_deregister(client_request, auth, dbsession):
    auth.login("陈军")
    draft = start(client_request)
    page_answer = walk(client_request, draft, "landlord", person_declarant("陈军"))
    assert page_answer.location.endswith("/applicant")
    page = client_request.post(f"/deregister/{draft}/applicant", applicant("王芳"), 422)
    assert "在您的房屋登记居住的人员中没有此人" in page.errors()["applicant_id_number"]
    assert deregistrations(dbsession) == 1  # only 刘洋's, from the demo


def test_employer_cannot_deregister_someone_it_does_not_employ(client_request, auth, dbsession):
    auth.login("黄丽")
    draft = start(client_request)
    walk(client_request, draft, "employer", org_declarant("employer", "黄丽"))
    page = client_request.post(f"/deregister/{draft}/applicant", applicant("李娜"), 422)
    assert page.errors()["applicant_id_number"] == (
        "在本单位登记的员工中没有此人，请核对姓名和公民身份号码。只能为本单位登记的员工申报注销"
    )
    assert deregistrations(dbsession) == 1


def test_operator_of_another_organisation_is_refused(client_request, auth):
    auth.login("黄丽")
    draft = start(client_request)
    client_request.post(f"/deregister/{draft}/role", {"declarant_role": "hotel"})
    data = org_declarant("hotel", "黄丽")
    page = client_request.post(f"/deregister/{draft}/declarant", data, 422)
    assert page.errors()["org_uscc"] == "您不是该单位登记的经办人，不能以该单位名义申报注销"


def test_unknown_credit_code_is_refused(client_request, auth):
    auth.login("黄丽")
    draft = start(client_request)
    client_request.post(f"/deregister/{draft}/role", {"declarant_role": "employer"})
    data = org_declarant("employer", "黄丽") | {"org_uscc": "91440101MA59UUUU1W"}
    page = client_request.post(f"/deregister/{draft}/declarant", data, 422)
    assert "org_uscc" in page.errors()


def test_bad_credit_code_check_character_is_refused(client_request, auth):
    auth.login("黄丽")
    draft = start(client_request)
    client_request.post(f"/deregister/{draft}/role", {"declarant_role": "employer"})
    data = org_declarant("employer", "黄丽") | {"org_uscc": "91440106MA5ABC120B"}
    page = client_request.post(f"/deregister/{draft}/declarant", data, 422)
    assert (
        page.errors()["org_uscc"]
        == "统一社会信用代码最后一位校验码不正确，请核对营业执照后重新输入"
    )


def test_stranger_cannot_deregister_anyone_else(client_request, auth, dbsession):
    auth.login("赵强")
    draft = start(client_request)
    walk(client_request, draft, "landlord", person_declarant("赵强"))
    page = client_request.post(f"/deregister/{draft}/applicant", applicant("李娜"), 422)
    assert "applicant_id_number" in page.errors()
    draft = start(client_request)
    walk(client_request, draft, "family", person_declarant("赵强"))
    # 张小明 has no phone: a non-member cannot even ask for consent.
    page = client_request.post(f"/deregister/{draft}/applicant", applicant("张小明"), 422)
    assert "没有登记手机号码" in page.errors()["applicant_id_number"]
    assert deregistrations(dbsession) == 1


def test_non_member_family_declaration_needs_the_holders_consent(
    client_request, auth, dbsession, clock, outbox
):
    auth.login("赵强")
    draft = start(client_request)
    walk(client_request, draft, "family", person_declarant("赵强"))
    answer = client_request.post(f"/deregister/{draft}/applicant", applicant("李娜"))
    assert answer.location == f"/deregister/{draft}/consent"
    assert client_request.get(f"/deregister/{draft}/reason", 303).location.endswith("/consent")
    code = outbox.last_code("13800000002")
    answer = client_request.post(f"/deregister/{draft}/consent", {"consent_code": code})
    assert answer.location == f"/deregister/{draft}/reason"
    finish(client_request, draft, clock.today)
    assert deregistrations(dbsession) == 2


def test_typing_someone_elses_id_gets_nowhere(client_request, auth, dbsession):
    auth.login("赵强")
    draft = start(client_request)
    client_request.post(f"/deregister/{draft}/role", {"declarant_role": "landlord"})
    page = client_request.post(
        f"/deregister/{draft}/declarant",
        person_declarant("陈军") | {"declarant_phone": "13800000020"},
        422,
    )
    assert (
        page.errors()["declarant_id_number"]
        == "申报人姓名和公民身份号码须与登录账号一致，不能使用他人的身份申报"
    )
    assert client_request.get(f"/deregister/{draft}/applicant", 303).location.endswith("/declarant")
    assert deregistrations(dbsession) == 1


def test_already_deregistered_changes_nothing_and_says_so(client_request, auth, dbsession):
    auth.login("刘洋")
    draft = start(client_request)
    answer = client_request.post(f"/deregister/{draft}/role", {"declarant_role": "self"})
    client_request.post(f"/deregister/{draft}/declarant", person_declarant("刘洋"))
    page = client_request.get(f"/deregister/{draft}/stop")
    assert page.h1 == "居住证已经注销" and "没有作任何更改" in page.main_text
    assert answer.status == 303
    assert deregistrations(dbsession) == 1


def test_second_deregistration_from_another_draft_changes_nothing(
    client_request, auth, dbsession, clock
):
    auth.login("赵强")
    first, second = start(client_request), start(client_request)
    left = clock.today - timedelta(days=5)
    for draft in (first, second):
        walk(client_request, draft, "self", person_declarant("赵强"))
        client_request.post(f"/deregister/{draft}/reason", reason(left))
    client_request.post(f"/deregister/{first}/check", {"declaration": "y"})
    answer = client_request.post(f"/deregister/{second}/check", {"declaration": "y"})
    assert answer.location == f"/deregister/{second}/stop"
    text = client_request.get(answer.location).main_text
    assert "没有作任何更改" in text
    # When it was deregistered (today), and the leave date declared then.
    assert f"已于 {cn(clock.today)} 注销（申报的离开日期为 {cn(left)} ）" in text
    assert deregistrations(dbsession) == 2


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"leave_date": "2099-01-01"}, "leave_date", "离开日期不能晚于今天"),
        ({"leave_date": "2020-01-01"}, "leave_date", None),
        ({"leave_date": "2026-02-30"}, "leave_date", "离开日期不是一个存在的日期，请核对"),
        ({"leave_date": "next week"}, "leave_date", "离开日期应按“年-月-日”填写，如2026-11-25"),
        ({"leave_date": ""}, "leave_date", "请输入离开日期"),
        ({"reason": "other", "reason_detail": ""}, "reason_detail", "请填写其他原因说明"),
        ({"reason": "fired"}, "reason", "请选择注销原因"),
    ],
)
def test_reason_step_errors(client_request, auth, clock, dbsession, data, field, message):
    auth.login("赵强")
    draft = start(client_request)
    walk(client_request, draft, "self", person_declarant("赵强"))
    page = client_request.post(f"/deregister/{draft}/reason", reason(clock.today, **data), 422)
    if message is None:
        assert page.errors()[field].startswith("离开日期不能早于居住证签发日期")
    else:
        assert page.errors()[field] == message
    dbsession.rollback()
    assert "reason" not in dbsession.get(Draft, draft).answers


def test_leave_date_accepts_chinese_date_forms(client_request, auth, clock):
    auth.login("赵强")
    draft = start(client_request)
    walk(client_request, draft, "self", person_declarant("赵强"))
    d = clock.today - timedelta(days=3)
    answer = client_request.post(
        f"/deregister/{draft}/reason",
        reason(clock.today, leave_date=f"{d.year}年{d.month}月{d.day}日"),
    )
    assert answer.location.endswith("/check")
    assert f"{d.year}年{d.month}月{d.day}日" in client_request.get(answer.location).main_text


def test_changing_role_drops_declarant_and_applicant(client_request, auth, dbsession):
    auth.login("陈军")
    draft = start(client_request)
    walk(client_request, draft, "landlord", person_declarant("陈军"), "李娜")
    answer = client_request.post(f"/deregister/{draft}/role?change=1", {"declarant_role": "family"})
    assert answer.location == f"/deregister/{draft}/declarant"
    dbsession.rollback()
    answers = dbsession.get(Draft, draft).answers
    assert "applicant" not in answers and "declarant" not in answers


def test_changing_the_holder_asks_the_leave_date_again(client_request, auth, dbsession, clock):
    # The leave date was checked against the first holder's 签发日期, not the second's.
    auth.login("张伟")
    draft = start(client_request)
    walk(client_request, draft, "family", person_declarant("张伟"))
    client_request.post(f"/deregister/{draft}/applicant", {"member": str(pid(dbsession, "张小明"))})
    client_request.post(f"/deregister/{draft}/reason", reason(clock.today))
    assert client_request.get(f"/deregister/{draft}/check").status == 200
    answer = client_request.post(
        f"/deregister/{draft}/applicant?change=1", {"member": str(pid(dbsession, "李娜"))}
    )
    assert answer.location == f"/deregister/{draft}/reason"
    dbsession.rollback()
    assert "reason" not in dbsession.get(Draft, draft).answers


def test_switched_member_is_the_default_holder(client_request, auth, dbsession):
    auth.login("李娜")
    client_request.post("/family/switch", {"member": pid(dbsession, "张小明")})
    draft = start(client_request)
    role = client_request.get(f"/deregister/{draft}/role")
    assert role.soup.select_one("input[name=declarant_role][checked]")["value"] == "family"
    client_request.post(f"/deregister/{draft}/role", {"declarant_role": "family"})
    client_request.post(f"/deregister/{draft}/declarant", person_declarant("李娜"))
    applicant = client_request.get(f"/deregister/{draft}/applicant")
    checked = applicant.soup.select_one("input[name=member][checked]")
    assert checked["value"] == str(pid(dbsession, "张小明"))


def pid(dbsession, name) -> int:
    dbsession.rollback()
    return dbsession.exec(select(Person.id).where(Person.name == name)).one()


def test_landlord_has_no_family_picker(client_request, auth):
    auth.login("张伟")
    draft = start(client_request)
    walk(client_request, draft, "landlord", person_declarant("张伟"))
    page = client_request.get(f"/deregister/{draft}/applicant")
    assert page.soup.select_one("#member") is None


def test_stranger_cannot_open_anothers_deregistration_draft(client_request, auth):
    auth.login("陈军")
    draft = start(client_request)
    auth.logout()
    auth.login("赵强")
    client_request.get(f"/deregister/{draft}/role", expected_status=404)
    client_request.post(
        f"/deregister/{draft}/role", {"declarant_role": "self"}, expected_status=404
    )


def test_declarant_partial_fits_in_4kb(client_request, auth):
    auth.login("黄丽")
    draft = start(client_request)
    client_request.post(f"/deregister/{draft}/role", {"declarant_role": "employer"})
    page = client_request.get(f"/deregister/{draft}/declarant", htmx=True)
    assert len(page.response.get_data()) <= 4096
    assert (
        page.soup.select_one("#org_uscc") is not None
        and page.soup.select_one("#declarant_id_number") is None
    )


def test_receipt_names_the_reason_in_words(client_request, auth, clock):
    auth.login("赵强")
    draft = start(client_request)
    walk(client_request, draft, "self", person_declarant("赵强"))
    client_request.post(
        f"/deregister/{draft}/reason",
        reason(clock.today, reason="other", reason_detail="回老家照顾父母"),
    )
    client_request.post(f"/deregister/{draft}/check", {"declaration": "y"})
    done = client_request.get(f"/deregister/{draft}/done")
    assert "其他：回老家照顾父母" in done.main_text
    receipt = client_request.get(f"/cases/{done.text('#reference')}")
    assert "其他：回老家照顾父母" in receipt.main_text


def test_receipt_is_only_for_parties_to_the_case(client_request, auth, clock):
    auth.login("赵强")
    draft = start(client_request)
    walk(client_request, draft, "self", person_declarant("赵强"))
    finish(client_request, draft, clock.today)
    reference = client_request.get(f"/deregister/{draft}/done").text("#reference")
    auth.logout()
    auth.login("张伟")
    client_request.get(f"/cases/{reference}", expected_status=404)
    assert reference not in client_request.get("/cases").main_text


def check_rows(page) -> list[tuple[str, str]]:
    return [
        (row.dt.get_text(strip=True), " ".join(row.dd.get_text(" ", strip=True).split()))
        for row in page.soup.select("dl.summary .summary-row")
    ]


def test_check_answers_name_the_declarant_in_one_row_for_a_person_or_an_organisation(
    client_request, auth, clock
):
    auth.login("陈军")
    draft = start(client_request)
    walk(client_request, draft, "landlord", person_declarant("陈军"), "李娜")
    client_request.post(f"/deregister/{draft}/reason", reason(clock.today))
    rows = check_rows(client_request.get(f"/deregister/{draft}/check"))
    assert rows[:3] == [
        ("申报身份", "房东（屋主、出租屋主或其代理人）"),
        ("申报人", "陈军 4401**********5176 13800000010"),
        ("持证人", "李娜 5101**********2241"),
    ]
    # One change link for the declarant step, not one per field of it.
    links = client_request.get(f"/deregister/{draft}/check").soup.select(".summary-action a")
    assert [a["href"] for a in links].count(f"/deregister/{draft}/declarant?change=1") == 1

    auth.logout()
    auth.login("黄丽")
    draft = start(client_request)
    walk(client_request, draft, "employer", org_declarant("employer", "黄丽"), "张伟")
    client_request.post(f"/deregister/{draft}/reason", reason(clock.today))
    rows = check_rows(client_request.get(f"/deregister/{draft}/check"))
    assert rows[1] == (
        "申报单位",
        "广州示例科技有限公司（91440106MA5ABC120A），经办人黄丽 13800000011",
    )
