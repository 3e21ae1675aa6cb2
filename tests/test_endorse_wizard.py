"""The endorsement wizard (SPEC 2.3-2.7, 2.10, 4.1, 4.2, 4.4-4.6)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import func, select

from epermit import rules
from epermit.models import AuditEvent, Case, Draft, Endorsement, Permit, Person
from epermit.services.references import is_well_formed
from tests.conftest import Auth, ClientRequest

ZHANG_WEI = {"name": "张伟", "id": "430102199003071234", "phone": "13800000001"}


def start(client_request) -> str:
    answer = client_request.get("/endorse", expected_status=303)
    match = re.fullmatch(r"/endorse/([\w-]+)/who", answer.location)
    assert match, answer.location
    return match.group(1)


def walk_self(client_request, draft: str) -> None:
    assert client_request.post(f"/endorse/{draft}/who", {"for_whom": "self"}).location == (
        f"/endorse/{draft}/residence"
    )
    assert client_request.post(
        f"/endorse/{draft}/residence", {"address_unchanged": "yes"}
    ).location == (f"/endorse/{draft}/check")


def submit(client_request, draft: str, expected_status=303):
    return client_request.post(f"/endorse/{draft}/check", {"declaration": "y"}, expected_status)


def permit_of(dbsession, name):
    person = dbsession.exec(select(Person).where(Person.name == name)).one()
    dbsession.rollback()
    return dbsession.exec(select(Permit).where(Permit.person_id == person.id)).one()


def count(dbsession, model) -> int:
    dbsession.rollback()
    return dbsession.exec(select(func.count()).select_from(model)).one()


def test_on_time_endorsement_for_self_extends_from_anniversary(
    client_request, auth, dbsession, clock
):
    auth.login("张伟")
    draft = start(client_request)
    walk_self(client_request, draft)
    check = client_request.get(f"/endorse/{draft}/check")
    valid_until = clock.today + timedelta(days=10)
    new_valid_until = rules.add_years(valid_until, 1)
    assert "居住年限不变" in check.main_text
    before = permit_of(dbsession, "张伟").continuity_start
    assert submit(client_request, draft).location == f"/endorse/{draft}/done"
    done = client_request.get(f"/endorse/{draft}/done")
    reference = done.text("#reference")
    assert reference.startswith("QZ" + clock.today.strftime("%Y%m%d")) and is_well_formed(reference)
    permit = permit_of(dbsession, "张伟")
    assert permit.valid_until == new_valid_until
    assert permit.continuity_start == before
    page = client_request.get("/permit")
    assert page.text("#status") == "有效"
    assert page.soup.select_one("#valid-until time")["datetime"] == new_valid_until.isoformat()


def test_submission_writes_case_endorsement_audit_and_sms_together(
    client_request, auth, dbsession, outbox
):
    auth.login("张伟")
    draft = start(client_request)
    walk_self(client_request, draft)
    submit(client_request, draft)
    dbsession.rollback()
    case = dbsession.exec(select(Case)).all()[-1]
    assert case.kind == "endorse" and case.outcome == "endorsed"
    dbsession.rollback()
    endorsement = dbsession.exec(select(Endorsement)).one()
    assert endorsement.case_id == case.id and not endorsement.late
    event = dbsession.exec(select(AuditEvent).where(AuditEvent.action == "permit_endorsed")).one()
    assert event.detail["reference"] == case.reference and event.client_address == "127.0.0.1"
    assert case.reference in outbox.messages("13800000001")[-1]["text"]


def test_late_endorsement_restores_use_and_restarts_continuity(
    client_request, auth, dbsession, clock
):
    auth.login("王芳")
    draft = start(client_request)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "self"})
    residence = client_request.get(f"/endorse/{draft}/residence")
    assert "这是补办签注" in residence.main_text
    assert "居住年限自补办签注之日" in residence.main_text
    client_request.post(f"/endorse/{draft}/residence", {"address_unchanged": "yes"})
    check = client_request.get(f"/endorse/{draft}/check")
    assert "重新连续计算" in check.main_text
    submit(client_request, draft)
    permit = permit_of(dbsession, "王芳")
    assert permit.valid_until == rules.add_years(clock.today, 1)
    assert permit.continuity_start == clock.today
    assert client_request.get("/permit").text("#status") == "有效"
    done = client_request.get(f"/endorse/{draft}/done")
    assert "重新连续计算" in done.main_text
    assert "我们已向您登记的手机号码发送短信通知" in done.main_text


def test_one_question_pages_ask_it_once_on_screen_and_name_the_group_for_screen_readers(
    client_request, auth
):
    auth.login("张伟")
    draft = start(client_request)
    who = client_request.get(f"/endorse/{draft}/who")
    legend = who.soup.select_one("fieldset legend")
    assert legend.get_text() == "您为谁办理？" and legend["class"] == ["visually-hidden"]
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "other"})
    # A page of several questions shows each group's legend.
    applicant = client_request.get(f"/endorse/{draft}/applicant")
    assert all(not legend.get("class") for legend in applicant.soup.select("legend"))


def test_a_crash_mid_step_saves_nothing_of_that_step(
    app, client_request, auth, dbsession, monkeypatch
):
    auth.login("张伟")
    draft = start(client_request)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "self"})

    def crash() -> None:
        raise RuntimeError("the database went away before the commit")

    # The answer is written in the transaction, then the commit fails.
    monkeypatch.setattr("epermit.views._wizard.commit_and_deliver", crash)
    page = client_request.post(
        f"/endorse/{draft}/residence", {"address_unchanged": "yes"}, expected_status=500
    )
    assert "没有作任何更改" in page.main_text and "之前已完成的步骤仍然保存着" in page.main_text
    dbsession.rollback()
    answers = dbsession.get(Draft, draft).answers
    assert answers["who"]["for_whom"] == "self" and "residence" not in answers


def test_before_window_is_refused_with_opening_date(client_request, auth, clock, dbsession):
    auth.login("李娜")
    draft = start(client_request)
    answer = client_request.post(f"/endorse/{draft}/who", {"for_whom": "self"})
    assert answer.location == f"/endorse/{draft}/stop"
    page = client_request.get(answer.location)
    opens = rules.window_opens(clock.today + timedelta(days=200))
    assert f"可于 {opens.year}年{opens.month}月{opens.day}日 起办理签注" in page.main_text
    assert page.soup.select_one(".notice time")["datetime"] == opens.isoformat()
    assert client_request.get(f"/endorse/{draft}/residence", 303).location.endswith("/stop")
    assert client_request.get(f"/endorse/{draft}/check", 303).location.endswith("/stop")
    assert count(dbsession, Endorsement) == 0


def test_deregistered_permit_is_refused_and_points_to_reapplication(client_request, auth):
    auth.login("刘洋")
    draft = start(client_request)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "self"})
    page = client_request.get(f"/endorse/{draft}/stop")
    assert page.h1 == "居住证已注销，不能签注" and "重新申领" in page.main_text


def test_address_changed_stops_with_a_link_to_change_the_address_online(
    client_request, auth, dbsession
):
    auth.login("张伟")
    draft = start(client_request)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "self"})
    answer = client_request.post(f"/endorse/{draft}/residence", {"address_unchanged": "no"})
    page = client_request.get(answer.location)
    assert page.h1 == "请先变更居住地址" and "居住变更登记" in page.main_text
    # SPEC 9.5: the way on is /move, and endorsement follows online once it is confirmed.
    assert page.soup.select_one('main a[href="/move"]') is not None
    assert "确认后，即可在网上办理签注" in page.main_text
    assert "派出所" not in page.main_text
    assert client_request.get(f"/endorse/{draft}/check", 303).location.endswith("/stop")
    # Changing the answer back reopens the journey.
    client_request.post(f"/endorse/{draft}/residence", {"address_unchanged": "yes"})
    assert client_request.get(f"/endorse/{draft}/check").h1 == "检查您的签注申请"


def test_steps_cannot_be_skipped(client_request, auth):
    auth.login("张伟")
    draft = start(client_request)
    for step in ("residence", "check", "applicant", "consent", "done"):
        assert client_request.get(f"/endorse/{draft}/{step}", 303).location == (
            f"/endorse/{draft}/who"
        )
    answer = client_request.post(f"/endorse/{draft}/check", {"declaration": "y"})
    assert answer.location == f"/endorse/{draft}/who"


def test_each_step_has_back_link_to_the_previous(client_request, auth):
    auth.login("张伟")
    draft = start(client_request)
    assert client_request.get(f"/endorse/{draft}/who").soup.select_one(".back-link")["href"] == (
        "/permit"
    )
    walk_self(client_request, draft)
    page = client_request.get(f"/endorse/{draft}/residence")
    assert page.soup.select_one(".back-link")["href"] == f"/endorse/{draft}/who"


def test_validation_errors_keep_values_and_save_nothing(client_request, auth, dbsession):
    auth.login("张伟")
    draft = start(client_request)
    page = client_request.post(f"/endorse/{draft}/who", {}, expected_status=422)
    assert page.errors() == {"for_whom": "请选择为本人办理还是为他人办理"}
    assert page.soup.select_one('.error-summary a[href="#for_whom"]').get_text() == (
        "请选择为本人办理还是为他人办理"
    )
    assert page.soup.select_one("#for_whom")["aria-invalid"] == "true"
    # The group's fieldset points at the message, once; each radio only at its own hint,
    # or a screen reader would read the error again on every radio (issue 10).
    assert page.soup.select_one("fieldset")["aria-describedby"] == "for_whom-error"
    assert page.soup.select_one("#for_whom").get("aria-describedby") is None
    other = page.soup.select_one("#for_whom-1")["aria-describedby"]
    assert other == "for_whom-1-item-hint"
    dbsession.rollback()
    assert "who" not in dbsession.get(Draft, draft).answers


def test_declaration_is_required(client_request, auth, dbsession):
    auth.login("张伟")
    draft = start(client_request)
    walk_self(client_request, draft)
    page = client_request.post(f"/endorse/{draft}/check", {}, expected_status=422)
    assert page.errors() == {"declaration": "请勾选声明，确认所填信息真实准确"}
    assert count(dbsession, Endorsement) == 0


def test_change_link_returns_to_check_answers(client_request, auth):
    auth.login("张伟")
    draft = start(client_request)
    walk_self(client_request, draft)
    check = client_request.get(f"/endorse/{draft}/check")
    links = [a["href"] for a in check.soup.select(".summary-action a")]
    assert f"/endorse/{draft}/residence?change=1" in links
    hidden = check.soup.select_one(".summary-action .visually-hidden").get_text()
    assert hidden == "为谁办理"
    page = client_request.get(f"/endorse/{draft}/residence?change=1")
    assert page.soup.select_one(".back-link")["href"] == f"/endorse/{draft}/check"
    answer = client_request.post(
        f"/endorse/{draft}/residence?change=1", {"address_unchanged": "yes"}
    )
    assert answer.location == f"/endorse/{draft}/check"


def test_changing_who_asks_the_new_questions_and_drops_stale_answers(
    client_request, auth, dbsession
):
    auth.login("张伟")
    draft = start(client_request)
    walk_self(client_request, draft)
    answer = client_request.post(f"/endorse/{draft}/who?change=1", {"for_whom": "other"})
    assert answer.location == f"/endorse/{draft}/applicant"
    answer = client_request.post(
        f"/endorse/{draft}/applicant", family_applicant(dbsession, "张小明")
    )
    # 张伟 said he still lives at his address; that says nothing about 张小明: asked again.
    assert answer.location == f"/endorse/{draft}/residence"
    assert client_request.get(f"/endorse/{draft}/check", 303).location.endswith("/residence")
    assert client_request.get(f"/endorse/{draft}/residence").h1 == "张小明是否仍住在登记的居住地址？"
    client_request.post(f"/endorse/{draft}/residence", {"address_unchanged": "yes"})
    answer = client_request.post(f"/endorse/{draft}/who?change=1", {"for_whom": "self"})
    dbsession.rollback()
    answers = dbsession.get(Draft, draft).answers
    assert "applicant" not in answers and "residence" not in answers
    assert answer.location == f"/endorse/{draft}/residence"


def person_id(dbsession, name) -> int:
    dbsession.rollback()
    return dbsession.exec(select(Person).where(Person.name == name)).one().id


def family_applicant(dbsession, name, **extra):
    data = {
        "agent_name": ZHANG_WEI["name"],
        "agent_id_number": ZHANG_WEI["id"],
        "agent_phone": ZHANG_WEI["phone"],
        "member": str(person_id(dbsession, name)),
        "relationship": "child",
    }
    data.update(extra)
    return data


def stranger_applicant(dbsession):
    """赵强, who is not in 张伟's family list: he must consent by SMS."""
    return family_applicant(
        dbsession,
        "张小明",
        member="other",
        applicant_name="赵强",
        applicant_id_number="410102199309144711",
        relationship="other_relative",
    )


def test_for_family_member_zhang_wei_endorses_xiaoming(client_request, auth, dbsession, clock):
    auth.login("张伟")
    draft = start(client_request)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "other"})
    applicant = client_request.get(f"/endorse/{draft}/applicant")
    assert applicant.soup.select_one("#agent_name")["value"] == "张伟"
    assert applicant.soup.select_one("#agent_id_number")["value"] == ZHANG_WEI["id"]
    labels = [label.get_text() for label in applicant.soup.select(".radio label")]
    assert "李娜（配偶）" in labels and "张小明（子女）" in labels
    answer = client_request.post(
        f"/endorse/{draft}/applicant", family_applicant(dbsession, "张小明")
    )
    assert answer.location == f"/endorse/{draft}/residence"
    client_request.post(f"/endorse/{draft}/residence", {"address_unchanged": "yes"})
    check = client_request.get(f"/endorse/{draft}/check")
    assert "张小明" in check.main_text and "代办人" in check.main_text
    submit(client_request, draft)
    dbsession.rollback()
    case = dbsession.exec(select(Case).where(Case.kind == "endorse")).one()
    assert case.applicant_id == person_id(dbsession, "张小明")
    assert case.agent_id == person_id(dbsession, "张伟")
    assert case.details["agent"]["relationship"] == "child"
    assert permit_of(dbsession, "张小明").valid_until == rules.add_years(
        clock.today + timedelta(days=20), 1
    )
    # 张小明 has no phone: the done page must not claim that anyone was sent an SMS.
    assert "短信" not in client_request.get(f"/endorse/{draft}/done").main_text


def test_applicant_by_name_and_id_of_family_member_needs_no_consent(
    client_request, auth, dbsession
):
    auth.login("张伟")
    draft = start(client_request)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "other"})
    data = family_applicant(
        dbsession,
        "张小明",
        member="other",
        applicant_name="张小明",
        applicant_id_number="430102201509051273",
    )
    assert client_request.post(f"/endorse/{draft}/applicant", data).location.endswith("/residence")


def test_non_member_applicant_must_consent_by_sms(client_request, auth, dbsession, outbox, clock):
    auth.login("张伟")
    draft = start(client_request)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "other"})
    # 赵强 is due in 150 days: move time into his window first.
    data = stranger_applicant(dbsession)
    answer = client_request.post(f"/endorse/{draft}/applicant", data)
    assert answer.location == f"/endorse/{draft}/consent"
    code = outbox.last_code("13800000020")
    assert "张伟申请为您代办居住证签注" in outbox.messages("13800000020")[-1]["text"]
    wrong = "000000" if code != "000000" else "111111"
    page = client_request.post(f"/endorse/{draft}/consent", {"consent_code": wrong}, 422)
    assert "还可尝试4次" in page.errors()["consent_code"]
    assert client_request.get(f"/endorse/{draft}/residence", 303).location.endswith("/consent")
    answer = client_request.post(f"/endorse/{draft}/consent", {"consent_code": code})
    # Consent given, but 赵强's window is not open yet: the journey stops with the date.
    assert answer.location == f"/endorse/{draft}/stop"
    dbsession.rollback()
    stored = dbsession.get(Draft, draft).answers["consent"]
    assert stored["consented"] is True and stored["consent_code"] is None


def test_consent_code_can_be_sent_again_after_a_minute(
    client_request, auth, dbsession, outbox, clock
):
    auth.login("张伟")
    draft = start(client_request)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "other"})
    data = stranger_applicant(dbsession)
    client_request.post(f"/endorse/{draft}/applicant", data)
    clock.advance(seconds=61)
    client_request.post(f"/endorse/{draft}/consent/resend", {})
    assert len([m for m in outbox.messages("13800000020") if "code" in m]) == 2


def test_applicant_without_phone_can_only_be_served_from_family_list(
    client_request, auth, dbsession
):
    auth.login("李娜")
    # Remove 张小明 from 李娜's list: he has no phone, so consent by SMS is impossible.
    from epermit.models import FamilyLink

    link = dbsession.exec(
        select(FamilyLink).where(
            FamilyLink.person_id == person_id(dbsession, "李娜"),
            FamilyLink.member_id == person_id(dbsession, "张小明"),
        )
    ).one()
    dbsession.delete(link)
    dbsession.commit()
    draft = start(client_request)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "other"})
    data = {
        "agent_name": "李娜",
        "agent_id_number": "510104199208152241",
        "agent_phone": "13800000002",
        "member": "other",
        "applicant_name": "张小明",
        "applicant_id_number": "430102201509051273",
        "relationship": "child",
    }
    page = client_request.post(f"/endorse/{draft}/applicant", data, expected_status=422)
    assert "没有登记手机号码" in page.errors()["applicant_id_number"]


def test_agent_details_must_be_the_signed_in_person(client_request, auth, dbsession):
    auth.login("赵强")
    draft = start(client_request)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "other"})
    data = {
        "agent_name": "张伟",
        "agent_id_number": ZHANG_WEI["id"],
        "agent_phone": "13800000020",
        "member": "other",
        "applicant_name": "张小明",
        "applicant_id_number": "430102201509051273",
        "relationship": "child",
    }
    page = client_request.post(f"/endorse/{draft}/applicant", data, expected_status=422)
    errors = page.errors()
    assert errors["agent_name"] == "代办人姓名须与登录账号的姓名一致"
    assert errors["agent_id_number"] == "代办人公民身份号码须与登录账号的公民身份号码一致"


def test_applicant_name_and_id_must_match_a_permit(client_request, auth, dbsession):
    auth.login("张伟")
    draft = start(client_request)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "other"})
    data = family_applicant(
        dbsession,
        "张小明",
        member="other",
        applicant_name="张大明",
        applicant_id_number="430102201509051273",
    )
    page = client_request.post(f"/endorse/{draft}/applicant", data, expected_status=422)
    assert "未找到与该姓名和公民身份号码相符的居住证" in page.errors()["applicant_id_number"]
    assert page.soup.select_one("#applicant_name")["value"] == "张大明"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("agent_phone", "12345", "代办人手机号码应为以1开头的11位数字，如13800000000"),
        ("applicant_id_number", "43010219900307123", "申请人公民身份号码应为18位，请核对后重新输入"),
        ("applicant_id_number", "430102900307123", "请使用18位公民身份号码"),
        (
            "applicant_id_number",
            "430102199003071235",
            "申请人公民身份号码最后一位校验码不正确，请核对后重新输入",
        ),
        ("relationship", "boss", "请选择申请人与您的关系"),
    ],
)
def test_applicant_field_errors_name_the_field(
    client_request, auth, dbsession, field, value, message
):
    auth.login("张伟")
    draft = start(client_request)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "other"})
    data = family_applicant(
        dbsession,
        "张小明",
        member="other",
        applicant_name="张小明",
        applicant_id_number="430102201509051273",
    )
    data[field] = value
    page = client_request.post(f"/endorse/{draft}/applicant", data, expected_status=422)
    assert page.errors()[field] == message


def test_tampered_member_is_refused(client_request, auth, dbsession):
    auth.login("张伟")
    draft = start(client_request)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "other"})
    data = family_applicant(dbsession, "张小明", member=str(person_id(dbsession, "赵强")))
    page = client_request.post(f"/endorse/{draft}/applicant", data, expected_status=422)
    assert page.errors()["member"] == "请从列表中选择申请人"


def test_stranger_cannot_open_or_post_to_anothers_draft(client_request, client, auth, dbsession):
    auth.login("张伟")
    draft = start(client_request)
    walk_self(client_request, draft)
    auth.logout()
    auth.login("赵强")
    for step in ("who", "residence", "check", "done"):
        client_request.get(f"/endorse/{draft}/{step}", expected_status=404)
    client_request.post(f"/endorse/{draft}/check", {"declaration": "y"}, expected_status=404)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "other"}, expected_status=404)
    assert count(dbsession, Endorsement) == 0
    assert dbsession.get(Draft, draft).answers["who"] == {"for_whom": "self"}


def test_missing_csrf_token_is_refused(client_request, auth, dbsession):
    auth.login("张伟")
    draft = start(client_request)
    walk_self(client_request, draft)
    client_request.post(f"/endorse/{draft}/check", {"declaration": "y"}, 400, csrf=False)
    assert count(dbsession, Endorsement) == 0


def test_submitted_draft_leads_to_done_and_never_submits_twice(client_request, auth, dbsession):
    auth.login("张伟")
    draft = start(client_request)
    walk_self(client_request, draft)
    submit(client_request, draft)
    valid_until = permit_of(dbsession, "张伟").valid_until
    for step in ("who", "residence", "check", "stop"):
        assert client_request.get(f"/endorse/{draft}/{step}", 303).location == (
            f"/endorse/{draft}/done"
        )
    assert submit(client_request, draft).location == f"/endorse/{draft}/done"
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "self"})
    assert count(dbsession, Endorsement) == 1
    assert permit_of(dbsession, "张伟").valid_until == valid_until


def test_second_draft_for_same_period_shows_first_result(client_request, auth, dbsession):
    auth.login("张伟")
    first, second = start(client_request), start(client_request)
    walk_self(client_request, first)
    walk_self(client_request, second)
    submit(client_request, first)
    page = submit(client_request, second, expected_status=303)
    # The permit is valid for a year now: the second draft learns the window is closed.
    assert page.location.endswith(f"/endorse/{second}/stop") or page.location.endswith("/done")
    assert count(dbsession, Endorsement) == 1


def test_draft_survives_a_new_device(app, client_request, auth, outbox, clock):
    auth.login("张伟")
    draft = start(client_request)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "self"})
    phone = app.test_client()
    clock.advance(seconds=61)
    Auth(phone, outbox).login("张伟")
    page = ClientRequest(phone).get(f"/endorse/{draft}/who")
    assert page.soup.select_one("#for_whom")["checked"] is not None
    assert (
        ClientRequest(phone).get(f"/endorse/{draft}/residence").h1 == "您是否仍住在登记的居住地址？"
    )


def test_htmx_step_partial_is_small_and_has_title(client_request, auth):
    auth.login("张伟")
    draft = start(client_request)
    page = client_request.get(f"/endorse/{draft}/who", htmx=True)
    html = page.response.get_data(as_text=True)
    assert len(html.encode()) <= 4096, len(html.encode())
    assert page.soup.title.get_text().startswith("您为谁办理签注？")
    assert page.response.headers["Cache-Control"] == "no-store"
    # Focus moves to the swapped-in heading; a whole page leaves focus where browsers put it.
    assert page.soup.h1.has_attr("autofocus")
    assert not client_request.get(f"/endorse/{draft}/who").soup.h1.has_attr("autofocus")


def test_422_partial_carries_error_summary(client_request, auth):
    auth.login("张伟")
    draft = start(client_request)
    page = client_request.post(f"/endorse/{draft}/who", {}, expected_status=422, htmx=True)
    assert page.soup.title.get_text().startswith("错误: ")
    assert page.soup.select_one(".error-summary")["autofocus"] is not None
    assert not page.soup.h1.has_attr("autofocus")  # the summary takes focus, not the heading


def test_consent_step_renders_as_htmx_partial(client_request, auth, dbsession):
    auth.login("张伟")
    draft = start(client_request)
    client_request.post(f"/endorse/{draft}/who", {"for_whom": "other"})
    client_request.post(f"/endorse/{draft}/applicant", stranger_applicant(dbsession))
    page = client_request.get(f"/endorse/{draft}/consent", htmx=True)
    # Only the last four digits: whoever knows a name and ID number learns no more.
    assert "尾号为0020的手机号码" in page.soup.get_text() and "138" not in page.soup.get_text()
    assert page.soup.select_one(f'form[action="/endorse/{draft}/consent/resend"]') is not None
