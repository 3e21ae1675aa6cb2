"""Statistics per district and day (SPEC 12.5): table, server-drawn SVG chart, CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta

import pytest
from sqlmodel import select

from epermit.clock import SHANGHAI
from epermit.models import Case, Deregistration, Endorsement, Permit, Person
from epermit.services.references import new_reference
from epermit.sql import saved_id
from tests.staff_helpers import StaffAuth


@pytest.fixture
def staff_auth(client, clock) -> StaffAuth:
    return StaffAuth(client, clock)


def permit_of(dbsession, name: str) -> Permit:
    return dbsession.exec(
        select(Permit).join(Person).where(Person.name == name, Permit.is_current)
    ).one()


def endorse(dbsession, name: str, day, late: bool = False) -> None:
    permit = permit_of(dbsession, name)
    moment = datetime.combine(day, time(9), SHANGHAI)
    case = Case(reference=new_reference("endorse", day), kind="endorse", permit_id=saved_id(permit),
                applicant_id=permit.person_id, agent_id=permit.person_id,
                outcome="late_endorsed" if late else "endorsed", created_at=moment)
    dbsession.add(case)
    dbsession.flush()
    # A period per row: the test writes several for one permit.
    period = day + timedelta(days=len(dbsession.exec(select(Endorsement)).all()) + 1000)
    dbsession.add(Endorsement(permit_id=saved_id(permit), period=period, new_valid_until=period,
                              continuity_start=day, late=late, endorsed_on=day, case_id=saved_id(case)))
    dbsession.commit()


def deregister(dbsession, name: str, moment: datetime, role: str = "landlord") -> None:
    permit = permit_of(dbsession, name)
    case = Case(reference=new_reference("deregister", moment.date()), kind="deregister",
                permit_id=saved_id(permit), applicant_id=permit.person_id, agent_id=permit.person_id,
                outcome="deregistered", created_at=moment)
    dbsession.add(case)
    dbsession.flush()
    dbsession.add(Deregistration(permit_id=saved_id(permit), declarant_role=role,
                                 declarant_id=permit.person_id, reason="moved_out",
                                 leave_date=moment.date(), declared_at=moment, case_id=saved_id(case)))
    dbsession.commit()


def row_of(page, day) -> list[str]:
    for tr in page.soup.select("#stats-table tbody tr"):
        if tr.select_one("time")["datetime"] == day.isoformat():
            return [td.get_text() for td in tr.select("td")]
    raise AssertionError(f"no row for {day}")


def test_supervisor_sees_the_citys_last_30_days_with_chart_and_csv(
    client, client_request, staff_auth, dbsession, clock
):
    today = clock.today
    endorse(dbsession, "张伟", today - timedelta(days=2))
    endorse(dbsession, "李娜", today - timedelta(days=2), late=True)
    endorse(dbsession, "赵强", today - timedelta(days=1))
    # 23:30 in Guangzhou is 15:30 UTC: it counts on its Guangzhou date, whatever UTC says.
    late_evening = datetime.combine(today - timedelta(days=1), time(23, 30), SHANGHAI)
    deregister(dbsession, "王芳", late_evening, role="hotel")
    staff_auth.login("刘所长")
    page = client_request.get("/staff/stats")
    assert page.text("#range") == (
        f"全市 {(today - timedelta(days=29)).year}年{(today - timedelta(days=29)).month}月"
        f"{(today - timedelta(days=29)).day}日 至 {today.year}年{today.month}月{today.day}日"
    )
    assert len(page.soup.select("#stats-table tbody tr")) == 30
    headers = [th.get_text() for th in page.soup.select("#stats-table thead th")]
    assert headers[:4] == ["日期", "按期签注", "补办签注", "注销（本人）"]
    assert row_of(page, today - timedelta(days=2))[:2] == ["1", "1"]
    yesterday = row_of(page, today - timedelta(days=1))
    assert yesterday[0] == "1" and yesterday[headers.index("注销（旅馆）") - 1] == "1"
    # The chart: inline SVG drawn on the server, one stacked bar segment per group and day.
    svg = page.soup.select_one("figure.chart svg")
    assert svg["role"] == "img" and svg.select_one("title").get_text() == "每日业务量"
    assert len(svg.select("rect")) == 3  # two days: endorsements, endorsements + deregistration
    assert page.soup.select_one("script") is None or all(
        s.get("src", "").startswith("/static/app.js") for s in page.soup.select("script")
    )
    csv_link = page.soup.find("a", string="下载CSV文件（按日、按区）")["href"]
    download = client.get(csv_link)
    assert download.mimetype == "text/csv"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Cache-Control"] == "no-store"
    text = download.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["日期", "区", "按期签注", "补办签注"]
    by_key = {(r[0], r[1]): r for r in rows[1:]}
    assert by_key[((today - timedelta(days=2)).isoformat(), "天河区")][2:4] == ["1", "1"]
    assert by_key[((today - timedelta(days=1)).isoformat(), "白云区")][2] == "1"
    assert by_key[((today - timedelta(days=1)).isoformat(), "越秀区")][rows[0].index("注销（旅馆）")] == "1"


def test_supervisor_picks_a_district(client_request, staff_auth, dbsession, clock):
    endorse(dbsession, "张伟", clock.today)
    endorse(dbsession, "赵强", clock.today)
    staff_auth.login("刘所长")
    page = client_request.get("/staff/stats?district=白云区")
    assert page.text("#range").startswith("白云区")
    assert row_of(page, clock.today)[0] == "1"


def test_officer_sees_only_their_district_whatever_they_ask(
    client, client_request, staff_auth, dbsession, clock
):
    endorse(dbsession, "张伟", clock.today)
    endorse(dbsession, "赵强", clock.today)
    staff_auth.login("王警官")
    page = client_request.get("/staff/stats?district=白云区")
    assert page.text("#range").startswith("天河区")
    assert row_of(page, clock.today)[0] == "1"
    assert page.soup.select_one('input[name="district"]') is None
    download = client.get("/staff/stats.csv?district=")
    rows = list(csv.reader(io.StringIO(download.get_data().decode("utf-8").lstrip("\ufeff"))))
    assert {r[1] for r in rows[1:]} == {"天河区"}


def test_a_chosen_range_and_bad_dates(client_request, staff_auth, dbsession, clock):
    staff_auth.login("刘所长")
    start, end = clock.today - timedelta(days=6), clock.today
    page = client_request.get(f"/staff/stats?start={start.isoformat()}&end={end.isoformat()}")
    assert len(page.soup.select("#stats-table tbody tr")) == 7
    page = client_request.get("/staff/stats?start=2026-13-01", 422)
    assert page.errors() == {"start": "开始日期不是一个存在的日期，请核对"}
    page = client_request.get(f"/staff/stats?start={end.isoformat()}&end={start.isoformat()}", 422)
    assert page.errors() == {"end": "结束日期不能早于开始日期"}
    page = client_request.get("/staff/stats?start=2024-01-01&end=2026-01-01", 422)
    assert page.errors() == {"end": "统计范围不能超过一年，请缩短日期范围"}
    page = client_request.get("/staff/stats?district=东山区", 422)
    assert page.errors() == {"district": "请选择区"}


def test_viewing_and_downloading_statistics_are_audited(client, staff_auth, dbsession):
    from epermit.models import AuditEvent

    staff_auth.login("刘所长")
    client.get("/staff/stats")
    client.get("/staff/stats.csv")
    dbsession.rollback()
    actions = [e.action for e in dbsession.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]
    assert actions[-2:] == ["staff_viewed_stats", "staff_downloaded_stats"]


def test_just_after_midnight_in_guangzhou_counts_on_the_new_day(
    client_request, staff_auth, dbsession, clock
):
    # 00:30 in Guangzhou is 16:30 UTC of the day before.
    deregister(dbsession, "赵强", datetime.combine(clock.today, time(0, 30), SHANGHAI), "self")
    staff_auth.login("刘所长")
    page = client_request.get("/staff/stats")
    headers = [th.get_text() for th in page.soup.select("#stats-table thead th")]
    column = headers.index("注销（本人）") - 1
    assert row_of(page, clock.today)[column] == "1"
    assert row_of(page, clock.today - timedelta(days=1))[column] == "0"
