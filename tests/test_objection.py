"""Who deregistered my permit, and the right to object (SPEC 11.1): /permit names the
declarant (masked), the reason and dates; /permit/objection files one YY case per
deregistration within 30 days; staff decide it once (12.4, services.objection_decisions.decide)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from epermit import db, demo
from epermit.acting import Acting, StaffActing
from epermit.models import Case, Objection, Person, Staff
from epermit.services import deregister, objection_decisions
from epermit.vocabulary import DeclarantRole, Reason

USCC = {DeclarantRole.EMPLOYER: "91440106MA5ABC120A", DeclarantRole.SCHOOL: "12440111455123453T"}
STATEMENT = "我仍住在天河路100号1201房,没有搬走,房东弄错了。"


def cn(d):
    return f"{d.year}年{d.month}月{d.day}日"


def person(session, name) -> Person:
    return session.exec(select(Person).where(Person.name == name)).one()


def declare(app, clock, *, declarant, holder, role):
    """A deregistration declared through the service, as the wizard would."""
    with db.session_scope(db.engine_of(app)) as session:
        actor = person(session, declarant)
        declaration = deregister.Declaration(
            role=role,
            applicant_id=person(session, holder).id,
            reason=Reason.MOVED_OUT
            if role == DeclarantRole.LANDLORD
            else Reason.LEFT_SCHOOL
            if role == DeclarantRole.SCHOOL
            else Reason.LEFT_CITY,
            reason_detail=None,
            leave_date=clock.today - timedelta(days=2),
            organisation_uscc=USCC.get(role),
        )
        return deregister.declare(
            session, declaration, Acting(actor, clock(), clock.today, "127.0.0.1")
        ).reference


@pytest.fixture
def landlord_deregistered_li_na(app, clock):
    return declare(app, clock, declarant="陈军", holder="李娜", role=DeclarantRole.LANDLORD)


def objections_of(dbsession):
    dbsession.rollback()
    return dbsession.exec(select(Objection)).all()


def objection_form(statement=STATEMENT, declaration="y"):
    data = {"statement": statement}
    if declaration:
        data["declaration"] = declaration
    return data


def test_permit_names_the_landlord_masked_with_reason_and_dates(
    client_request, auth, clock, landlord_deregistered_li_na
):
    auth.login("李娜")
    page = client_request.get("/permit")
    assert page.text("#status") == "已注销"
    declared = page.text("#declared-by")
    assert "房东陈*" in declared and "陈军" not in page.main_text
    assert "搬离登记住址" in declared
    assert page.soup.select_one("#declared-by time")["datetime"].startswith(clock.today.isoformat())
    left = page.soup.find("dt", string="离开日期").find_next_sibling("dd")
    assert left.time["datetime"] == (clock.today - timedelta(days=2)).isoformat()
    assert f"{cn(clock.today + timedelta(days=30))}（含当日）前提出异议" in page.main_text.replace(
        " ", ""
    )
    assert page.soup.select_one('a[href="/permit/objection"]') is not None


def test_an_organisation_is_named_in_full(client_request, auth, app, clock):
    declare(app, clock, declarant="黄丽", holder="张伟", role=DeclarantRole.EMPLOYER)
    auth.login("张伟")
    assert "用人单位广州示例科技有限公司" in client_request.get("/permit").text("#declared-by")


def test_own_deregistration_shows_no_declarant_and_no_objection(client_request, auth):
    auth.login("刘洋")  # deregistered himself 30 days ago
    page = client_request.get("/permit")
    assert page.soup.select_one("#declared-by") is None
    assert page.soup.select_one('a[href="/permit/objection"]') is None


def test_case_list_says_who_made_the_case(client_request, auth, landlord_deregistered_li_na):
    auth.login("李娜")
    page = client_request.get("/cases")
    row = page.soup.find("a", string=landlord_deregistered_li_na).find_parent("tr")
    cells = [td.get_text(strip=True) for td in row.select("td")]
    assert cells[1:3] == ["注销", "房东陈*申报注销"]


def test_holder_objects_and_is_told_by_sms(
    client_request, auth, dbsession, outbox, clock, landlord_deregistered_li_na
):
    auth.login("李娜")
    form = client_request.get("/permit/objection")
    assert form.h1 == "对注销提出异议"
    assert "房东陈*" in form.text("#declared-by")
    answer = client_request.post("/permit/objection", objection_form())
    reference = answer.location.rsplit("/", 1)[-1]
    assert answer.location == f"/permit/objection/{reference}" and reference.startswith("YY")
    done = client_request.get(answer.location)
    assert done.text("#reference") == reference
    assert STATEMENT in done.main_text and landlord_deregistered_li_na in done.main_text

    [objection] = objections_of(dbsession)
    assert objection.status == "pending" and objection.statement == STATEMENT
    case = dbsession.get(Case, objection.case_id)
    li_na = person(dbsession, "李娜")
    assert case.kind == "objection" and case.applicant_id == case.agent_id == li_na.id
    sms = outbox.messages(demo.phone("李娜"))[-1]["text"]
    assert "已收到您对注销您居住证的异议" in sms and reference in sms

    permit = client_request.get("/permit")
    assert "等待派出所处理" in permit.text("#objection-status")
    assert permit.soup.select_one('a[href="/permit/objection"]') is None
    row = client_request.get("/cases").soup.find("a", string=reference).find_parent("tr")
    assert [td.get_text(strip=True) for td in row.select("td")][1:] == [
        "注销异议",
        "本人",
        cn(clock.today),
        "待处理",
    ]


def test_family_member_objects_through_switch(
    client_request, auth, dbsession, outbox, landlord_deregistered_li_na
):
    auth.login("张伟")
    li_na = person(dbsession, "李娜")
    client_request.post("/family/switch", {"member": str(li_na.id)})
    form = client_request.get("/permit/objection")
    assert "李娜的居住证" in form.main_text
    client_request.post("/permit/objection", objection_form())
    [objection] = objections_of(dbsession)
    case = dbsession.get(Case, objection.case_id)
    assert case.applicant_id == li_na.id and case.agent_id == person(dbsession, "张伟").id
    assert "已收到张*对注销您居住证的异议" in outbox.messages(demo.phone("李娜"))[-1]["text"]
    auth.login("李娜")
    row = client_request.get("/cases").soup.find("a", string=case.reference).find_parent("tr")
    assert "家庭成员张*代为提出异议" in row.get_text()


def test_a_second_objection_is_refused_and_nothing_saved(
    client_request, auth, dbsession, landlord_deregistered_li_na
):
    auth.login("李娜")
    first = client_request.post("/permit/objection", objection_form())
    reference = first.location.rsplit("/", 1)[-1]
    page = client_request.get("/permit/objection")
    assert page.h1 == "不能提出异议"
    assert f"已对这次注销提出过异议（办件编号{reference}）" in page.text("#objection-refused")
    again = client_request.post("/permit/objection", objection_form(), expected_status=409)
    assert "每次注销只能提出一次异议" in again.main_text
    assert len(objections_of(dbsession)) == 1


def test_objection_is_taken_on_the_thirtieth_day_and_refused_after(
    client_request, auth, dbsession, clock, landlord_deregistered_li_na
):
    deadline = clock.today + timedelta(days=30)
    clock.advance(days=31)
    auth.login("李娜")
    page = client_request.get("/permit/objection")
    assert f"提出异议的期限已于{cn(deadline)}届满" in page.text("#objection-refused")
    client_request.post("/permit/objection", objection_form(), expected_status=409)
    assert objections_of(dbsession) == []
    clock.advance(days=-1)  # the thirtieth day itself
    client_request.post("/permit/objection", objection_form())
    assert len(objections_of(dbsession)) == 1


def test_objecting_to_ones_own_declaration_is_refused(client_request, auth, app, dbsession, clock):
    # 张伟 deregistered his wife as family; he cannot object to what he declared himself.
    declare(app, clock, declarant="张伟", holder="李娜", role=DeclarantRole.FAMILY)
    auth.login("张伟")
    client_request.post("/family/switch", {"member": str(person(dbsession, "李娜").id)})
    page = client_request.get("/permit/objection")
    assert "不能对自己的申报提出异议" in page.text("#objection-refused")
    client_request.post("/permit/objection", objection_form(), expected_status=409)
    assert objections_of(dbsession) == []
    # 李娜 herself did not declare it, and may.
    auth.login("李娜")
    client_request.post("/permit/objection", objection_form())
    assert len(objections_of(dbsession)) == 1


def test_a_holder_who_deregistered_themself_cannot_object(client_request, auth):
    auth.login("刘洋")
    page = client_request.get("/permit/objection")
    assert "不能对自己的申报提出异议" in page.text("#objection-refused")


def test_a_permit_that_is_not_deregistered_has_nothing_to_object_to(client_request, auth):
    auth.login("张伟")
    page = client_request.get("/permit/objection")
    assert "没有被他人申报注销" in page.text("#objection-refused")


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("", "请填写异议理由"),
        ("   \n ", "请填写异议理由"),
        ("错" * 501, "异议理由不能超过500个字，现在是501个字"),
    ],
)
def test_empty_or_too_long_statement_is_refused_and_nothing_saved(
    client_request, auth, dbsession, statement, message, landlord_deregistered_li_na
):
    auth.login("李娜")
    page = client_request.post("/permit/objection", objection_form(statement), 422)
    assert page.errors() == {"statement": message}
    assert page.soup.title.get_text().startswith("错误:")
    assert page.soup.select_one("#statement")["aria-invalid"] == "true"
    assert objections_of(dbsession) == []


def test_a_statement_of_500_characters_is_taken(
    client_request, auth, dbsession, landlord_deregistered_li_na
):
    auth.login("李娜")
    client_request.post("/permit/objection", objection_form("对" * 500))
    assert len(objections_of(dbsession)[0].statement) == 500


def test_the_declaration_must_be_ticked(
    client_request, auth, dbsession, landlord_deregistered_li_na
):
    auth.login("李娜")
    page = client_request.post("/permit/objection", objection_form(declaration=None), 422)
    assert page.errors() == {"declaration": "请勾选声明，确认异议理由真实"}
    assert page.text("#statement") == STATEMENT  # what was typed is kept
    assert objections_of(dbsession) == []


def test_objection_needs_csrf(client_request, auth, dbsession, landlord_deregistered_li_na):
    auth.login("李娜")
    client_request.post("/permit/objection", objection_form(), 400, csrf=False)
    assert objections_of(dbsession) == []


def test_someone_elses_objection_receipt_is_404(client_request, auth, landlord_deregistered_li_na):
    auth.login("李娜")
    reference = client_request.post("/permit/objection", objection_form()).location
    auth.login("赵强")
    client_request.get(reference, expected_status=404)


def test_one_objection_per_deregistration_in_the_database(
    client_request, auth, dbsession, clock, landlord_deregistered_li_na
):
    auth.login("李娜")
    client_request.post("/permit/objection", objection_form())
    [first] = objections_of(dbsession)
    case = dbsession.get(Case, first.case_id)
    twin = Case(**{**case.model_dump(), "id": None, "reference": "YY20261125K7M2Q9X"})
    dbsession.add(twin)
    dbsession.flush()
    dbsession.add(
        Objection(
            deregistration_id=first.deregistration_id,
            case_id=twin.id,
            permit_id=first.permit_id,
            statement="again",
            filed_at=clock(),
            district=first.district,
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        dbsession.flush()


def test_a_decision_is_taken_once_and_told_to_holder_and_declarant(
    app, client_request, auth, dbsession, outbox, clock, landlord_deregistered_li_na
):
    auth.login("李娜")
    client_request.post("/permit/objection", objection_form())
    [objection] = objections_of(dbsession)
    # Two of the demo staff (SPEC 7), deciding through the staff console's service: the
    # supervisor sees the whole city, and decided_by refers to the staff table.
    first, second = (
        dbsession.exec(select(Staff).where(Staff.name == name)).one() for name in ("刘所长", "王警官")
    )
    clock.advance(days=2)

    def decide(staff: Staff, decision: str, note: str) -> None:
        acting = StaffActing(staff=staff, now=clock(), today=clock.today, client_address=None)
        with db.session_scope(db.engine_of(app)) as session:
            objection_decisions.decide(
                session, acting, objection_id=objection.id, decision=decision, note=note
            )

    decide(first, "uphold", "经核实，李娜已于11月搬离。")
    with pytest.raises(objection_decisions.AlreadyDecided):
        decide(second, "restore", "改判")
    assert app.test_cli_runner().invoke(args=["deliver-sms"]).exit_code == 0
    dbsession.expire_all()
    [decided] = objections_of(dbsession)
    assert (decided.status, decided.decided_by, decided.decided_at) == ("upheld", first.id, clock())
    assert decided.decision_note == "经核实，李娜已于11月搬离。"
    assert dbsession.get(Case, decided.case_id).outcome == "upheld"
    [to_holder] = [m["text"] for m in outbox.messages(demo.phone("李娜")) if "经公安机关审核" in m["text"]]
    assert "您对居住证注销提出的异议" in to_holder and "决定维持注销" in to_holder
    [to_landlord] = [m["text"] for m in outbox.messages(demo.phone("陈军")) if "经公安机关审核" in m["text"]]
    assert "李*对您申报的居住证注销" in to_landlord and "决定维持注销" in to_landlord
    auth.login("李娜")  # two days on, the first session has long been idle
    assert "异议不成立，注销维持" in client_request.get("/permit").text("#objection-status")


def test_a_decision_is_recorded_whole_or_not_at_all(
    client_request, auth, dbsession, landlord_deregistered_li_na
):
    auth.login("李娜")
    client_request.post("/permit/objection", objection_form())
    [objection] = objections_of(dbsession)
    with pytest.raises(sa.exc.IntegrityError):
        dbsession.execute(
            sa.update(Objection).where(Objection.id == objection.id).values(status="restored")
        )


def test_the_holders_receipt_masks_the_landlord(client_request, auth, landlord_deregistered_li_na):
    auth.login("李娜")
    receipt = client_request.get(f"/cases/{landlord_deregistered_li_na}")
    row = receipt.soup.find("dt", string="申报人").find_next_sibling("dd")
    assert row.get_text(strip=True) == "陈*" and "陈军" not in receipt.main_text
    auth.login("陈军")  # the landlord's own copy names him
    mine = client_request.get(f"/cases/{landlord_deregistered_li_na}")
    assert (
        mine.soup.find("dt", string="申报人").find_next_sibling("dd").get_text(strip=True) == "陈军"
    )


def test_a_phoneless_childs_objection_is_told_to_the_parent_who_filed_it(
    app, client_request, auth, dbsession, outbox, clock
):
    declare(app, clock, declarant="周敏", holder="张小明", role=DeclarantRole.SCHOOL)
    auth.login("李娜")
    client_request.post("/family/switch", {"member": str(person(dbsession, "张小明").id)})
    client_request.post("/permit/objection", objection_form())
    sms = outbox.messages(demo.phone("李娜"))[-1]["text"]
    assert "已收到您为张小明提出的居住证注销异议" in sms
