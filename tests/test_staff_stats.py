"""Statistics per district and day (SPEC 12.5): table, server-drawn SVG chart, CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from epermit import demo
from epermit.acting import Acting
from epermit.clock import SHANGHAI
from epermit.models import Address, AddressChange, Case, Deregistration, Endorsement, Permit, Person
from epermit.services import move, permits
from epermit.services import staff as staff_service
from epermit.services.references import new_reference
from epermit.sql import saved_id
from epermit.vocabulary import Housing
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
                              continuity_start=day, late=late, endorsed_on=day, case_id=saved_id(case),
                              district=permits.district_of(dbsession, permit)))
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
                                 leave_date=moment.date(), declared_at=moment, case_id=saved_id(case),
                                 district=permits.district_of(dbsession, permit)))
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


# --- Changes of address (SPEC 12.5): confirmed, refused, lapsed, where they move to -----------


def person_named(dbsession, name: str) -> Person:
    return dbsession.exec(select(Person).where(Person.name == name)).one()


def acting_at(dbsession, name: str, moment: datetime) -> Acting:
    return Acting(person=person_named(dbsession, name), now=moment,
                  today=moment.astimezone(SHANGHAI).date(), client_address=None)


def at(day, hour: int, minute: int = 0) -> datetime:
    """A moment in Guangzhou, stored as UTC as the services store it."""
    return datetime.combine(day, time(hour, minute), SHANGHAI).astimezone(UTC)


def ask_to_move(dbsession, name: str, line: str, moment: datetime, housing=Housing.RENTED) -> int:
    acting = acting_at(dbsession, name, moment)
    to_address = dbsession.exec(select(Address).where(Address.line == line)).one()
    case = move.request(
        dbsession,
        move.MoveRequest(holder_id=acting.person_id, to_address_id=saved_id(to_address),
                         moved_on=acting.today - timedelta(days=1), housing=housing),
        acting,
    )
    dbsession.commit()
    return dbsession.exec(select(AddressChange.id).where(AddressChange.case_id == case.id)).one()


def answer_move(dbsession, answerer: str, change_id: int, moment: datetime, confirm: bool) -> None:
    move.decide(dbsession, acting_at(dbsession, answerer, moment), change_id=change_id,
                confirm=confirm, refuse_reason=None if confirm else "此人未在本房屋居住")
    dbsession.commit()


@pytest.fixture
def moves(dbsession, clock):
    """赵强 (白云区) asks for 高峰's flat (海珠区) twice: the first lapses 4 days ago, the
    second 高峰 refuses at 23:30 three days ago; then 陈军 confirms his move to 陈军's flat in
    天河区 at 00:30 yesterday. 李娜 (天河区) moves into her own flat in 番禺区 at once,
    yesterday. Each is counted on its Guangzhou day where it moves to."""
    today = clock.today
    gao_flat, home, li_na_flat = demo.GAOFENG_FLAT[1], demo.HOME[1], demo.LINA_FLAT[1]
    ask_to_move(dbsession, "赵强", gao_flat, at(today - timedelta(days=12), 10))
    assert move.lapse_due(dbsession, at(today - timedelta(days=4), 9)) == 1
    dbsession.commit()
    refused = ask_to_move(dbsession, "赵强", gao_flat, at(today - timedelta(days=3), 9))
    answer_move(dbsession, "高峰", refused, at(today - timedelta(days=3), 23, 30), confirm=False)
    confirmed = ask_to_move(dbsession, "赵强", home, at(today - timedelta(days=2), 9))
    answer_move(dbsession, "陈军", confirmed, at(today - timedelta(days=1), 0, 30), confirm=True)
    ask_to_move(dbsession, "李娜", li_na_flat, at(today - timedelta(days=1), 10), Housing.OWNED)
    states = dict(dbsession.execute(
        sa.select(AddressChange.state, sa.func.count()).group_by(AddressChange.state)
    ).all())
    assert states == {"lapsed": 1, "refused": 1, "confirmed": 2}
    return today


def test_changes_of_address_are_counted_on_their_day_where_they_move_to(
    client, client_request, staff_auth, moves
):
    today = moves
    staff_auth.login("刘所长")
    page = client_request.get("/staff/stats")
    headers = [th.get_text() for th in page.soup.select("#stats-table thead th")]
    columns = [headers.index(w) - 1 for w in ("变更登记（已确认）", "变更登记（被拒绝）", "变更登记（逾期失效）")]

    def moved(day) -> list[str]:
        row = row_of(page, day)
        return [row[c] for c in columns]

    assert moved(today - timedelta(days=4)) == ["0", "0", "1"]
    assert moved(today - timedelta(days=3)) == ["0", "1", "0"]  # 23:30 there, 15:30 UTC
    assert moved(today - timedelta(days=2)) == ["0", "0", "0"]  # 00:30 there is the next day
    assert moved(today - timedelta(days=1)) == ["2", "0", "0"]
    assert [page.soup.select("#stats-table tfoot td")[c].get_text() for c in columns] == [
        "2", "1", "1"
    ]
    # The chart stacks a fourth group, changes of address, in its own colour.
    assert "变更登记" in page.text("figure.chart figcaption")
    assert len(page.soup.select("figure.chart svg rect.series-2")) == 3

    rows = list(csv.reader(io.StringIO(
        client.get("/staff/stats.csv").get_data().decode("utf-8").lstrip("\ufeff")
    )))
    header = rows[0]
    by_key = {(r[0], r[1]): r for r in rows[1:]}

    def counted(day, district: str) -> list[str]:
        row = by_key[(day.isoformat(), district)]
        return [row[header.index(w)] for w in ("变更登记（已确认）", "变更登记（被拒绝）", "变更登记（逾期失效）")]

    assert counted(today - timedelta(days=4), "海珠区") == ["0", "0", "1"]
    assert counted(today - timedelta(days=3), "海珠区") == ["0", "1", "0"]
    assert counted(today - timedelta(days=1), "天河区") == ["1", "0", "0"]
    assert counted(today - timedelta(days=1), "番禺区") == ["1", "0", "0"]
    assert len(rows) == 5  # the header and those four (day, district) pairs


def test_an_officer_counts_only_the_changes_into_their_district(
    client, client_request, staff_auth, moves
):
    today = moves
    staff_auth.login("王警官")  # 天河区: 赵强 moved in; 李娜 moved out to 番禺区
    page = client_request.get("/staff/stats?district=海珠区")
    assert page.text("#range").startswith("天河区")
    headers = [th.get_text() for th in page.soup.select("#stats-table thead th")]
    totals = [td.get_text() for td in page.soup.select("#stats-table tfoot td")]
    assert [totals[headers.index(w) - 1] for w in
            ("变更登记（已确认）", "变更登记（被拒绝）", "变更登记（逾期失效）")] == ["1", "0", "0"]
    rows = list(csv.reader(io.StringIO(
        client.get("/staff/stats.csv").get_data().decode("utf-8").lstrip("\ufeff")
    )))
    assert [(r[0], r[1]) for r in rows[1:]] == [((today - timedelta(days=1)).isoformat(), "天河区")]


def test_an_event_is_counted_where_the_holder_was_registered_when_it_happened(
    client_request, staff_auth, dbsession, clock
):
    """赵强 is endorsed in 白云区, then moves to 天河区: the endorsement stays 白云区's."""
    endorse(dbsession, "赵强", clock.today - timedelta(days=2))
    confirmed = ask_to_move(dbsession, "赵强", demo.HOME[1], at(clock.today - timedelta(days=1), 9))
    answer_move(dbsession, "陈军", confirmed, at(clock.today - timedelta(days=1), 10), confirm=True)
    staff_auth.login("刘所长")
    page = client_request.get("/staff/stats?district=白云区")
    assert row_of(page, clock.today - timedelta(days=2))[0] == "1"
    page = client_request.get("/staff/stats?district=天河区")
    assert row_of(page, clock.today - timedelta(days=2))[0] == "0"


# --- The plan: one index read per kind of event, no join, no scan of a table ------------------


def stats_queries(dbsession) -> list[str]:
    """The statements statistics runs for the whole city over 30 days, as the database sees
    them (literal values), captured from a real call."""
    from epermit.acting import StaffActing
    from epermit.models import Staff

    captured: list[str] = []
    engine = dbsession.get_bind()

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        if statement.lstrip().upper().startswith("SELECT") and "count(" in statement.lower():
            compiled = context.compiled
            captured.append(str(compiled.statement.compile(
                dialect=engine.dialect, compile_kwargs={"literal_binds": True}
            )))

    supervisor = dbsession.exec(select(Staff).where(Staff.name == "刘所长")).one()
    now = datetime.now(UTC)
    today = now.astimezone(SHANGHAI).date()
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        staff_service.statistics(dbsession, StaffActing(supervisor, now, today, None),
                                 start=today - timedelta(days=29), end=today, district=None)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    dbsession.rollback()
    assert len(captured) == 4, captured
    return captured


def test_each_kind_is_counted_from_its_own_index_alone(dbsession):
    indexes = ("ix_endorsement_stats", "ix_deregistration_stats", "ix_addresschange_stats",
               "ix_objection_stats")
    for statement, index in zip(stats_queries(dbsession), indexes, strict=True):
        assert " JOIN " not in statement.upper(), statement
        if dbsession.get_bind().dialect.name == "postgresql":
            # With a demo-sized register PostgreSQL rightly prefers reading a table whole (or
            # through a bitmap); forbidding that shows the index alone serves the query, as it
            # will at 10 million.
            dbsession.execute(sa.text("SET LOCAL enable_seqscan = off"))
            dbsession.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
            plan = [row[0] for row in dbsession.execute(sa.text(f"EXPLAIN {statement}"))]
            dbsession.rollback()
            assert any(f"Index Only Scan using {index}" in step for step in plan), plan
            continue
        plan = [row[-1] for row in dbsession.execute(sa.text(f"EXPLAIN QUERY PLAN {statement}"))]
        assert any(f"USING COVERING INDEX {index}" in step for step in plan), plan
        assert not any(step.startswith("SCAN") and "INDEX" not in step for step in plan), plan
