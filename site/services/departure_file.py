"""Reading a file of departures (SPEC 10.5): CSV as Excel and WPS save it in China (UTF-8,
UTF-8 with a BOM, GBK; or Excel's "Unicode text", UTF-16 with tabs) or an .xlsx workbook,
with the header 公民身份号码,姓名,离开日期 and an optional 原因.

Pure: bytes in, rows or typed problems out (no Flask, no database, no clock); the view
names each problem in Chinese, by row. Every row is checked before anything is written.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from epermit import identity, rules
from epermit.services.departures import FileRow
from epermit.services.workspace import Member
from epermit.vocabulary import Reason

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5_000
HEADER = ("公民身份号码", "姓名", "离开日期")
REASON_COLUMN = "原因"
REASON_DETAIL_MAX_CHARS = 100
# An .xlsx is a zip: what it unpacks to is bounded too, so that a small file cannot unpack
# into gigabytes (a "zip bomb").
MAX_UNPACKED_BYTES = 40 * 1024 * 1024

Cell = str | int | float | date | datetime | None


class FileRefused(Exception):
    """The file as a whole cannot be read; `code` says why (and `limit` where one applies)."""

    def __init__(self, code: str, limit: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.limit = limit


@dataclass(frozen=True)
class Problem:
    """Why one row cannot be taken; `code` is looked up by the view, `detail` fills it in."""

    row: int
    code: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Checked:
    rows: list[FileRow]
    problems: list[Problem]


# --- Reading ---------------------------------------------------------------------------------


def read_table(data: bytes) -> list[tuple[int, list[Cell]]]:
    """The file's data rows as (row number as the spreadsheet numbers it, cells), the header
    checked and blank rows left out. Raises FileRefused."""
    if not data:
        raise FileRefused("empty")
    if len(data) > MAX_BYTES:
        raise FileRefused("too_big", MAX_BYTES)
    if data.startswith(b"PK\x03\x04"):
        table: Iterator[list[Cell]] = _xlsx_rows(data)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRefused("old_excel")
    else:
        table = _csv_rows(data)
    header = next(table, None)
    if header is None:
        raise FileRefused("empty")
    names = [_header_cell(c) for c in header]
    while names and not names[-1]:
        names.pop()
    if tuple(names[:3]) != HEADER or names[3:] not in ([], [REASON_COLUMN]):
        raise FileRefused("header")
    rows: list[tuple[int, list[Cell]]] = []
    for number, cells in enumerate(table, start=2):
        if all(_blank(c) for c in cells):
            continue
        if len(rows) == MAX_ROWS:
            raise FileRefused("too_many_rows", MAX_ROWS)
        rows.append((number, (cells + [None] * 4)[:4]))
    if not rows:
        raise FileRefused("no_rows")
    return rows


def _header_cell(cell: Cell) -> str:
    return "".join(str(cell or "").replace("\ufeff", "").split())


def _blank(cell: Cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _decode(data: bytes) -> tuple[str, str]:
    """The text and its delimiter."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "\t"
        except UnicodeDecodeError as error:
            raise FileRefused("encoding") from error
    if b"\x00" in data:
        raise FileRefused("binary")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        # GB 18030 decodes almost any bytes: control characters say it was not text.
        if any(unicodedata.category(c) == "Cc" and c not in "\r\n\t" for c in text):
            raise FileRefused("binary")
        return text, ","
    raise FileRefused("encoding")


def _csv_rows(data: bytes) -> Iterator[list[Cell]]:
    text, delimiter = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for cells in reader:
            yield list(cells)
    except csv.Error as error:
        raise FileRefused("bad_csv") from error


def _xlsx_rows(data: bytes) -> Iterator[list[Cell]]:
    import openpyxl

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
                raise FileRefused("bad_excel")
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except FileRefused:
        raise
    except Exception as error:  # noqa: BLE001 - whatever a broken workbook raises
        raise FileRefused("bad_excel") from error
    try:
        sheet = workbook.worksheets[0]
        for values in sheet.iter_rows(max_col=6, values_only=True):
            yield [_xlsx_cell(v) for v in values]
    except FileRefused:
        raise
    except Exception as error:  # noqa: BLE001
        raise FileRefused("bad_excel") from error
    finally:
        workbook.close()


def _xlsx_cell(value: Any) -> Cell:
    if value is None or isinstance(value, str | int | float | date | datetime):
        return value
    return str(value)


# --- Checking --------------------------------------------------------------------------------


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


# Excel shows an 18-digit number it was given as a number like 4.30102E+17 (and keeps only
# 15 digits of it): the number cannot be read back, and the row says why.
_SCIENTIFIC = re.compile(r"[0-9](\.[0-9]+)?[eE]\+?[0-9]+")


def check_rows(
    table: Iterable[tuple[int, list[Cell]]],
    members: Mapping[str, Member],
    *,
    today: date,
    reason_words: Mapping[str, Reason],
) -> Checked:
    """Every row checked (SPEC 10.5): a valid ID number (3.1) on this roster, the name as
    registered, a real leave date neither in the future nor before the permit's 签发日期, a
    reason in words if given. Problems for all rows, or clean rows for all."""
    rows: list[FileRow] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, (id_cell, name_cell, date_cell, reason_cell) in table:
        found = _check_row(
            number, id_cell, name_cell, date_cell, reason_cell, members, today, reason_words, seen
        )
        if isinstance(found, Problem):
            problems.append(found)
        else:
            rows.append(found)
    return Checked(rows if not problems else [], problems)


def _check_row(
    number: int,
    id_cell: Cell,
    name_cell: Cell,
    date_cell: Cell,
    reason_cell: Cell,
    members: Mapping[str, Member],
    today: date,
    reason_words: Mapping[str, Reason],
    seen: dict[str, int],
) -> FileRow | Problem:
    raw_id = _text(id_cell)
    # A number cell never holds an 18-digit number exactly (Excel keeps 15 digits).
    if isinstance(id_cell, int | float) or _SCIENTIFIC.fullmatch(raw_id):
        return Problem(number, "id_as_number")
    try:
        id_number = identity.check_id_number(raw_id, today)
    except identity.IdentityError as error:
        return Problem(number, f"id_{error.code}")
    if id_number in seen:
        return Problem(number, "duplicate", {"first": seen[id_number]})
    seen[id_number] = number
    member = members.get(id_number)
    if member is None:
        return Problem(number, "not_on_roster")
    raw_name = _text(name_cell)
    if not raw_name:
        return Problem(number, "name_empty")
    if identity.normalise_name(raw_name) != identity.normalise_name(member.name):
        return Problem(number, "name_mismatch")
    leave_date, as_written = _leave_date(date_cell)
    if isinstance(leave_date, str):
        return Problem(number, leave_date)
    if leave_date > today:
        return Problem(number, "date_future")
    if leave_date < member.issue_date:
        return Problem(number, "date_before_issue", {"issued": member.issue_date})
    raw_reason = " ".join(_text(reason_cell).split())
    reason: Reason | None = None
    detail = None
    if raw_reason:
        reason = reason_words.get(raw_reason)
        if reason is None:
            if len(raw_reason) > REASON_DETAIL_MAX_CHARS:
                return Problem(number, "reason_too_long", {"max": REASON_DETAIL_MAX_CHARS})
            reason, detail = Reason.OTHER, raw_reason
    return FileRow(number, member.person_id, leave_date, as_written, reason, detail)


def _leave_date(cell: Cell) -> tuple[date | str, str | None]:
    """The date and how it was written when not as YYYY-MM-DD (the check page says how it was
    read); or a problem code."""
    if isinstance(cell, datetime):
        return cell.date(), None  # an Excel date cell: a date already, whatever its format
    if isinstance(cell, date):
        return cell, None
    if isinstance(cell, int | float):
        return "date_number", None  # a date cell Excel lost its format for: a day count
    raw = _text(cell)
    if not raw:
        return "date_empty", None
    try:
        day = rules.date_from_text(raw)
    except rules.DateUnreadable:
        return "date_unreadable", None
    except rules.DateNotReal:
        return "date_not_real", None
    return day, (None if raw == day.isoformat() else raw[:40])
