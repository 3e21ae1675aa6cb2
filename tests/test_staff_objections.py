"""Objections in the staff console (SPEC 12.4): the queue, and a decision taken once that
restores the permit with its earlier valid-until and continuity, or upholds it."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlmodel import select

from epermit import db, demo
from epermit.models import AuditEvent, Case, Deregistration, Objection, Permit, Staff
from epermit.services import objection_decisions
from tests.objection_helpers import file_objection, landlord_deregisters, person
from tests.staff_helpers import StaffAuth


def reread(dbsession) -> None:
    """See what requests wrote since: end the read snapshot and forget loaded rows."""
    dbsession.rollback()
    dbsession.expire_all()


@pytest.fixture
def staff_auth(client, clock) -> StaffAuth:
    return StaffAuth(client, clock)


@pytest.fixture
def objection(dbsession, clock) -> Objection:
    landlord_deregisters(dbsession, "孙丽", "陈军", clock())
    clock.advance(days=1)
    return file_objection(dbsession, "孙丽", clock())


def test_officer_of_the_district_sees_the_objection_in_the_queue(
    client_request, staff_auth, objection, clock
):
    clock.advance(days=2)
    staff_auth.login("陈警官")
    page = client_request.get("/staff/objections")
    row = page.text("#objections tbody tr")
    assert "孙丽" in row and "白云区" in row and "房东" in row
    assert "个工作日" in row


def test_officer_of_another_district_sees_neither_queue_entry_nor_page(
    client_request, staff_auth, objection
):
    staff_auth.login("王警官")
    page = client_request.get("/staff/objections")
    assert "目前没有待处理的异议" in page.main_text
    client_request.get(f"/staff/objections/{objection.id}", 404)
    client_request.post(
        f"/staff/objections/{objection.id}", {"decision": "restore", "note": "核实"}, 404
    )


def test_restore_makes_her_permit_valid_again_with_old_dates_and_tells_both(
    client_request, staff_auth, objection, dbsession, outbox, auth
):
    before = dbsession.exec(
        select(Permit).where(Permit.id == objection.permit_id)
    ).one()
    valid_until, continuity = before.valid_until, before.continuity_start
    staff_auth.login("陈警官")
    page = client_request.get(f"/staff/objections/{objection.id}")
    assert page.text("#statement") == "我仍住在这里,房东弄错了。"
    done = client_request.post(
        f"/staff/objections/{objection.id}",
        {"decision": "restore", "note": "经上门核实,孙丽仍居住在该房屋。"},
    )
    page = client_request.get(done.location)
    assert "撤销注销" in page.text("#decision") and "陈警官" in page.text("#decision")
    reread(dbsession)
    sun = person(dbsession, "孙丽")
    current = dbsession.exec(
        select(Permit).where(Permit.person_id == sun.id, Permit.is_current)
    ).one()
    assert (current.valid_until, current.continuity_start) == (valid_until, continuity)
    # The deregistration is kept, marked void, with who, when and why.
    voided = dbsession.exec(
        select(Deregistration).where(Deregistration.id == objection.deregistration_id)
    ).one()
    chen = dbsession.exec(select(Staff).where(Staff.name == "陈警官")).one()
    assert voided.voided_by == chen.id and voided.void_note == "经上门核实,孙丽仍居住在该房屋。"
    assert voided.restored_permit_id == current.id
    holder_sms = outbox.messages(demo.phone("孙丽"))[-1]["text"]
    landlord_sms = outbox.messages(demo.phone("陈军"))[-1]["text"]
    assert "决定撤销该注销" in holder_sms and "签注有效期和居住年限不变" in holder_sms
    assert "孙*" in landlord_sms and "已撤销" in landlord_sms
    # She sees it herself: 有效 again, with the old valid-until.
    client_request.post("/staff/logout", {})
    auth.login("孙丽")
    mine = client_request.get("/permit")
    assert mine.text("#status") == "有效"
    assert mine.soup.select_one("#valid-until time")["datetime"] == valid_until.isoformat()


def test_uphold_leaves_the_permit_deregistered_and_tells_both(
    client_request, staff_auth, objection, dbsession, outbox
):
    staff_auth.login("陈警官")
    client_request.post(
        f"/staff/objections/{objection.id}", {"decision": "uphold", "note": "房东提供了退租协议。"}
    )
    reread(dbsession)
    decided = dbsession.get(Objection, objection.id)
    assert decided.status == "upheld"
    # The holder's own objection case now reads as decided, not pending.
    assert dbsession.get(Case, decided.case_id).outcome == "upheld"
    assert dbsession.get(Permit, objection.permit_id).is_current
    assert dbsession.get(Deregistration, objection.deregistration_id).voided_at is None
    assert "决定维持注销" in outbox.messages(demo.phone("孙丽"))[-1]["text"]
    assert "维持注销" in outbox.messages(demo.phone("陈军"))[-1]["text"]


def test_a_second_decision_is_refused_and_changes_nothing(
    client_request, staff_auth, objection, dbsession, outbox
):
    staff_auth.login("陈警官")
    client_request.post(
        f"/staff/objections/{objection.id}", {"decision": "uphold", "note": "维持。"}
    )
    sent = len(outbox.messages())
    # A form still open in another tab posts a different decision.
    page = client_request.post(
        f"/staff/objections/{objection.id}", {"decision": "restore", "note": "撤销。"}, 409
    )
    assert page.errors() == {"decision": "该异议已经处理过，不能再次处理。处理结果见本页"}
    assert "维持注销" in page.text("#decision")
    reread(dbsession)
    decided = dbsession.get(Objection, objection.id)
    assert decided.status == "upheld" and decided.decision_note == "维持。"
    assert len(outbox.messages()) == sent


def test_the_database_takes_a_decision_once_whatever_the_concurrency(
    app, objection, dbsession, clock
):
    from epermit.acting import StaffActing

    engine = db.engine_of(app)
    chen = dbsession.exec(select(Staff).where(Staff.name == "陈警官")).one()
    results: list[str] = []
    barrier = threading.Barrier(2)

    def decide(decision: str) -> None:
        # The staff row as loaded by the test: a write session opened before the barrier would
        # take SQLite's lock there and keep the other thread from reaching it.
        acting = StaffActing(staff=chen, now=clock(), today=clock.today, client_address=None)
        barrier.wait(timeout=10)
        session = db.new_session(engine, write=True)
        try:
            objection_decisions.decide(session, acting, objection_id=objection.id,
                                       decision=decision, note=decision)
            session.commit()
            results.append(decision)
        except objection_decisions.AlreadyDecided:
            session.rollback()
            results.append("refused")
        finally:
            session.close()

    threads = [threading.Thread(target=decide, args=(d,)) for d in ("restore", "uphold")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results).count("refused") == 1
    reread(dbsession)
    decided = dbsession.get(Objection, objection.id)
    assert decided.status == {"restore": "restored", "uphold": "upheld"}[
        next(r for r in results if r != "refused")
    ]
    current = dbsession.exec(
        select(Permit).where(Permit.person_id == person(dbsession, "孙丽").id, Permit.is_current)
    ).all()
    assert len(current) == 1


@pytest.mark.parametrize(
    ("note", "message"),
    [("", "请填写处理说明"), ("   ", "请填写处理说明"),
     ("字" * 501, "处理说明不能超过500个字（现为501个字）")],
)
def test_a_note_of_0_or_501_characters_is_refused(
    client_request, staff_auth, objection, dbsession, note, message
):
    staff_auth.login("陈警官")
    page = client_request.post(
        f"/staff/objections/{objection.id}", {"decision": "restore", "note": note}, 422
    )
    assert page.errors() == {"note": message}
    reread(dbsession)
    assert dbsession.get(Objection, objection.id).status == "pending"


def test_a_note_of_500_characters_is_taken(client_request, staff_auth, objection, dbsession):
    staff_auth.login("陈警官")
    client_request.post(
        f"/staff/objections/{objection.id}", {"decision": "uphold", "note": "字" * 500}
    )
    reread(dbsession)
    assert dbsession.get(Objection, objection.id).decision_note == "字" * 500


def test_a_tampered_decision_is_refused_cleanly(client_request, staff_auth, objection):
    staff_auth.login("陈警官")
    page = client_request.post(
        f"/staff/objections/{objection.id}", {"decision": "delete", "note": "x"}, 422
    )
    assert page.errors() == {"decision": "请选择处理决定"}


def test_the_decision_is_audited(client_request, staff_auth, objection, dbsession):
    staff_auth.login("陈警官")
    client_request.post(
        f"/staff/objections/{objection.id}", {"decision": "restore", "note": "核实有误。"}
    )
    reread(dbsession)
    actions = [e.action for e in dbsession.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]
    assert actions[-2:] == ["permit_restored", "staff_decided_objection"]


def decided_permits(client_request, staff_auth, objection, dbsession, decision: str):
    """陈警官 decides 孙丽's objection; then each of her permits as (is_current,
    deregistered), in order."""
    staff_auth.login("陈警官")
    client_request.post(
        f"/staff/objections/{objection.id}", {"decision": decision, "note": "已核实。"}
    )
    reread(dbsession)
    sun = person(dbsession, "孙丽")
    rows = dbsession.exec(select(Permit).where(Permit.person_id == sun.id)).all()
    return sorted((p.is_current, p.deregistered) for p in rows)


def test_restore_puts_her_back_on_her_landlords_roster_and_uphold_does_not(
    client_request, staff_auth, objection, dbsession, clock, auth
):
    # Rosters read Permit.deregistered (SPEC 13): the restored permit is a new row, not
    # deregistered; the deregistered one keeps saying so, beside its voided record.
    home = dbsession.exec(select(Permit).where(Permit.id == objection.permit_id)).one().address_id
    roster = f"/workspace/address/{home}"
    auth.login("陈军")
    assert "孙丽" not in client_request.get(roster).main_text
    auth.logout()
    restored = decided_permits(client_request, staff_auth, objection, dbsession, "restore")
    assert restored == [(False, True), (True, False)]
    client_request.post("/staff/logout", {})
    auth.login("陈军")
    assert "孙丽" in client_request.get(roster).main_text


def test_uphold_keeps_her_permit_marked_deregistered(
    client_request, staff_auth, objection, dbsession
):
    upheld = decided_permits(client_request, staff_auth, objection, dbsession, "uphold")
    assert upheld == [(True, True)]


def test_restored_permit_can_be_deregistered_again_later(
    client_request, staff_auth, objection, dbsession, clock
):
    staff_auth.login("陈警官")
    client_request.post(
        f"/staff/objections/{objection.id}", {"decision": "restore", "note": "核实有误。"}
    )
    reread(dbsession)
    clock.advance(days=3)
    landlord_deregisters(dbsession, "孙丽", "陈军", clock())
    sun = person(dbsession, "孙丽")
    current = dbsession.exec(
        select(Permit).where(Permit.person_id == sun.id, Permit.is_current)
    ).one()
    assert current.id != objection.permit_id
    assert current.deregistered


def test_the_restore_shows_in_the_supervisors_statistics(
    client_request, staff_auth, objection, dbsession, clock
):
    staff_auth.login("陈警官")
    client_request.post(
        f"/staff/objections/{objection.id}", {"decision": "restore", "note": "核实有误。"}
    )
    client_request.post("/staff/logout", {})
    staff_auth.login("刘所长")
    page = client_request.get("/staff/stats")
    headers = [th.get_text() for th in page.soup.select("#stats-table thead th")]
    today_row = page.soup.select("#stats-table tbody tr")[-1]
    assert today_row.select("td")[headers.index("异议（撤销注销）") - 1].get_text() == "1"


def test_age_counts_working_days_on_chinas_calendar():
    # A plain week has 5; the National Day week of 2026 (1-7 October) has none.
    assert objection_decisions.working_days_since(date(2026, 11, 20), date(2026, 11, 20)) == 0
    assert objection_decisions.working_days_since(date(2026, 11, 20), date(2026, 11, 27)) == 5
    holiday_week = objection_decisions.working_days_since(date(2026, 9, 30), date(2026, 10, 7))
    assert holiday_week == 0
    # A year the calendar does not know yet counts Monday to Friday.
    assert objection_decisions.working_days_since(date(2027, 3, 5), date(2027, 3, 12)) == 5
