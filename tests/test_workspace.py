"""The workspace (SPEC 10): places with their counts, rosters (search, pages, opaque row
ids), batch departures through the deregistration service, the export, and scope (404)."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa
from sqlmodel import select

from epermit import demo
from epermit.models import AuditEvent, Case, DepartureBatch, Deregistration, Person
from epermit.services import workspace

HOME_LINE = demo.HOME[1]


def address_id_of(dbsession, line: str) -> int:
    return dbsession.execute(sa.text("SELECT id FROM address WHERE line = :l"), {"l": line}).scalar_one()


def org_id_of(dbsession, uscc: str) -> int:
    return dbsession.execute(sa.text("SELECT id FROM organisation WHERE uscc = :u"), {"u": uscc}).scalar_one()


def person_id(dbsession, name: str) -> int:
    return dbsession.exec(select(Person.id).where(Person.name == name)).one()


def row_ids(page) -> dict[str, str]:
    """Name -> the row id of their checkbox."""
    found = {}
    for box in page.soup.select("input[name=selected]"):
        label = page.soup.select_one(f"label[for={box['id']}]")
        found[label.get_text(strip=True)] = box["value"]
    return found


def landlords_roster(dbsession, clock):
    """陈军 acting, and his roster of all his addresses."""
    from epermit.acting import Acting

    dbsession.rollback()
    landlord = dbsession.get(Person, person_id(dbsession, "陈军"))
    who = Acting(person=landlord, now=clock(), today=clock.today, client_address="127.0.0.1")
    return who, workspace.open_roster(dbsession, landlord.id, "address", workspace.ALL)


def landlords_roster_on_postgresql(dbsession):
    """陈军's roster of all his addresses, for a test of PostgreSQL's plans (skipped on SQLite)."""
    if dbsession.get_bind().dialect.name != "postgresql":
        pytest.skip("the loop counts are PostgreSQL's EXPLAIN ANALYZE; SQLite has no such figure")
    dbsession.rollback()
    return workspace.open_roster(dbsession, person_id(dbsession, "陈军"), "address", workspace.ALL)


def key_probes(dbsession, statement, index: str) -> int:
    """How many times PostgreSQL's plan of `statement` descends `index` (EXPLAIN ANALYZE's
    loops), with sequential scans off as in a register too big to scan."""
    compiled = statement.compile(dbsession.get_bind(), compile_kwargs={"literal_binds": True})
    dbsession.execute(sa.text("SET LOCAL enable_seqscan = off"))
    plan = [row[0] for row in dbsession.execute(sa.text(f"EXPLAIN (ANALYZE, COSTS OFF) {compiled}"))]
    probes = [re.search(r"loops=(\d+)", step) for step in plan if f"{index} on" in step]
    assert probes and all(p is not None for p in probes), plan
    return sum(int(p.group(1)) for p in probes if p)


def test_workspace_lists_each_place_with_people_registered_now(auth, client_request, dbsession):
    auth.login("陈军")
    page = client_request.get("/workspace")
    assert page.h1 == "工作台"
    home = page.soup.select_one(f"#place-address-{address_id_of(dbsession, HOME_LINE)}")
    assert home is not None and home.get_text() == HOME_LINE
    card = home.find_parent("li")
    assert card.select_one(".registered-count").get_text() == "3"
    assert card.select_one(".awaiting-count").get_text() == "0"
    assert "工作台" in page.text("nav.site-nav")


def test_employer_operator_sees_their_organisation(auth, client_request):
    auth.login("黄丽")
    page = client_request.get("/workspace")
    assert "广州示例科技有限公司" in page.main_text


def test_people_with_no_place_get_the_page_saying_who_can_use_it(auth, client_request):
    auth.login("赵强")
    page = client_request.get("/workspace")
    assert "房东" in page.main_text and "经办人" in page.main_text
    assert page.soup.select_one('nav.site-nav a[href="/workspace"]') is None


def test_roster_shows_name_masked_id_and_registered_since(auth, client_request, dbsession):
    auth.login("陈军")
    page = client_request.get(f"/workspace/address/{address_id_of(dbsession, HOME_LINE)}")
    text = page.main_text
    for name in ("张伟", "李娜", "张小明"):
        assert name in text
    assert "4301**********1234" in text
    assert demo.person("张伟").id_number not in page.response.get_data(as_text=True)
    assert page.soup.select("li.checkbox time[datetime]")
    assert page.text("#roster-total") == "现登记3人。"


def test_roster_search_by_name_or_last_four_digits(auth, client_request, dbsession):
    auth.login("陈军")
    url = f"/workspace/address/{address_id_of(dbsession, HOME_LINE)}"
    assert list(row_ids(client_request.get(f"{url}?q=李娜"))) == ["李娜"]
    assert list(row_ids(client_request.get(f"{url}?q=1273"))) == ["张小明"]
    assert row_ids(client_request.get(f"{url}?q=%25")) == {}


def test_row_ids_mean_nothing_outside_their_roster(auth, client_request, dbsession):
    auth.login("陈军")
    home = address_id_of(dbsession, HOME_LINE)
    ids = row_ids(client_request.get(f"/workspace/address/{home}"))
    assert all(re.fullmatch(r"[0-9a-f]{20}", v) for v in ids.values())
    assert str(person_id(dbsession, "张伟")) not in ids.values()
    everywhere = row_ids(client_request.get("/workspace/address/all"))
    assert set(everywhere.values()).isdisjoint(ids.values())


def test_another_persons_roster_is_not_found(auth, client_request, dbsession):
    auth.login("黄丽")
    home = address_id_of(dbsession, HOME_LINE)
    school = org_id_of(dbsession, "12440111455123453T")
    for url in (
        f"/workspace/address/{home}",
        f"/workspace/address/{home}/roster.csv",
        f"/workspace/address/{home}/upload",
        f"/workspace/org/{school}",
        "/workspace/org/999999",
        "/workspace/address/all",
        "/workspace/org/all",
        "/workspace/address/99999999999999999999999",
        "/workspace/address/01",
    ):
        client_request.get(url, expected_status=404)


def test_export_is_utf8_csv_with_a_bom_and_masked_ids(auth, client, dbsession):
    auth.login("黄丽")
    employer = org_id_of(dbsession, "91440106MA5ABC120A")
    answer = client.get(f"/workspace/org/{employer}/roster.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    body = answer.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["姓名", "公民身份号码", "登记日期", "居住地址"]
    assert rows[1][:2] == ["张伟", "4301**********1234"]
    dbsession.rollback()
    assert dbsession.exec(select(AuditEvent).where(AuditEvent.action == "workspace_roster_exported")).first()


def start_batch(client_request, url: str, *names: str):
    ids = row_ids(client_request.get(url))
    page = client_request.post(f"{url}/departures", {"selected": [ids[n] for n in names]})
    assert page.location and page.location.endswith("/reason")
    return page.location.removesuffix("/reason")


def test_batch_departure_gives_each_person_their_own_case(auth, client_request, dbsession, outbox, clock):
    auth.login("陈军")
    url = f"/workspace/address/{address_id_of(dbsession, HOME_LINE)}"
    batch = start_batch(client_request, url, "张伟", "李娜")
    reason = client_request.get(f"{batch}/reason")
    assert reason.soup.select_one("input[name=reason][value=moved_out]").has_attr("checked")
    client_request.post(f"{batch}/reason", {"reason": "moved_out", "leave_date": clock.today.isoformat()})
    check = client_request.get(f"{batch}/check")
    assert "张伟" in check.main_text and "李娜" in check.main_text and "立即终止使用" in check.main_text
    refused = client_request.post(f"{batch}/check", {}, expected_status=422)
    assert "请勾选声明" in refused.text(".error-summary")
    done = client_request.post(f"{batch}/check", {"declaration": "y"})
    assert done.location == batch
    result = client_request.get(batch)
    references = re.findall(r"ZX\d{8}[0-9A-Z]{7}", result.main_text)
    assert len(set(references)) == 2
    dbsession.rollback()
    assert dbsession.exec(select(sa.func.count()).select_from(Deregistration)).one() == 3  # 刘洋 before
    for name in ("张伟", "李娜"):
        texts = [m["text"] for m in outbox.messages(demo.phone(name))]
        assert any("注销" in t for t in texts)


def test_resubmitting_the_same_batch_creates_nothing_more(auth, client_request, dbsession, clock):
    auth.login("陈军")
    url = f"/workspace/address/{address_id_of(dbsession, HOME_LINE)}"
    batch = start_batch(client_request, url, "张伟")
    client_request.post(f"{batch}/reason", {"reason": "moved_out", "leave_date": clock.today.isoformat()})
    client_request.post(f"{batch}/check", {"declaration": "y"})
    again = client_request.post(f"{batch}/check", {"declaration": "y"})
    assert again.location == batch
    dbsession.rollback()
    assert dbsession.exec(select(sa.func.count()).select_from(Case).where(Case.kind == "deregister")).one() == 2


def test_an_already_deregistered_person_is_skipped_and_listed(auth, client_request, dbsession, clock):
    auth.login("陈军")
    url = f"/workspace/address/{address_id_of(dbsession, HOME_LINE)}"
    first = start_batch(client_request, url, "张伟", "李娜")
    second = start_batch(client_request, url, "张伟")
    for batch in (first, second):
        client_request.post(f"{batch}/reason", {"reason": "moved_out", "leave_date": clock.today.isoformat()})
    client_request.post(f"{first}/check", {"declaration": "y"})
    check = client_request.get(f"{second}/check")
    assert "已经注销" in check.main_text
    assert check.soup.select_one("input[name=declaration]") is None


def test_nothing_ticked_is_refused_on_the_roster(auth, client_request, dbsession):
    auth.login("陈军")
    url = f"/workspace/address/{address_id_of(dbsession, HOME_LINE)}"
    page = client_request.post(f"{url}/departures", {"selected": ["0" * 20]}, expected_status=422)
    assert "所勾选的人员已不在名单中" in page.text("#selected-error")
    page = client_request.post(f"{url}/departures", {}, expected_status=422)
    assert "请勾选要申报离开的人员" in page.text("#selected-error")


def test_another_persons_batch_is_not_found(auth, client_request, dbsession, clock):
    auth.login("陈军")
    url = f"/workspace/address/{address_id_of(dbsession, HOME_LINE)}"
    batch = start_batch(client_request, url, "张伟")
    auth.logout()
    auth.login("黄丽")
    for suffix in ("", "/reason", "/check"):
        client_request.get(f"{batch}{suffix}", expected_status=404)
    client_request.post(f"{batch}/check", {"declaration": "y"}, expected_status=404)
    dbsession.rollback()
    assert dbsession.exec(select(DepartureBatch.submitted_at)).one() is None


def test_roster_views_batches_and_uploads_are_audit_events(auth, client_request, dbsession, clock):
    auth.login("陈军")
    url = f"/workspace/address/{address_id_of(dbsession, HOME_LINE)}"
    batch = start_batch(client_request, url, "李娜")
    client_request.post(f"{batch}/reason", {"reason": "moved_out", "leave_date": clock.today.isoformat()})
    client_request.post(f"{batch}/check", {"declaration": "y"})
    dbsession.rollback()
    events = dbsession.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    actions = [e.action for e in events if e.action.startswith("workspace_") or e.action == "permit_deregistered"]
    assert actions == [
        "workspace_roster_viewed",
        "workspace_batch_started",
        "permit_deregistered",
        "workspace_batch_submitted",
    ]
    chen = person_id(dbsession, "陈军")
    assert all(e.actor_id == chen for e in events if e.action.startswith("workspace_"))
    viewed = next(e for e in events if e.action == "workspace_roster_viewed")
    assert person_id(dbsession, "李娜") in viewed.detail["shown"]
    submitted = next(e for e in events if e.action == "workspace_batch_submitted")
    assert submitted.detail["outcomes"] == {"declared": 1}


@pytest.mark.parametrize("q", ["", "张", "5176"])
def test_a_roster_page_probes_its_own_rows_by_key_never_reads_the_register_through(dbsession, q):
    # SPEC 13: a roster page at 10 million permits within 1.2x its time at 1 thousand. Its
    # rows come from the organisation's roster index (current, not deregistered) and
    # everything else by primary key; the deregistrations are not read at all.
    dbsession.rollback()
    operator = person_id(dbsession, "黄丽")
    roster = workspace.open_roster(dbsession, operator, "org", str(org_id_of(dbsession, demo.ORGANISATIONS[0][1])))
    statement = workspace.page_query(roster, q, 1, with_total=True)
    compiled = statement.compile(dbsession.get_bind(), compile_kwargs={"literal_binds": True})
    if dbsession.get_bind().dialect.name == "postgresql":
        # With a demo-sized register PostgreSQL rightly reads small tables whole; forbidding
        # that shows the indexes can serve the page, as they will with millions of rows.
        dbsession.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = [row[0] for row in dbsession.execute(sa.text(f"EXPLAIN {compiled}"))]
        assert any("using ix_permit_roster_employer on permit" in step for step in plan), plan
        assert not any("Seq Scan" in step or "deregistration" in step for step in plan), plan
        dbsession.rollback()
        return
    plan = [row[-1] for row in dbsession.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}"))]
    assert any("USING INDEX ix_permit_roster_employer" in step for step in plan), plan
    # Person and address rows are looked up by key, never read end to end.
    assert not any(re.match(r"SCAN (permit|person|address|deregistration)\b", step) for step in plan), plan
    assert not any("deregistration" in step for step in plan), plan


def test_the_roster_index_is_read_alone_on_postgresql(dbsession):
    # SPEC 13: an employer's permits lie anywhere in the register; what the roster needs of
    # them (id, person, address, since) is in the index, so no permit row is read.
    if dbsession.get_bind().dialect.name != "postgresql":
        pytest.skip("INCLUDE and index-only scans are PostgreSQL's; SQLite reads the row by its id")
    dbsession.rollback()
    operator = person_id(dbsession, "黄丽")
    roster = workspace.open_roster(dbsession, operator, "org", str(org_id_of(dbsession, demo.ORGANISATIONS[0][1])))
    registered = workspace._registered(roster)
    compiled = sa.select(registered).compile(dbsession.get_bind(), compile_kwargs={"literal_binds": True})
    # A live register's visibility map says its rows are visible (autovacuum); the test
    # database's is as new as its rows, so the planner is told to prefer the index alone.
    dbsession.execute(sa.text("SET LOCAL enable_seqscan = off"))
    dbsession.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
    dbsession.execute(sa.text("SET LOCAL enable_indexscan = off"))
    plan = [row[0] for row in dbsession.execute(sa.text(f"EXPLAIN {compiled}"))]
    assert any("Index Only Scan using ix_permit_roster_employer" in step for step in plan), plan
    dbsession.rollback()


def test_page_one_reads_the_people_of_its_own_addresses_only(dbsession):
    # SPEC 13: which addresses a page spans follows from the permits alone; each person's
    # row (a descent of the person key, deeper as the city grows) is read for those only.
    roster = landlords_roster_on_postgresql(dbsession)
    everyone = dbsession.execute(workspace.page_query(roster, "", 1)).all()
    # A page of 2: both rows are at the roster's first address, whose people are all read.
    shown = [row for row in everyone if row.line == everyone[0].line]
    assert len(shown) >= 2 and len(everyone) > len(shown)
    saved = workspace.PER_PAGE
    workspace.PER_PAGE = 2
    try:
        statement = workspace.page_query(roster, "", 1)
    finally:
        workspace.PER_PAGE = saved
    assert key_probes(dbsession, statement, "pk_person") == len(shown)
    dbsession.rollback()


@pytest.mark.parametrize("per_page", [1, 2, 3, 50])
def test_pages_follow_each_other_in_the_rosters_order_whatever_their_size(dbsession, clock, monkeypatch, per_page):
    # A page is found from how many people each address has; page by page it must be the
    # roster in its order (address line, name), pages ending mid-address included.
    who, roster = landlords_roster(dbsession, clock)
    whole = [(row.address_line, row.name, row.person_id) for row in workspace.export_rows(dbsession, who, roster)]
    assert len({line for line, _, _ in whole}) < len(whole) > 3
    monkeypatch.setattr(workspace, "PER_PAGE", per_page)
    first = workspace.roster_page(dbsession, who, roster, q="", page=1, secret="s")
    assert first.total == len(whole) and first.pages == -(-len(whole) // per_page)
    paged = [
        (row.address_line, row.name, row.person_id)
        for page in range(1, first.pages + 1)
        for row in workspace.roster_page(dbsession, who, roster, q="", page=page, secret="s").rows
    ]
    assert paged == whole
    dbsession.rollback()


def test_a_search_counts_its_matches_and_a_page_past_the_end_shows_the_last(dbsession, clock):
    who, roster = landlords_roster(dbsession, clock)
    everyone = workspace.roster_page(dbsession, who, roster, q="", page=1, secret="s")
    zhang = workspace.roster_page(dbsession, who, roster, q="张", page=1, secret="s")
    assert zhang.total == len(zhang.rows) == sum(1 for r in everyone.rows if "张" in r.name) > 0
    past = workspace.roster_page(dbsession, who, roster, q="张", page=7, secret="s")
    assert (past.page, past.total, [r.name for r in past.rows]) == (1, zhang.total, [r.name for r in zhang.rows])
    nobody = workspace.roster_page(dbsession, who, roster, q="无此人", page=3, secret="s")
    assert (nobody.page, nobody.pages, nobody.total, nobody.rows) == (1, 1, 0, [])
    dbsession.rollback()


def test_a_roster_page_reads_its_people_once_for_its_rows_and_its_total(dbsession, clock):
    # SPEC 13: a separate count of the roster was a second look-up per person into the
    # deregistration index, the part of the page that grew with the city.
    who, roster = landlords_roster(dbsession, clock)
    reads: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if re.search(r"\bFROM permit\b", statement):
            reads.append(statement)

    engine = dbsession.get_bind()
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        everyone = workspace.roster_page(dbsession, who, roster, q="", page=1, secret="s")
        assert len(reads) == 1, reads
        # Past the end, the last page and the same total (then it counts on its own).
        past = workspace.roster_page(dbsession, who, roster, q="", page=9, secret="s")
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert everyone.total == len(everyone.rows) > 0
    assert (past.page, past.total, past.rows) == (1, everyone.total, everyone.rows)
    dbsession.rollback()


def test_a_roster_page_reads_each_of_its_addresses_once(dbsession):
    # SPEC 13: the few addresses of a roster are read once each, not once per person (at 10
    # million permits each read is a deeper descent of the address key).
    roster = landlords_roster_on_postgresql(dbsession)
    statement = workspace.page_query(roster, "", 1, with_total=True)
    probes = key_probes(dbsession, statement, "pk_address")
    rows = dbsession.execute(statement).all()
    assert probes == len({row.line for row in rows}) < len(rows)
    dbsession.rollback()
