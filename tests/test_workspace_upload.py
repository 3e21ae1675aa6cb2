"""Uploading departures (SPEC 10.5): CSV in UTF-8, UTF-8 with a BOM and GBK, .xlsx; every
row checked and named by number in Chinese; nothing written until the file is clean; bad
files get a message, never a 500."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import openpyxl
import pytest
import sqlalchemy as sa
from sqlmodel import select

from epermit import demo
from epermit.models import AuditEvent, DepartureBatch, Deregistration
from epermit.services import departure_file

EMPLOYER_USCC = "91440106MA5ABC120A"
ZHANG = demo.person("张伟")


def employer_url(dbsession) -> str:
    org = dbsession.execute(
        sa.text("SELECT id FROM organisation WHERE uscc = :u"), {"u": EMPLOYER_USCC}
    ).scalar_one()
    return f"/workspace/org/{org}"


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    return "\r\n".join(",".join(r) for r in rows).encode(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client_request, url: str, data: bytes, name: str = "名单.csv", expected_status: int = 303):
    return client_request.post(
        f"{url}/upload", {"file": (io.BytesIO(data), name)}, expected_status=expected_status
    )


HEADER = ["公民身份号码", "姓名", "离开日期"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_a_clean_csv_in_each_encoding_goes_to_the_check_page(auth, client_request, dbsession, clock, encoding):
    auth.login("黄丽")
    url = employer_url(dbsession)
    data = csv_bytes([HEADER, [ZHANG.id_number, "张伟", clock.today.isoformat()]], encoding)
    answer = upload(client_request, url, data)
    assert answer.location and answer.location.endswith("/check")
    check = client_request.get(answer.location)
    assert "张伟" in check.main_text and "离职" in check.main_text


def test_a_gbk_file_with_a_bad_row_names_the_row_and_writes_nothing(auth, client_request, dbsession, clock):
    auth.login("黄丽")
    url = employer_url(dbsession)
    data = csv_bytes(
        [HEADER, [ZHANG.id_number, "张伟", clock.today.isoformat()], [demo.person("赵强").id_number, "赵强", "2026-11-01"]],
        "gbk",
    )
    page = upload(client_request, url, data, expected_status=422)
    assert "第3行：该公民身份号码不在本单位登记人员中" in page.text(".problems")
    assert "目前没有办理任何人员" in page.text("#file-error")
    dbsession.rollback()
    assert dbsession.exec(select(DepartureBatch)).first() is None
    assert dbsession.exec(select(sa.func.count()).select_from(Deregistration)).one() == 1
    audit = dbsession.exec(select(AuditEvent).where(AuditEvent.action == "workspace_file_uploaded")).one()
    assert audit.detail["refused"] == "rows"


def test_every_row_is_checked(auth, client_request, dbsession, clock):
    auth.login("黄丽")
    url = employer_url(dbsession)
    tomorrow = (clock.today + timedelta(days=1)).isoformat()
    data = csv_bytes(
        [
            HEADER + ["原因"],
            ["4301021990030712", "张伟", "2026-11-01", ""],
            [ZHANG.id_number, "张三", "2026-11-01", ""],
            [ZHANG.id_number.replace("1234", "1235"), "张伟", "2026-11-01", ""],
            [ZHANG.id_number, "张伟", "2026-02-30", ""],
            [ZHANG.id_number, "张伟", tomorrow, ""],
            [ZHANG.id_number, "张伟", "11/05/2026", ""],
            ["4.30102E+17", "张伟", "2026-11-01", ""],
        ]
    )
    page = upload(client_request, url, data, expected_status=422)
    problems = [li.get_text() for li in page.soup.select(".problems li")]
    assert problems[0].startswith("第2行：公民身份号码应为18位")
    assert problems[1] == "第3行：姓名与该公民身份号码登记的姓名不一致"
    assert problems[2] == "第4行：公民身份号码最后一位校验码不正确，请核对后重新输入"
    assert problems[3] == "第5行：与第3行的公民身份号码重复"
    assert len(problems) == 7


def test_dates_as_excel_saves_them_are_read_and_shown_as_read(auth, client_request, dbsession):
    auth.login("黄丽")
    url = employer_url(dbsession)
    data = csv_bytes([HEADER, [ZHANG.id_number, "张伟", "2026/11/5"]], "gbk")
    check = client_request.get(upload(client_request, url, data).location)
    assert "2026年11月5日" in check.main_text and "文件中写作“2026/11/5”" in check.main_text


def test_an_xlsx_with_a_date_cell_and_a_reason(auth, client_request, dbsession):
    auth.login("黄丽")
    url = employer_url(dbsession)
    data = xlsx_bytes([HEADER + ["原因"], [ZHANG.id_number, "张伟", datetime(2026, 11, 20), "合同到期"]])
    check = client_request.get(upload(client_request, url, data, "名单.xlsx").location)
    assert "2026年11月20日" in check.main_text and "合同到期" in check.main_text
    done = client_request.post(check.response.request.path, {"declaration": "y"})
    result = client_request.get(done.location)
    assert "ZX" in result.main_text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "文件是空的"),
        (csv_bytes([["姓名", "公民身份号码", "离开日期"]]), "第一行应为表头"),
        (csv_bytes([HEADER]), "只有表头"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "无法读取该文件"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "旧版Excel"),
        (b"PK\x03\x04 broken zip", "无法读取该Excel文件"),
        (b"\xef\xbb\xbf" + b"a" * (departure_file.MAX_BYTES + 10), "超过2MB"),
    ],
    ids=["empty", "header", "no-rows", "binary", "xls", "broken-xlsx", "too-big"],
)
def test_bad_files_get_a_clear_message(auth, client_request, dbsession, data, message):
    auth.login("黄丽")
    page = upload(client_request, employer_url(dbsession), data, expected_status=422)
    assert message in page.text(".error-summary")
    assert page.soup.select_one("#file")["aria-invalid"] == "true"


def test_more_than_5000_rows_is_refused(auth, client_request, dbsession):
    auth.login("黄丽")
    rows = [HEADER] + [[ZHANG.id_number, "张伟", "2026-11-01"]] * 5001
    page = upload(client_request, employer_url(dbsession), csv_bytes(rows), expected_status=422)
    assert "超过5000行" in page.text(".error-summary")


def test_an_excel_date_number_and_an_id_number_stored_as_a_number_are_named():
    rows = departure_file.read_table(
        xlsx_bytes([HEADER, [430102199003071234, "张伟", "2026-11-01"], [ZHANG.id_number, "张伟", 46331]])
    )
    members = {ZHANG.id_number: departure_file.Member(1, 1, "张伟", ZHANG.id_number, datetime(2025, 1, 1).date())}
    checked = departure_file.check_rows(rows, members, today=datetime(2026, 11, 25).date(), reason_words={})
    assert [(p.row, p.code) for p in checked.problems] == [(2, "id_as_number"), (3, "date_number")]


def test_a_body_over_the_uploads_allowance_gets_the_upload_page_not_an_error(auth, client_request, dbsession):
    auth.login("黄丽")
    url = employer_url(dbsession)
    page = upload(client_request, url, b"a" * (departure_file.MAX_BYTES + 100 * 1024), expected_status=413)
    assert page.h1 == "上传离开人员名单"
    assert "文件超过2MB" in page.text("#file-error")
