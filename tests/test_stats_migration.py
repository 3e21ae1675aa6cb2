"""Migration 0011 fills in the district of the events recorded before it (SPEC 12.5):
where the permit was registered at the time, which a later change of address tells."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from epermit import db
from tests.test_family_agreement import scratch_database


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 2, tzinfo=UTC)


def insert(connection: sa.Connection, table: str, **values: object) -> None:
    columns = ", ".join(values)
    binds = ", ".join(f":{name}" for name in values)
    connection.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES ({binds})"), values)


@contextmanager
def migrated_to(tmp_path: Path, revision: str) -> Iterator[tuple[Config, sa.Engine]]:
    """A scratch database migrated up to `revision`, its Alembic config and an engine;
    dropped afterwards."""
    url = scratch_database(tmp_path)
    config = db.alembic_config(url)
    command.upgrade(config, revision)
    engine = sa.create_engine(url)
    try:
        yield config, engine
    finally:
        engine.dispose()
        if url.startswith("postgresql"):
            with sa.create_engine(os.environ["TEST_DATABASE_URL"]).begin() as connection:
                connection.execute(sa.text("DROP SCHEMA migration_0005 CASCADE"))


def insert_person(connection: sa.Connection, n: int) -> None:
    insert(connection, "person", id=n, id_number=f"43010219900307{n:03d}X", name=f"测试{n}",
           sex="male", ethnicity="汉族", birth_date=date(1990, 3, 7), hukou="x", session_epoch=0)


def test_the_migration_records_where_each_event_happened(tmp_path: Path):
    with migrated_to(tmp_path, "0010") as (config, engine):
        with engine.begin() as c:
            for n, district in enumerate(("天河区", "白云区", "海珠区"), start=1):
                insert(c, "address", id=n, district=district, line=f"广州市{district}测试路{n}号")
            for n in (1, 2):
                insert_person(c, n)
            # Permit 1 is in 白云区 now: it moved there from 天河区 on 1 October.
            # Permit 2 is in 海珠区, deregistered in November and objected to.
            for n, address_id in ((1, 2), (2, 3)):
                insert(c, "permit", id=n, person_id=n, address_id=address_id,
                       issuing_authority="广州市公安局", issue_date=date(2026, 1, 1),
                       valid_until=date(2027, 1, 1), continuity_start=date(2026, 1, 1),
                       is_current=True, registered_since=date(2026, 1, 1))
            insert(c, "registrationhistory", permit_id=1, from_address_id=1, to_address_id=2,
                   moved_on=date(2026, 9, 30), confirmed_at=at(10, 1))
            for n, (kind, permit_id, moment) in enumerate(
                [("endorse", 1, at(9, 1)), ("endorse", 1, at(11, 1)), ("deregister", 2, at(11, 5)),
                 ("objection", 2, at(11, 6)), ("move", 1, at(11, 10))], start=1
            ):
                insert(c, "case_record", id=n, reference=f"QZ2026110{n}ABCDEF", kind=kind,
                       permit_id=permit_id, applicant_id=permit_id, agent_id=permit_id,
                       outcome="x", details="{}", created_at=moment)
            for case_id, period in ((1, date(2026, 9, 1)), (2, date(2026, 11, 1))):
                insert(c, "endorsement", permit_id=1, period=period, new_valid_until=period,
                       continuity_start=date(2026, 1, 1), late=False, endorsed_on=period,
                       case_id=case_id)
            insert(c, "deregistration", id=1, permit_id=2, declarant_role="self", declarant_id=2,
                   reason="left_city", leave_date=date(2026, 11, 5), declared_at=at(11, 5), case_id=3)
            insert(c, "objection", deregistration_id=1, case_id=4, permit_id=2, statement="x",
                   status="pending", filed_at=at(11, 6))
            # Permit 1 asked to move on to 海珠区, and was refused.
            insert(c, "addresschange", case_id=5, permit_id=1, from_address_id=2, to_address_id=3,
                   moved_on=date(2026, 11, 9), housing="rented", state="refused",
                   submitted_at=at(11, 10), expires_at=at(11, 17), decided_at=at(11, 11))
        command.upgrade(config, "head")
        with engine.connect() as c:
            endorsed = c.execute(
                sa.text("SELECT endorsed_on, district FROM endorsement ORDER BY endorsed_on")
            ).all()
            others = [
                c.execute(sa.text(f"SELECT district FROM {table}")).scalar_one()
                for table in ("deregistration", "objection", "addresschange")
            ]
        # Before the move it was 天河区's, after it 白云区's.
        assert [district for _, district in endorsed] == ["天河区", "白云区"]
        # A deregistration and its objection where the permit was; a change where it goes.
        assert others == ["海珠区", "海珠区", "海珠区"]


def test_migration_0014_marks_the_permits_a_deregistration_names(tmp_path: Path):
    # Rosters read Permit.deregistered (SPEC 13): a register migrated with deregistrations
    # already recorded says so on their permits, and on no other.
    with migrated_to(tmp_path, "0013") as (config, engine):
        with engine.begin() as c:
            insert(c, "address", id=1, district="海珠区", line="广州市海珠区测试路1号")
            for n in (1, 2, 3):
                insert_person(c, n)
                insert(c, "permit", id=n, person_id=n, address_id=1, issuing_authority="广州市公安局",
                       issue_date=date(2026, 1, 1), valid_until=date(2027, 1, 1),
                       continuity_start=date(2026, 1, 1), is_current=True,
                       registered_since=date(2026, 1, 1), employer_id=None)
            for n in (2, 3):
                insert(c, "case_record", id=n, reference=f"ZX2026110{n}ABCDEF", kind="deregister",
                       permit_id=n, applicant_id=n, agent_id=n, outcome="deregistered",
                       details="{}", created_at=at(11, n))
                insert(c, "deregistration", id=n, permit_id=n, declarant_role="self", declarant_id=n,
                       reason="left_city", leave_date=date(2026, 11, n), declared_at=at(11, n),
                       case_id=n, district="海珠区")
        command.upgrade(config, "0014")
        with engine.connect() as c:
            flags = c.execute(sa.text("SELECT id, deregistered FROM permit ORDER BY id")).all()
        assert [(n, bool(flag)) for n, flag in flags] == [(1, False), (2, True), (3, True)]
