"""The staff console's search, person page and scope (SPEC 12.2, 12.3)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from epermit import demo
from epermit.models import AuditEvent, Case, Person, Staff
from tests.staff_helpers import StaffAuth

NOTHING = "在您的辖区内没有找到与此匹配的人员，请核对后重新输入"


@pytest.fixture
def staff_auth(client, clock) -> StaffAuth:
    return StaffAuth(client, clock)


def person_id(dbsession, name: str) -> int:
    person = dbsession.exec(select(Person).where(Person.name == name)).one()
    assert person.id is not None
    return person.id


def test_officer_finds_zhang_wei_by_id_number_and_sees_his_cases(
    client_request, staff_auth, dbsession
):
    staff_auth.login("王警官")
    found = client_request.get(f"/staff/search?q={demo.person('张伟').id_number}", 303)
    assert found.location == f"/staff/people/{person_id(dbsession, '张伟')}"
    page = client_request.get(found.location)
    assert page.h1 == "张伟"
    assert page.text("#id-number") == demo.person("张伟").id_number  # the full card
    assert page.text("#status") == "待签注"
    assert "广州市天河区天河路100号1201房" in page.text("#history-title + table")
    assert "李娜在其家庭成员名单上（配偶）" in page.main_text
    assert "张小明在其家庭成员名单上（子女）" in page.main_text


def test_search_by_phone_and_by_reference(client_request, staff_auth, dbsession):
    staff_auth.login("刘所长")
    liu = person_id(dbsession, "刘洋")
    by_phone = client_request.get(f"/staff/search?q={demo.phone('刘洋')}", 303)
    assert by_phone.location == f"/staff/people/{liu}"
    reference = dbsession.exec(select(Case.reference).where(Case.applicant_id == liu)).one()
    by_reference = client_request.get(f"/staff/search?q={reference.lower()}", 303)
    assert by_reference.location == f"/staff/people/{liu}"
    page = client_request.get(by_reference.location)
    assert reference in page.text("#cases")
    assert page.text("#status") == "已注销"


def test_phone_typed_with_country_code_and_spaces_is_found(client_request, staff_auth):
    staff_auth.login("王警官")
    found = client_request.get("/staff/search?q=%2B86 138 0000 0001", 303)
    assert found.location.startswith("/staff/people/")


def test_officer_gets_404_for_a_person_registered_in_another_district(
    client_request, staff_auth, dbsession
):
    staff_auth.login("王警官")
    zhao = person_id(dbsession, "赵强")  # 白云区
    page = client_request.get(f"/staff/people/{zhao}", 404)
    assert page.h1 == "找不到页面"
    # Searching says no more than for somebody who does not exist.
    outside = client_request.get(f"/staff/search?q={demo.person('赵强').id_number}", 422)
    nobody = client_request.get("/staff/search?q=11010519491231002X", 422)
    assert outside.errors() == nobody.errors() == {"q": NOTHING}


def test_supervisor_sees_the_whole_city(client_request, staff_auth, dbsession):
    staff_auth.login("刘所长")
    page = client_request.get(f"/staff/people/{person_id(dbsession, '赵强')}")
    assert page.h1 == "赵强"


def test_officer_sees_no_one_without_a_permit_in_their_district(
    client_request, staff_auth, dbsession
):
    staff_auth.login("王警官")
    # 陈军 is a landlord in 天河区 but holds no permit: registered nowhere.
    client_request.get(f"/staff/people/{person_id(dbsession, '陈军')}", 404)
    client_request.get("/staff/people/999999", 404)


def test_search_that_is_not_a_reference_id_or_phone_says_what_to_type(client_request, staff_auth):
    staff_auth.login("王警官")
    page = client_request.get("/staff/search?q=张伟", 422)
    assert page.errors() == {"q": "无法识别，请输入完整的办件编号、18位公民身份号码或11位手机号码"}
    assert page.soup.select_one("#q")["value"] == "张伟"
    page = client_request.get("/staff/search?q=", 422)
    assert page.errors() == {"q": "请输入办件编号、公民身份号码或手机号码"}


def test_search_for_a_wrong_check_digit_is_not_taken_for_a_phone(client_request, staff_auth):
    staff_auth.login("王警官")
    page = client_request.get("/staff/search?q=430102199003071235", 422)
    assert "无法识别" in page.errors()["q"]


def test_every_staff_view_of_a_person_is_an_audit_event(client_request, staff_auth, dbsession):
    staff_auth.login("王警官")
    zhang = person_id(dbsession, "张伟")
    client_request.get(f"/staff/search?q={demo.person('张伟').id_number}", 303)
    client_request.get(f"/staff/people/{zhang}")
    client_request.get(f"/staff/people/{zhang}")
    dbsession.rollback()
    wang = dbsession.exec(select(Staff).where(Staff.name == "王警官")).one()
    events = dbsession.exec(
        select(AuditEvent).where(AuditEvent.staff_id == wang.id).order_by(AuditEvent.id)
    ).all()
    assert [e.action for e in events][-3:] == [
        "staff_searched", "staff_viewed_person", "staff_viewed_person"
    ]
    assert all(e.subject_id == zhang and e.actor_id is None for e in events[-3:])
    # The person page shows its own audit trail, naming the staff member.
    page = client_request.get(f"/staff/people/{zhang}")
    assert "工作人员查看 王警官（440106001）" in page.text("#audit-title + table")


def test_staff_pages_are_never_cached_or_indexed(client, client_request, staff_auth):
    login = client.get("/staff/login")
    assert login.headers["Cache-Control"] == "no-store"
    assert login.headers["X-Robots-Tag"] == "noindex, nofollow"
    staff_auth.login("王警官")
    page = client_request.get("/staff/search")
    assert page.response.headers["Cache-Control"] == "no-store"
    assert page.soup.select_one('meta[name="robots"]')["content"] == "noindex, nofollow"


def test_staff_pages_render_as_htmx_partials(client_request, staff_auth, dbsession):
    staff_auth.login("王警官")
    page = client_request.get(f"/staff/people/{person_id(dbsession, '张伟')}", htmx=True)
    assert page.soup.select_one("h1").get_text() == "张伟"


def test_signed_out_visitor_is_sent_to_staff_sign_in(client_request):
    assert client_request.get("/staff/search", 303).location == "/staff/login"


def test_staff_post_without_csrf_token_is_refused(client_request, staff_auth):
    staff_auth.login("王警官")
    page = client_request.post("/staff/logout", {}, 400, csrf=False)
    assert page.h1 == "请求无法处理"


def test_the_person_page_lists_when_their_code_was_verified(
    client_request, staff_auth, dbsession, clock
):
    from datetime import timedelta

    from epermit.models import Permit, VerificationEvent

    zhang = person_id(dbsession, "张伟")
    permit = dbsession.exec(select(Permit).where(Permit.person_id == zhang)).one()
    for hours in (3, 1):
        dbsession.add(VerificationEvent(permit_id=permit.id, person_id=zhang,
                                        checked_at=clock() - timedelta(hours=hours)))
    dbsession.commit()
    staff_auth.login("王警官")
    page = client_request.get(f"/staff/people/{zhang}")
    times = [t["datetime"] for t in page.soup.select("#verifications time")]
    assert len(times) == 2 and times[0] > times[1]  # newest first


def test_a_persons_latest_audit_events_come_from_their_index_in_order(dbsession):
    """Every staff view of a person is an audit event about them: the person page's newest
    events are read from (subject_id, at, id) in order, stopping at the page's limit, never
    by sorting every event about the person (a page that slowed with each view)."""
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from epermit.acting import StaffActing
    from epermit.clock import SHANGHAI
    from epermit.services import staff as staff_service

    captured: list[str] = []
    engine = dbsession.get_bind()

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        if "FROM auditevent" in statement and statement.lstrip().upper().startswith("SELECT"):
            captured.append(str(context.compiled.statement.compile(
                dialect=engine.dialect, compile_kwargs={"literal_binds": True}
            )))

    supervisor = dbsession.exec(select(Staff).where(Staff.name == "刘所长")).one()
    zhang = dbsession.exec(select(Person).where(Person.name == "张伟")).one()
    now = datetime.now(UTC)
    acting = StaffActing(supervisor, now, now.astimezone(SHANGHAI).date(), None)
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        staff_service.dossier(dbsession, acting, zhang.id)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    dbsession.rollback()
    [statement] = captured
    if engine.dialect.name == "postgresql":
        # A demo-sized table is rightly read whole; forbidding that shows what serves it.
        dbsession.execute(sa.text("SET LOCAL enable_seqscan = off"))
        dbsession.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
        plan = [row[0] for row in dbsession.execute(sa.text(f"EXPLAIN {statement}"))]
        dbsession.rollback()
        assert any("ix_auditevent_subject_at" in step for step in plan), plan
        assert not any(step.strip().startswith(("Sort", "->  Sort")) for step in plan), plan
        return
    plan = [row[-1] for row in dbsession.execute(sa.text(f"EXPLAIN QUERY PLAN {statement}"))]
    assert any("INDEX ix_auditevent_subject_at" in step for step in plan), plan
    assert not any("TEMP B-TREE FOR ORDER BY" in step for step in plan), plan
