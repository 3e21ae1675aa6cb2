"""Change of address (居住变更登记, SPEC 9, 2.14, 10.7): the register search, the /move
wizard, confirmation, refusal, lapse, withdrawal, and the guards in the other wizards."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col, func, select

from epermit import demo, rules
from epermit.models import (
    Address,
    AddressChange,
    AuditEvent,
    Case,
    Draft,
    Permit,
    Person,
    RegistrationHistory,
)
from epermit.services import addresses

GAO_FLAT = "广州市海珠区江南大道中300号501房"
LI_NA_FLAT = "广州市番禺区市桥街50号802房"
ZHAO_HOME = "广州市白云区机场路200号505房"


def cn(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def address_id(dbsession, line: str) -> int:
    dbsession.rollback()
    found = dbsession.exec(select(Address).where(Address.line == line)).one()
    assert found.id is not None
    return found.id


def permit_of(dbsession, name: str) -> Permit:
    dbsession.rollback()
    person = dbsession.exec(select(Person).where(Person.name == name)).one()
    return dbsession.exec(
        select(Permit).where(Permit.person_id == person.id, Permit.is_current)
    ).one()


def start(client_request) -> str:
    answer = client_request.get("/move", expected_status=303)
    match = re.fullmatch(r"/move/([\w-]+)/who", answer.location)
    assert match, answer.location
    return match.group(1)


def to_check(client_request, dbsession, draft, line, moved_on, housing="rented"):
    """From `address` to check answers: the new address, the date and the housing."""
    client_request.post(f"/move/{draft}/address", {"address_id": str(address_id(dbsession, line))})
    client_request.post(f"/move/{draft}/moved_on", {"moved_on": moved_on.isoformat()})
    answer = client_request.post(f"/move/{draft}/housing", {"housing": housing})
    assert answer.location == f"/move/{draft}/check"


def request_move(client_request, dbsession, clock, line=GAO_FLAT, moved_on=None) -> str:
    """赵强 (signed in) asks to move; returns the case reference."""
    draft = start(client_request)
    client_request.post(f"/move/{draft}/who", {"for_whom": "self"})
    to_check(client_request, dbsession, draft, line, moved_on or clock.today - timedelta(days=1))
    assert client_request.post(f"/move/{draft}/check", {"declaration": "y"}).location == (
        f"/move/{draft}/done"
    )
    return client_request.get(f"/move/{draft}/done").text("#reference")


def change_of(dbsession, reference: str) -> AddressChange:
    dbsession.rollback()
    return dbsession.exec(
        select(AddressChange)
        .join(Case, col(Case.id) == AddressChange.case_id)
        .where(Case.reference == reference)
    ).one()


# --- the register -------------------------------------------------------------------------


def test_the_demo_register_holds_200_more_addresses_across_the_11_districts(dbsession):
    dbsession.rollback()
    total = dbsession.exec(select(func.count()).select_from(Address)).one()
    districts = set(dbsession.exec(select(Address.district)).all())
    assert total >= 200 + 10
    assert len(districts) == 11


def test_search_by_district_and_text_finds_the_flat_and_its_neighbours(dbsession):
    dbsession.rollback()
    found = [a.line for a in addresses.search(dbsession, q="江南大道中300号", district="海珠区")]
    assert GAO_FLAT in found and "广州市海珠区江南大道中300号502房" in found
    assert all("江南大道中300号" in line for line in found)
    # Another district, the same words: nothing; full-width digits from an input method match.
    assert addresses.search(dbsession, q="江南大道中300号", district="天河区") == []
    assert GAO_FLAT in [a.line for a in addresses.search(dbsession, q="江南大道中３００号５０１")]
    # Every word must appear whole, not merely its two-character runs somewhere.
    assert addresses.search(dbsession, q="300号江南") == []


def test_search_is_served_by_the_index_not_a_scan_of_the_register(dbsession):
    statement = addresses.search_query("江南大道中300号", "海珠区")
    compiled = statement.compile(dbsession.get_bind(), compile_kwargs={"literal_binds": True})
    if dbsession.get_bind().dialect.name == "postgresql":
        # With a demo-sized register PostgreSQL rightly prefers reading it whole; forbidding
        # that shows the index can serve the search, as it will with millions of rows.
        dbsession.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = [row[0] for row in dbsession.execute(sa.text(f"EXPLAIN {compiled}"))]
        assert any("ix_addressterm_lookup" in step for step in plan), plan
        assert not any("Seq Scan" in step for step in plan), plan
        return
    plan = [row[-1] for row in dbsession.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}"))]
    assert any("ix_addressterm_lookup" in step for step in plan), plan
    # The register's own table is only looked up by id, never read from end to end.
    assert not any(re.match(r"SCAN (address|addressterm)\b", step) for step in plan), plan


def test_the_address_step_searches_with_a_get_without_javascript(client_request, auth, dbsession):
    auth.login("赵强")
    draft = start(client_request)
    client_request.post(f"/move/{draft}/who", {"for_whom": "self"})
    page = client_request.get(f"/move/{draft}/address?district=海珠区&q=江南大道中300号")
    radios = {
        attr["value"]: label.get_text()
        for label in page.soup.select("#address-results .radio label")
        for attr in [label.find_previous("input").attrs]
    }
    assert GAO_FLAT in radios.values()
    # The choice posts to the page with its query, so an error shows the same results again.
    form = page.soup.select_one("#address-results form")
    assert form is not None and form.get("method") == "post"
    assert "q=" in form["action"]
    # The search form itself is a GET to the step, live with htmx on input.
    search = page.soup.select_one("form[role=search]")
    assert search is not None and search.get("method") == "get"
    assert "input" in search["hx-trigger"] and search["hx-select"] == "#address-results"


def test_a_one_character_query_is_refused_next_to_the_field(client_request, auth, dbsession):
    auth.login("赵强")
    draft = start(client_request)
    client_request.post(f"/move/{draft}/who", {"for_whom": "self"})
    page = client_request.get(f"/move/{draft}/address?district=&q=江")
    assert page.errors() == {"q": "地址关键字至少输入2个字"}
    assert page.soup.select_one("#q")["aria-invalid"] == "true"
    assert page.soup.title.get_text().startswith("错误: ")


def test_no_match_offers_the_stop_page_about_registering_the_dwelling(client_request, auth):
    auth.login("赵强")
    draft = start(client_request)
    client_request.post(f"/move/{draft}/who", {"for_whom": "self"})
    page = client_request.get(f"/move/{draft}/address?district=越秀区&q=不存在的路1号")
    assert (
        "没有找到相符的地址" in page.main_text and "来穗人员和出租屋服务管理中心" in page.main_text
    )
    answer = client_request.post(
        f"/move/{draft}/address?district=越秀区&q=不存在的路1号", {"address_id": "none"}
    )
    stop = client_request.get(answer.location)
    assert stop.h1 == "新地址还没有登记"
    assert "来穗人员和出租屋服务管理中心" in stop.main_text


# --- bad input: a clear message next to the field, nothing saved ---------------------------


def answers_of(dbsession, draft):
    dbsession.rollback()
    return dbsession.get(Draft, draft).answers


def test_an_address_not_in_the_register_or_the_current_one_is_refused(
    client_request, auth, dbsession
):
    auth.login("赵强")
    draft = start(client_request)
    client_request.post(f"/move/{draft}/who", {"for_whom": "self"})
    before = answers_of(dbsession, draft)
    page = client_request.post(
        f"/move/{draft}/address", {"address_id": "999999"}, expected_status=422
    )
    assert page.errors()["address_id"] == "所选地址不在标准地址库中，请重新搜索并从结果中选择"
    page = client_request.post(
        f"/move/{draft}/address", {"address_id": "1 OR 1=1"}, expected_status=422
    )
    assert "address_id" in page.errors()
    page = client_request.post(
        f"/move/{draft}/address",
        {"address_id": str(address_id(dbsession, ZHAO_HOME))},
        expected_status=422,
    )
    assert page.errors()["address_id"] == "新地址与现登记地址相同"
    assert answers_of(dbsession, draft) == before


def test_a_moved_on_date_in_the_future_or_before_the_registration_is_refused(
    client_request, auth, dbsession, clock
):
    auth.login("赵强")
    draft = start(client_request)
    client_request.post(f"/move/{draft}/who", {"for_whom": "self"})
    client_request.post(
        f"/move/{draft}/address", {"address_id": str(address_id(dbsession, GAO_FLAT))}
    )
    before = answers_of(dbsession, draft)
    tomorrow = clock.today + timedelta(days=1)
    page = client_request.post(
        f"/move/{draft}/moved_on", {"moved_on": tomorrow.isoformat()}, expected_status=422
    )
    assert page.errors() == {"moved_on": "搬入日期不能晚于今天"}
    since = permit_of(dbsession, "赵强").registered_since
    assert since == clock.today - timedelta(days=demo.ZHAO_MOVED_DAYS_AGO)
    earlier = since - timedelta(days=1)
    page = client_request.post(
        f"/move/{draft}/moved_on", {"moved_on": earlier.isoformat()}, expected_status=422
    )
    assert page.errors() == {"moved_on": f"搬入日期不能早于现地址的登记日期（{cn(since)}）"}
    assert answers_of(dbsession, draft) == before


def test_owned_housing_needs_the_recorded_owner(client_request, auth, dbsession, clock):
    auth.login("赵强")
    draft = start(client_request)
    client_request.post(f"/move/{draft}/who", {"for_whom": "self"})
    client_request.post(
        f"/move/{draft}/address", {"address_id": str(address_id(dbsession, GAO_FLAT))}
    )
    client_request.post(f"/move/{draft}/moved_on", {"moved_on": clock.today.isoformat()})
    page = client_request.post(f"/move/{draft}/housing", {"housing": "owned"}, expected_status=422)
    assert page.errors()["housing"].startswith("您选择了自有住房，但申请人不是该房屋登记的产权人")
    assert "housing" not in answers_of(dbsession, draft)


def test_a_report_more_than_3_working_days_late_gets_the_notice_not_a_refusal(
    client_request, auth, dbsession, clock
):
    auth.login("赵强")
    draft = start(client_request)
    client_request.post(f"/move/{draft}/who", {"for_whom": "self"})
    moved_on = clock.today - timedelta(days=10)
    to_check(client_request, dbsession, draft, GAO_FLAT, moved_on)
    check = client_request.get(f"/move/{draft}/check")
    assert "超过搬家后3个工作日" in check.main_text
    assert cn(rules.move_report_deadline(moved_on)) in check.main_text
    assert client_request.post(f"/move/{draft}/check", {"declaration": "y"}).location.endswith(
        "/done"
    )


# --- working days (SPEC 2.14) ---------------------------------------------------------------


def test_working_days_skip_public_holidays_and_count_adjusted_weekends():
    # National Day 2026: 1–7 October off; Saturday 10 October is worked (调休).
    assert not rules.is_working_day(date(2026, 10, 5))
    assert rules.is_working_day(date(2026, 10, 10))
    assert rules.move_report_deadline(date(2026, 9, 30)) == date(2026, 10, 10)
    # An ordinary week: moved on a Friday, the 3rd working day is Wednesday.
    assert rules.move_report_deadline(date(2026, 11, 20)) == date(2026, 11, 25)
    assert not rules.move_reported_late(date(2026, 11, 20), date(2026, 11, 25))
    assert rules.move_reported_late(date(2026, 11, 20), date(2026, 11, 26))


# --- confirmation, refusal, lapse, withdrawal ----------------------------------------------


def test_zhao_moves_and_gao_confirms_keeping_valid_until_and_continuity(
    client_request, auth, dbsession, clock, outbox
):
    permit = permit_of(dbsession, "赵强")
    before = (permit.address_id, permit.valid_until, permit.continuity_start)
    auth.login("赵强")
    reference = request_move(client_request, dbsession, clock)
    assert reference.startswith("BG" + clock.today.strftime("%Y%m%d"))
    done = client_request.get("/cases/" + reference)
    assert "待房屋登记人确认" in done.main_text
    assert "赵*" in outbox.messages(demo.phone("高峰"))[-1]["text"]
    # Until confirmed, the permit keeps its address and shows the pending change.
    page = client_request.get("/permit")
    assert ZHAO_HOME in page.text(".card-fields") and "居住变更待确认" in page.main_text

    auth.logout()
    auth.login("高峰")
    listing = client_request.get("/workspace/confirmations")
    assert (
        "赵强" in listing.main_text
        and GAO_FLAT in listing.main_text
        and ZHAO_HOME in listing.main_text
    )
    change = change_of(dbsession, reference)
    url = f"/workspace/confirmations/{change.id}"
    assert client_request.post(url, {"decision": "confirm"}).location == "/workspace/confirmations"
    assert "已确认" in client_request.get("/workspace/confirmations").main_text

    after = permit_of(dbsession, "赵强")
    assert after.address_id == address_id(dbsession, GAO_FLAT)
    assert (after.valid_until, after.continuity_start) == before[1:]
    assert after.registered_since == clock.today - timedelta(days=1)
    history = dbsession.exec(
        select(RegistrationHistory).where(RegistrationHistory.change_id == change.id)
    ).one()
    assert history.from_address_id == before[0]
    assert dbsession.exec(select(AuditEvent).where(AuditEvent.action == "move_confirmed")).first()
    assert GAO_FLAT in outbox.messages(demo.phone("赵强"))[-1]["text"]

    auth.logout()
    auth.login("赵强")
    page = client_request.get("/permit")
    assert GAO_FLAT in page.text(".card-fields")
    assert page.text("#valid-until") == cn(before[1])
    assert "居住变更待确认" not in page.main_text
    history_text = page.text("#history-title + ul")
    assert ZHAO_HOME in history_text and demo.ZHAO_EARLIER[1] in history_text
    assert "已变更居住地址" in client_request.get("/cases/" + reference).main_text


def test_a_decision_needs_a_reason_to_refuse_and_the_holder_is_told(
    client_request, auth, dbsession, clock, outbox
):
    auth.login("赵强")
    reference = request_move(client_request, dbsession, clock)
    auth.logout()
    auth.login("高峰")
    url = f"/workspace/confirmations/{change_of(dbsession, reference).id}"
    page = client_request.post(
        url, {"decision": "refuse", "refuse_reason": ""}, expected_status=422
    )
    assert page.errors() == {"refuse_reason": "请填写拒绝原因"}
    assert change_of(dbsession, reference).state == "pending"
    client_request.post(url, {"decision": "refuse", "refuse_reason": "此人未在本房屋居住"})
    change = change_of(dbsession, reference)
    assert (change.state, change.refuse_reason) == ("refused", "此人未在本房屋居住")
    assert "此人未在本房屋居住" in outbox.messages(demo.phone("赵强"))[-1]["text"]
    assert permit_of(dbsession, "赵强").address_id == address_id(dbsession, ZHAO_HOME)
    # Decided once: the page of a decided request leads back to the list.
    assert client_request.post(url, {"decision": "confirm"}).location == "/workspace/confirmations"
    assert permit_of(dbsession, "赵强").address_id == address_id(dbsession, ZHAO_HOME)


def test_a_request_lapses_after_7_days_through_send_reminders(
    app, client_request, auth, dbsession, clock, outbox
):
    auth.login("赵强")
    reference = request_move(client_request, dbsession, clock)
    clock.advance(days=6, hours=23)
    runner = app.test_cli_runner()
    assert "lapsed 0 " in runner.invoke(args=["send-reminders"]).output
    clock.advance(hours=2)
    result = runner.invoke(args=["send-reminders"])
    assert "lapsed 1 " in result.output, result.output
    assert change_of(dbsession, reference).state == "lapsed"
    assert "7日内未确认" in outbox.messages(demo.phone("赵强"))[-1]["text"]
    # Safe to run again: nothing more lapses, nobody is told twice.
    count = len(outbox.messages(demo.phone("赵强")))
    assert "lapsed 0 " in runner.invoke(args=["send-reminders"]).output
    assert len(outbox.messages(demo.phone("赵强"))) == count


def test_the_holder_withdraws_a_pending_change_from_the_permit_page(
    client_request, auth, dbsession, clock, outbox
):
    auth.login("赵强")
    reference = request_move(client_request, dbsession, clock)
    page = client_request.get("/permit")
    form = page.soup.select_one("section[aria-labelledby=move-pending-title] form")
    assert form is not None
    assert client_request.post(form["action"]).location == "/permit"
    assert change_of(dbsession, reference).state == "withdrawn"
    assert "已撤回" in outbox.messages(demo.phone("高峰"))[-1]["text"]
    assert "已撤回" in client_request.get("/permit").main_text
    # Withdrawn, a new request may be made.
    request_move(client_request, dbsession, clock, line="广州市海珠区江南大道中300号502房")


def test_one_pending_change_per_permit_in_the_wizard_and_in_the_database(
    client_request, auth, dbsession, clock
):
    auth.login("赵强")
    reference = request_move(client_request, dbsession, clock)
    draft = start(client_request)
    answer = client_request.post(f"/move/{draft}/who", {"for_whom": "self"})
    stop = client_request.get(answer.location)
    assert stop.h1 == "已有一项待确认的居住变更" and reference in stop.main_text
    first = change_of(dbsession, reference)
    dbsession.add(
        AddressChange(
            case_id=first.case_id,
            permit_id=first.permit_id,
            from_address_id=first.from_address_id,
            to_address_id=address_id(dbsession, LI_NA_FLAT),
            moved_on=first.moved_on,
            housing="rented",
            state="pending",
            submitted_at=first.submitted_at,
            expires_at=first.expires_at,
            district=first.district,
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        dbsession.flush()


def test_deregistration_cancels_a_pending_change(client_request, auth, dbsession, clock):
    auth.login("赵强")
    reference = request_move(client_request, dbsession, clock)
    answer = client_request.get("/deregister", expected_status=303)
    draft = answer.location.split("/")[2]
    client_request.post(f"/deregister/{draft}/role", {"declarant_role": "self"})
    client_request.post(
        f"/deregister/{draft}/declarant",
        {
            "declarant_name": "赵强",
            "declarant_id_number": demo.person("赵强").id_number,
            "declarant_phone": demo.phone("赵强"),
        },
    )
    client_request.post(
        f"/deregister/{draft}/reason",
        {"reason": "left_city", "leave_date": clock.today.isoformat()},
    )
    assert client_request.post(
        f"/deregister/{draft}/check", {"declaration": "y"}
    ).location.endswith("/done")
    assert change_of(dbsession, reference).state == "cancelled"
    auth.logout()
    auth.login("高峰")
    assert "赵强" not in client_request.get("/workspace/confirmations").main_text


def test_nobody_else_sees_or_decides_or_withdraws_a_request(client_request, auth, dbsession, clock):
    auth.login("赵强")
    reference = request_move(client_request, dbsession, clock)
    change = change_of(dbsession, reference)
    auth.logout()
    auth.login("陈军")  # a landlord, but not of the new address
    assert "赵强" not in client_request.get("/workspace/confirmations").main_text
    client_request.get(f"/workspace/confirmations/{change.id}", expected_status=404)
    client_request.post(
        f"/workspace/confirmations/{change.id}", {"decision": "confirm"}, expected_status=404
    )
    client_request.post(f"/permit/move/{change.id}/withdraw", expected_status=404)
    client_request.get("/workspace/confirmations/99999999", expected_status=404)
    assert change_of(dbsession, reference).state == "pending"


def test_the_answerer_of_the_new_address_moves_at_once(
    client_request, auth, dbsession, clock, outbox
):
    valid_until = permit_of(dbsession, "李娜").valid_until
    auth.login("李娜")
    draft = start(client_request)
    client_request.post(f"/move/{draft}/who", {"for_whom": "self"})
    to_check(client_request, dbsession, draft, LI_NA_FLAT, clock.today, housing="owned")
    assert "提交后立即变更" in client_request.get(f"/move/{draft}/check").main_text
    client_request.post(f"/move/{draft}/check", {"declaration": "y"})
    assert client_request.get(f"/move/{draft}/done").h1 == "居住地址已变更"
    after = permit_of(dbsession, "李娜")
    assert after.address_id == address_id(dbsession, LI_NA_FLAT)
    assert after.valid_until == valid_until


def test_zhang_wei_moves_xiaoming_to_li_nas_flat_and_li_na_confirms(
    client_request, auth, dbsession, clock, outbox
):
    xiaoming = permit_of(dbsession, "张小明")
    auth.login("张伟")
    draft = start(client_request)
    client_request.post(f"/move/{draft}/who", {"for_whom": "other"})
    client_request.post(
        f"/move/{draft}/applicant",
        {
            "agent_name": "张伟",
            "agent_id_number": demo.person("张伟").id_number,
            "agent_phone": demo.phone("张伟"),
            "member": str(xiaoming.person_id),
            "relationship": "child",
        },
    )
    to_check(client_request, dbsession, draft, LI_NA_FLAT, clock.today, housing="relative")
    check = client_request.get(f"/move/{draft}/check")
    assert check.text(".caption").endswith("为张小明办理")
    client_request.post(f"/move/{draft}/check", {"declaration": "y"})
    reference = client_request.get(f"/move/{draft}/done").text("#reference")
    auth.logout()
    auth.login("李娜")
    change = change_of(dbsession, reference)
    client_request.post(f"/workspace/confirmations/{change.id}", {"decision": "confirm"})
    assert permit_of(dbsession, "张小明").address_id == address_id(dbsession, LI_NA_FLAT)
    # The agent is told, as 张小明 has no phone.
    assert "张小明" in outbox.messages(demo.phone("张伟"))[-1]["text"]


# --- guards in the other wizards (SPEC 9.5) -------------------------------------------------


def deregister_self_moved_out(client_request, clock) -> str:
    answer = client_request.get("/deregister", expected_status=303)
    draft = answer.location.split("/")[2]
    client_request.post(f"/deregister/{draft}/role", {"declarant_role": "self"})
    client_request.post(
        f"/deregister/{draft}/declarant",
        {
            "declarant_name": "赵强",
            "declarant_id_number": demo.person("赵强").id_number,
            "declarant_phone": demo.phone("赵强"),
        },
    )
    answer = client_request.post(
        f"/deregister/{draft}/reason",
        {"reason": "moved_out", "leave_date": clock.today.isoformat()},
    )
    assert answer.location == f"/deregister/{draft}/still_in_city"
    return draft


def test_deregistering_after_moving_within_the_city_stops_with_the_advice_to_move(
    client_request, auth, dbsession, clock
):
    auth.login("赵强")
    draft = deregister_self_moved_out(client_request, clock)
    answer = client_request.post(f"/deregister/{draft}/still_in_city", {"still_in_city": "yes"})
    stop = client_request.get(answer.location)
    assert stop.h1 == "在广州市内搬家，请变更居住地址"
    assert stop.soup.select_one('main a[href="/move"]') is not None
    assert "居住年限" in stop.main_text
    client_request.post(f"/deregister/{draft}/check", {"declaration": "y"}, expected_status=303)
    assert permit_of(dbsession, "赵强").id is not None
    dbsession.rollback()
    assert (
        dbsession.exec(
            select(func.count()).select_from(Case).where(Case.kind == "deregister")
        ).one()
        == 1
    )


def test_leaving_the_city_after_moving_out_goes_on_to_check(client_request, auth, clock):
    auth.login("赵强")
    draft = deregister_self_moved_out(client_request, clock)
    answer = client_request.post(f"/deregister/{draft}/still_in_city", {"still_in_city": "no"})
    assert answer.location == f"/deregister/{draft}/check"
    # Another reason does not ask it, and drops the answer.
    client_request.post(
        f"/deregister/{draft}/reason",
        {"reason": "left_city", "leave_date": clock.today.isoformat()},
    )
    check = client_request.get(f"/deregister/{draft}/check")
    assert "仍在广州居住" not in check.main_text


def test_live_search_results_are_a_small_htmx_partial(client_request, auth):
    import gzip

    auth.login("赵强")
    draft = start(client_request)
    client_request.post(f"/move/{draft}/who", {"for_whom": "self"})
    empty = client_request.get(f"/move/{draft}/address", htmx=True)
    assert len(empty.response.get_data()) <= 4096, len(empty.response.get_data())
    # Twenty results (the most a search lists) stay within the budget as sent, compressed.
    full = client_request.get(f"/move/{draft}/address?district=天河区&q=广州市天河区", htmx=True)
    assert len(full.soup.select("#address-results input[name=address_id]")) == 21
    body = full.response.get_data()
    assert "只显示前20个" in body.decode()
    assert len(gzip.compress(body)) <= 4096, (len(body), len(gzip.compress(body)))
    assert full.response.headers["Cache-Control"] == "no-store"


def test_the_workspace_counts_a_request_and_the_roster_gains_the_mover(
    client_request, auth, dbsession, clock
):
    auth.login("赵强")
    reference = request_move(client_request, dbsession, clock)
    auth.logout()
    auth.login("高峰")
    front = client_request.get("/workspace")
    assert front.text(".awaiting-count") == "1"
    assert front.soup.select_one('a[href="/workspace/confirmations"]') is not None
    change = change_of(dbsession, reference)
    client_request.post(f"/workspace/confirmations/{change.id}", {"decision": "confirm"})
    front = client_request.get("/workspace")
    assert front.text(".awaiting-count") == "0"
    assert front.soup.select_one('a[href="/workspace/confirmations"]') is None
    roster = client_request.get(f"/workspace/address/{address_id(dbsession, GAO_FLAT)}")
    assert "赵强" in roster.main_text
