"""A register at city scale for benchmarks (SPEC 13): up to 10 million permits, 1 million cases.

`seed(engine, permits=N, today=...)` adds N permit holders beside whatever is there (the demo
world, say), with the spread a real register has, so that a query that only looks fast on a
uniform toy table shows it:
- addresses: about three people a flat, in buildings of 20 flats with one landlord each, and
  one holder in a hundred in dormitories of 5,000 (rosters of 1 to 5,000 people);
- employers: a third of holders work, 10 employers of 5,000 and the rest about 25 each;
  schools of about 800 pupils, hotels of about 50 guests; one operator per organisation;
- permits: valid-until spread from 60 days ago to a year ahead (due, valid and suspended),
  continuity of up to five years, the 11 districts evenly;
- cases: an endorsement for one holder in ten, a deregistration for one in a hundred, a
  change of address for one in a hundred (7 in 10 confirmed, 2 refused, 1 lapsed), over
  the last year (changes of address since the permit's issue, so more of them recent: about
  a quarter in the last 30 days, which only gives statistics more to count); children (one
  in fifty) have no phone and a parent who lists them.
  Each event row carries the district it is counted in, as the services write it.

People and permits are written set-based (INSERT … SELECT over a generated series, in chunks,
explicit ids), cases in batches from Python because their references carry a check character.
ID numbers are well-formed (region, birth date, sequence, check digit) and unique; phones start
with 15 so they never meet the demo's 138 numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from epermit.models import AddressChange, Case, Deregistration, Endorsement, RegistrationHistory
from epermit.services.move import CONFIRM_DAYS, OUTCOME_OF_STATE
from epermit.services.references import ALPHABET, check_character
from epermit.vocabulary import REFERENCE_PREFIXES, CaseKind, ChangeState, Housing

DISTRICTS = (
    "越秀区", "海珠区", "荔湾区", "天河区", "白云区", "黄埔区",
    "番禺区", "花都区", "南沙区", "从化区", "增城区",
)  # fmt: skip
HOLDER_REGIONS = ("430102", "510104", "450102", "410102", "360102", "420102")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅"
CHUNK = 250_000
FLATS_PER_LANDLORD = 20
DORM_SIZE = 5_000
BIG_EMPLOYERS, BIG_EMPLOYER_SIZE, SMALL_EMPLOYER_SIZE = 10, 5_000, 25
SCHOOL_SIZE, HOTEL_SIZE = 800, 50
# Holder i's permit is deregistered when i % 100 == 5: its permit row says so as it is
# written (Permit.deregistered), its deregistration comes with the cases.
DEREGISTERED_EVERY, DEREGISTERED_AT = 100, 5
DEREGISTERED = f"(i % {DEREGISTERED_EVERY} = {DEREGISTERED_AT})"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # GB 11643


@dataclass(frozen=True)
class Layout:
    """Where holder i (1..permits) lives and works: plain integers the SQL below shares."""

    permits: int
    dorms: int
    flats: int
    big_employers: int
    small_employers: int
    schools: int
    hotels: int

    @classmethod
    def for_permits(cls, permits: int) -> Layout:
        dorm_people = permits // 100
        employed = permits // 3
        return cls(
            permits=permits,
            dorms=-(-dorm_people // DORM_SIZE),
            flats=max(1, permits // 3),
            big_employers=min(BIG_EMPLOYERS, max(1, -(-employed // BIG_EMPLOYER_SIZE))),
            small_employers=max(
                1, (employed - BIG_EMPLOYERS * BIG_EMPLOYER_SIZE) // SMALL_EMPLOYER_SIZE
            ),
            schools=max(1, permits // 50 // SCHOOL_SIZE),
            hotels=max(1, permits // 200 // HOTEL_SIZE),
        )

    @property
    def addresses(self) -> int:
        return self.dorms + self.flats

    @property
    def landlords(self) -> int:
        return -(-self.addresses // FLATS_PER_LANDLORD)

    @property
    def organisations(self) -> int:
        return self.big_employers + self.small_employers + self.schools + self.hotels

    def address_index(self, i: int) -> int:
        """Holder i's address, 0-based among the seeded ones (as `address_index` in SQL)."""
        if i % 100 == 0 and self.dorms > 0:
            return (i // 100 - 1) // DORM_SIZE
        return self.dorms + i % self.flats

    def flat(self, n: int) -> int:
        """The n-th flat (modulo their number), 0-based among the seeded addresses."""
        return self.dorms + n % self.flats

    @staticmethod
    def district(index: int) -> str:
        """The district of the address of 0-based index `index` (as `district` in SQL)."""
        return DISTRICTS[(index // FLATS_PER_LANDLORD) % len(DISTRICTS)]


@dataclass(frozen=True)
class Seeded:
    permits: int
    people: int
    addresses: int
    organisations: int
    cases: int


class _Dialect:
    """The few expressions SQLite and PostgreSQL spell differently."""

    def __init__(self, name: str) -> None:
        self.pg = name == "postgresql"

    def series(self, low: int, high: int) -> str:
        if self.pg:
            return f"WITH g(i) AS (SELECT generate_series({low}, {high}))"
        return (
            f"WITH RECURSIVE g(i) AS (SELECT {low} UNION ALL SELECT i + 1 FROM g WHERE i < {high})"
        )

    def text(self, expr: str) -> str:
        return f"CAST({expr} AS TEXT)" if self.pg else f"({expr})"

    def pad(self, expr: str, width: int) -> str:
        if self.pg:
            return f"lpad(CAST({expr} AS TEXT), {width}, '0')"
        return f"printf('%0{width}d', {expr})"

    def day(self, start: date, days: str) -> str:
        """The date `days` (an integer expression) after `start`, typed as the column wants."""
        if self.pg:
            return f"(DATE '{start.isoformat()}' + CAST({days} AS INTEGER))"
        return f"date('{start.isoformat()}', ({days}) || ' days')"

    def yyyymmdd(self, day_expr: str) -> str:
        return f"to_char({day_expr}, 'YYYYMMDD')" if self.pg else f"replace({day_expr}, '-', '')"

    def pick(self, values: tuple[str, ...], index: str) -> str:
        cases = " ".join(f"WHEN {n} THEN '{v}'" for n, v in enumerate(values))
        return f"(CASE ({index}) {cases} END)"

    def true(self) -> str:
        return "TRUE" if self.pg else "1"


def _digit_sum(number: str, first_weight: int) -> int:
    return sum(int(c) * w for c, w in zip(number, _WEIGHTS[first_weight:], strict=False))


class _Born:
    """Birth date and ID number of the person with id n, in integer arithmetic (cheap per row,
    the same on both databases): day index n / 500 → year from 1950, month, day 1–28; sequence
    500 + n % 500. Unique because ids are; the demo's and tests' people use sequences below
    500 (but for 陈军, whose region no bulk person has), so none is ever met twice."""

    def __init__(self, d: _Dialect, n: str) -> None:
        self.d = d
        idx = f"(({n}) / 500)"
        self.year = f"(1950 + {idx} / 336)"
        self.month = f"(({idx} / 28) % 12 + 1)"
        self.day = f"({idx} % 28 + 1)"
        self.seq = f"(500 + ({n}) % 500)"

    def birth_date(self) -> str:
        if self.d.pg:
            return f"make_date({self.year}, {self.month}, {self.day})"
        return f"printf('%04d-%02d-%02d', {self.year}, {self.month}, {self.day})"

    def id_number(self, regions: tuple[str, ...], region_index: str) -> str:
        """Region, YYYYMMDD, sequence and the GB 11643 check character."""
        region_sum = " ".join(f"WHEN {n} THEN {_digit_sum(r, 0)}" for n, r in enumerate(regions))
        digits = [
            (f"{self.year} / 1000", 6), (f"({self.year} / 100) % 10", 7),
            (f"({self.year} / 10) % 10", 8), (f"{self.year} % 10", 9),
            (f"{self.month} / 10", 10), (f"{self.month} % 10", 11),
            (f"{self.day} / 10", 12), (f"{self.day} % 10", 13),
            (f"{self.seq} / 100", 14), (f"({self.seq} / 10) % 10", 15), (f"{self.seq} % 10", 16),
        ]  # fmt: skip
        total = " + ".join(f"({expr}) * {_WEIGHTS[k]}" for expr, k in digits)
        total = f"(CASE ({region_index}) {region_sum} END) + {total}"
        region = self.d.pick(regions, region_index)
        if self.d.pg:
            body = (
                f"{region} || lpad(CAST({self.year} AS TEXT), 4, '0')"
                f" || lpad(CAST({self.month} AS TEXT), 2, '0')"
                f" || lpad(CAST({self.day} AS TEXT), 2, '0')"
                f" || lpad(CAST({self.seq} AS TEXT), 3, '0')"
            )
        else:
            body = (
                f"{region} || printf('%04d%02d%02d%03d', {self.year}, {self.month}, {self.day},"
                f" {self.seq})"
            )
        return f"{body} || substr('10X98765432', (({total}) % 11) + 1, 1)"


def _max_id(connection: sa.Connection, table: str) -> int:
    return int(
        connection.execute(sa.text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()
    )


def seed(engine: sa.Engine, *, permits: int, today: date, now: datetime) -> Seeded:
    """Add `permits` holders (and their places, organisations and cases); commits in chunks."""
    d = _Dialect(engine.dialect.name)
    layout = Layout.for_permits(permits)
    with engine.connect() as connection:
        base = {t: _max_id(connection, t) for t in ("person", "address", "organisation", "permit")}
        case_base = _max_id(connection, "case_record")
        change_base = _max_id(connection, "addresschange")
        superuser = d.pg and connection.exec_driver_sql("SHOW is_superuser").scalar() == "on"
    p0, a0, o0, m0 = base["person"], base["address"], base["organisation"], base["permit"]
    landlords0 = p0 + permits
    operators0 = landlords0 + layout.landlords

    def chunks(total: int) -> list[tuple[int, int]]:
        return [(low, min(total, low + CHUNK - 1)) for low in range(1, total + 1, CHUNK)]

    def run(sql: str) -> None:
        with engine.begin() as connection:
            if d.pg and superuser:
                # Every id is made consistent by construction (tests check it): PostgreSQL's
                # per-row foreign-key triggers would otherwise take most of the time.
                connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            # psycopg reads % as a placeholder even without parameters.
            connection.exec_driver_sql(sql.replace("%", "%%") if d.pg else sql)

    names = (
        f"substr('{SURNAMES}', (i % {len(SURNAMES)}) + 1, 1)"
        f" || substr('{GIVEN}', ((i / {len(SURNAMES)}) % {len(GIVEN) - 1}) + 1, 2)"
    )

    # People without permits first: landlords (one per 20 addresses), then operators.
    for kind, first, count, region in (
        ("landlord", landlords0, layout.landlords, "440106"),
        ("operator", operators0, layout.organisations, "440111"),
    ):
        born = _Born(d, f"{first} + i")
        phone_digit = "'0'" if kind == "landlord" else "'1'"
        for low, high in chunks(count):
            run(
                f"{d.series(low, high)} INSERT INTO person"
                " (id, id_number, name, sex, ethnicity, birth_date, hukou, phone, session_epoch)"
                f" SELECT {first} + i, {born.id_number((region,), '0')}, {names},"
                f" CASE WHEN i % 2 = 0 THEN 'female' ELSE 'male' END, '汉族',"
                f" {born.birth_date()}, '广东省广州市', '16' || {phone_digit}"
                f" || {d.pad(f'{first} + i', 8)}, 0"
                " FROM g"
            )

    # Addresses: dormitories first (index 0..dorms-1), then flats in buildings of 20.
    # A building (20 flats) stands in one district.
    district = d.pick(DISTRICTS, f"((i - 1) / {FLATS_PER_LANDLORD}) % {len(DISTRICTS)}")
    for low, high in chunks(layout.addresses):
        run(
            f"{d.series(low, high)} INSERT INTO address (id, district, line, landlord_id)"
            f" SELECT {a0} + i, {district},"
            f" '广州市' || {district} || CASE WHEN i <= {layout.dorms} THEN '宿舍区'"
            f" ELSE '测试街' END || {d.text(f'{a0} + (i - 1) / 20')} || '号'"
            f" || {d.text('(i - 1) % 20 + 1')} || '房',"
            f" {landlords0} + (i - 1) / {FLATS_PER_LANDLORD} + 1 FROM g"
        )

    # Organisations: big employers, small employers, schools, hotels; one operator each.
    small0 = layout.big_employers
    schools0 = small0 + layout.small_employers
    hotels0 = schools0 + layout.schools
    kind = (
        f"CASE WHEN i <= {schools0} THEN 'employer' WHEN i <= {hotels0} THEN 'school'"
        " ELSE 'hotel' END"
    )
    for low, high in chunks(layout.organisations):
        run(
            f"{d.series(low, high)} INSERT INTO organisation (id, name, uscc, kind)"
            f" SELECT {o0} + i, '广州测试' || {d.text(f'{o0} + i')} || '号单位',"
            f" '9144010000' || {d.pad(f'{o0} + i', 8)}, {kind} FROM g"
        )
        run(
            f"{d.series(low, high)} INSERT INTO orgoperator (organisation_id, person_id)"
            f" SELECT {o0} + i, {operators0} + i FROM g"
        )

    # Holders and their permits, chunk by chunk.
    address_index = (
        f"CASE WHEN i % 100 = 0 AND {layout.dorms} > 0 THEN (i / 100 - 1) / {DORM_SIZE}"
        f" ELSE {layout.dorms} + (i % {layout.flats}) END"
    )
    employer = (
        f"CASE WHEN i % 3 <> 0 THEN NULL"
        f" WHEN i / 3 <= {layout.big_employers * BIG_EMPLOYER_SIZE}"
        f" THEN {o0} + 1 + (i / 3 - 1) / {BIG_EMPLOYER_SIZE}"
        f" ELSE {o0} + 1 + {small0} + ((i / 3) % {layout.small_employers}) END"
    )
    school = f"CASE WHEN i % 50 = 1 THEN {o0} + 1 + {schools0} + ((i / 50) % {layout.schools}) END"
    hotel = f"CASE WHEN i % 200 = 7 THEN {o0} + 1 + {hotels0} + ((i / 200) % {layout.hotels}) END"
    valid_until = d.day(today, "((i * 37) % 425) - 60")
    issued = d.day(today, "((i * 37) % 425) - 425")
    continuity = d.day(today, "((i * 37) % 425) - 425 - (i % 5) * 365")
    authority = d.pick(
        tuple(f"广州市公安局{name.removesuffix('区')}分局" for name in DISTRICTS),
        f"(({address_index}) / {FLATS_PER_LANDLORD}) % {len(DISTRICTS)}",
    )
    born = _Born(d, f"{p0} + i")
    holder_id = born.id_number(HOLDER_REGIONS, f"i % {len(HOLDER_REGIONS)}")
    for low, high in chunks(permits):
        run(
            f"{d.series(low, high)} INSERT INTO person"
            " (id, id_number, name, sex, ethnicity, birth_date, hukou, phone, session_epoch)"
            f" SELECT {p0} + i, {holder_id}, {names},"
            f" CASE WHEN i % 2 = 0 THEN 'female' ELSE 'male' END, '汉族',"
            f" {born.birth_date()}, '外省',"
            f" CASE WHEN i % 50 = 1 THEN NULL ELSE '15' || {d.pad(f'{p0} + i', 9)} END, 0 FROM g"
        )
        run(
            f"{d.series(low, high)} INSERT INTO permit"
            " (id, person_id, address_id, issuing_authority, issue_date, valid_until,"
            " continuity_start, registered_since, employer_id, school_id, hotel_id, is_current,"
            " deregistered)"
            f" SELECT {m0} + i, {p0} + i, {a0} + 1 + ({address_index}), {authority},"
            f" {issued}, {valid_until}, {continuity}, {issued}, {employer}, {school}, {hotel},"
            f" {d.true()}, {DEREGISTERED} FROM g"
        )
        # A child (no phone) is listed by the parent seeded just before them, as agreed.
        run(
            f"{d.series(low, high)} INSERT INTO familylink"
            " (person_id, member_id, relationship, created_at, basis)"
            f" SELECT {p0} + i - 1, {p0} + i, 'child', '{now:%Y-%m-%d %H:%M:%S.%f}',"
            " 'consented' FROM g"
            " WHERE i % 50 = 1 AND i > 1"
        )

    cases = _seed_cases(
        engine, layout, Bases(p0, a0, m0, case_base, change_base, landlords0), today=today, now=now
    )
    # A confirmed change of address moved its permit: registered there since the move.
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE permit SET registered_since = (SELECT max(h.moved_on) FROM"
            " registrationhistory h WHERE h.permit_id = permit.id)"
            f" WHERE id IN (SELECT permit_id FROM registrationhistory WHERE permit_id > {m0})"
        )
    if d.pg:
        with engine.begin() as connection:
            for table in (
                "person", "address", "organisation", "permit", "case_record", "addresschange"
            ):
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT coalesce(max(id), 1) FROM {table}))"
                )
            connection.exec_driver_sql("ANALYZE")
        # Index-only scans (staff statistics, rosters) need the visibility map, which a table loaded
        # a moment ago does not have until autovacuum comes by; a live register's has.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in ("endorsement", "deregistration", "addresschange", "objection", "permit"):
                connection.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    return Seeded(
        permits=permits,
        people=permits + layout.landlords + layout.organisations,
        addresses=layout.addresses,
        organisations=layout.organisations,
        cases=cases,
    )


def _reference(kind: CaseKind, day: date, n: int) -> str:
    """A well-formed reference, unique by n (base-23 digits where the random part goes)."""
    digits = []
    for _ in range(6):
        n, digit = divmod(n, len(ALPHABET))
        digits.append(ALPHABET[digit])
    body = f"{REFERENCE_PREFIXES[kind]}{day:%Y%m%d}{''.join(digits)}"
    return body + check_character(body)


@dataclass(frozen=True)
class Bases:
    """The largest ids before this seeding: seeded rows are numbered on from them."""

    person: int
    address: int
    permit: int
    case: int
    change: int
    landlords: int  # the first landlord's id less one


# A move's request is answered within this many days (a lapsed one: when its time is up).
MOVE_LEAD_DAYS = CONFIRM_DAYS + 1


def _seed_cases(
    engine: sa.Engine, layout: Layout, bases: Bases, *, today: date, now: datetime
) -> int:
    """An endorsement for holder i when i % 10 == 3, a deregistration when i % 100 == 5, a
    change of address when i % 100 == 9."""
    rng = random.Random(20261201)
    p0, m0 = bases.person, bases.permit
    case_rows: list[dict] = []
    endorsements: list[dict] = []
    deregistrations: list[dict] = []
    changes: list[dict] = []
    history: list[dict] = []
    next_id = bases.case
    next_change = bases.change
    written = 0
    # Moves go between two distinct flats.
    moves = layout.flats > 7

    def flush() -> None:
        nonlocal written
        if not case_rows:
            return
        with engine.begin() as connection:
            connection.execute(sa.insert(Case.__table__), case_rows)  # type: ignore[attr-defined]
            if endorsements:
                connection.execute(sa.insert(Endorsement.__table__), endorsements)  # type: ignore[attr-defined]
            if deregistrations:
                connection.execute(sa.insert(Deregistration.__table__), deregistrations)  # type: ignore[attr-defined]
            if changes:
                connection.execute(sa.insert(AddressChange.__table__), changes)  # type: ignore[attr-defined]
            if history:
                connection.execute(sa.insert(RegistrationHistory.__table__), history)  # type: ignore[attr-defined]
        written += len(case_rows)
        for rows in (case_rows, endorsements, deregistrations, changes, history):
            rows.clear()

    for i in range(3, layout.permits + 1, 1):
        endorse, deregister = i % 10 == 3, i % DEREGISTERED_EVERY == DEREGISTERED_AT
        if moves and i % 100 == 9:
            since_issue = 425 - (i * 37) % 425  # days since the permit was issued
            if since_issue > MOVE_LEAD_DAYS:
                next_id += 1
                next_change += 1
                _add_move(
                    i, layout, bases, case_rows, changes, history, rng,
                    case_id=next_id, change_id=next_change,
                    days_ago=rng.randrange(min(365, since_issue - MOVE_LEAD_DAYS)),
                    today=today, now=now,
                )  # fmt: skip
            continue
        if not (endorse or deregister):
            continue
        district = layout.district(layout.address_index(i))
        next_id += 1
        days_ago = rng.randrange(365)
        day = today - timedelta(days=days_ago)
        at = now - timedelta(days=days_ago, minutes=rng.randrange(600))
        kind = CaseKind.ENDORSE if endorse else CaseKind.DEREGISTER
        valid_until = today + timedelta(days=((i * 37) % 425) - 60)
        case_rows.append(
            {
                "id": next_id,
                "reference": _reference(kind, day, m0 + i),
                "kind": kind.value,
                "permit_id": m0 + i,
                "applicant_id": p0 + i,
                "agent_id": p0 + i,
                "outcome": "endorsed" if endorse else "deregistered",
                "details": {"for_whom": "self"} if endorse else {"declarant_role": "self"},
                "created_at": at,
            }
        )
        if endorse:
            endorsements.append(
                {
                    "permit_id": m0 + i,
                    "period": valid_until - timedelta(days=365),
                    "new_valid_until": valid_until,
                    "continuity_start": valid_until - timedelta(days=365 * (1 + i % 5)),
                    "late": i % 7 == 0,
                    "endorsed_on": day,
                    "case_id": next_id,
                    "district": district,
                }
            )
        else:
            deregistrations.append(
                {
                    "permit_id": m0 + i,
                    "declarant_role": "self",
                    "declarant_id": p0 + i,
                    "reason": "left_city",
                    "leave_date": day,
                    "declared_at": at,
                    "case_id": next_id,
                    "district": district,
                }
            )
        if len(case_rows) >= 50_000:
            flush()
    flush()
    return written


def _add_move(
    i: int,
    layout: Layout,
    bases: Bases,
    case_rows: list[dict],
    changes: list[dict],
    history: list[dict],
    rng: random.Random,
    *,
    case_id: int,
    change_id: int,
    days_ago: int,
    today: date,
    now: datetime,
) -> None:
    """Holder i's change of address, decided `days_ago` days ago: 7 in 10 confirmed (the
    permit is now at the new address, which it came to from another flat), 2 refused and 1
    lapsed (it stays where it is). Counted where it moves to, as move.request writes it."""
    state = (
        ChangeState.CONFIRMED if (i // 100) % 10 < 7
        else ChangeState.REFUSED if (i // 100) % 10 < 9
        else ChangeState.LAPSED
    )  # fmt: skip
    here, other = layout.address_index(i), layout.flat(i + 7)
    source, target = (other, here) if state is ChangeState.CONFIRMED else (here, other)
    decided_at = now - timedelta(days=days_ago, minutes=rng.randrange(600))
    waited = CONFIRM_DAYS if state is ChangeState.LAPSED else rng.randrange(1, CONFIRM_DAYS)
    submitted_at = decided_at - timedelta(days=waited, minutes=rng.randrange(60))
    submitted_on = today - timedelta(days=days_ago + waited + 1)
    moved_on = submitted_on - timedelta(days=rng.randrange(2))
    answerer = bases.landlords + target // FLATS_PER_LANDLORD + 1
    case_rows.append(
        {
            "id": case_id,
            "reference": _reference(CaseKind.MOVE, submitted_on, bases.permit + i),
            "kind": CaseKind.MOVE.value,
            "permit_id": bases.permit + i,
            "applicant_id": bases.person + i,
            "agent_id": bases.person + i,
            "outcome": OUTCOME_OF_STATE[state],
            "details": {"to_district": layout.district(target), "moved_on": moved_on.isoformat(),
                        "housing": Housing.RENTED.value, "for_whom": "self"},
            "created_at": submitted_at,
        }
    )  # fmt: skip
    changes.append(
        {
            "id": change_id,
            "case_id": case_id,
            "permit_id": bases.permit + i,
            "from_address_id": bases.address + 1 + source,
            "to_address_id": bases.address + 1 + target,
            "moved_on": moved_on,
            "housing": Housing.RENTED.value,
            "state": state.value,
            "submitted_at": submitted_at,
            "expires_at": submitted_at + timedelta(days=CONFIRM_DAYS),
            "decided_at": decided_at,
            "decided_by_id": None if state is ChangeState.LAPSED else answerer,
            "refuse_reason": "查无此人" if state is ChangeState.REFUSED else None,
            "district": layout.district(target),
        }
    )
    if state is ChangeState.CONFIRMED:
        history.append(
            {
                "permit_id": bases.permit + i,
                "from_address_id": bases.address + 1 + source,
                "to_address_id": bases.address + 1 + target,
                "moved_on": moved_on,
                "confirmed_by_id": answerer,
                "confirmed_at": decided_at,
                "change_id": change_id,
            }
        )
