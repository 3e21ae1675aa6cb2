"""The holder's side at city scale (SPEC 13, issue 13), BENCH_ONLY=holder.

One database grows from 1 thousand permits to BENCH_HOLDER_PERMITS (default 10 million,
written by epermit.bulk, the same spread as the other benchmarks); a second one stays at the
same 1 thousand as the baseline. Measured:
- `/activity` (first page and the page after it) for a few holders with cases, family
  links, verifications of their code and sign-ins, through the real app (test client,
  signed-in cookie), median per request; the big register also holds a verification and a
  sign-in for one permit in ten, so the per-person indexes are not trivially small. The
  two registers are measured in the same loop, request by request in turn, after the
  growth: on a shared machine the load minutes apart differs by more than any ratio, so a
  baseline taken before a growth of half an hour would measure the neighbours;
- the reminder ladder (services.reminders.send_due: claim and queue, committed; delivery
  drains the outbox afterwards at the gateway's pace and is not part of the run) at 1
  thousand and grown: the first run of a day, a second run the same hour (nothing to
  send), and the next day's run.
Figures at 1 thousand are the baselines; ratios are printed beside the larger figures.

BENCH_DATABASE_URL selects PostgreSQL (the schemas public and holder_small are dropped and
rebuilt); otherwise temporary SQLite files.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

PERMITS = int(os.environ.get("BENCH_HOLDER_PERMITS", "10000000"))
PROBES = 5  # holders whose /activity is fetched
# Requests per page and register: under a shared machine's load one request varies by
# half its time, so the median needs a few hundred to be steady to a few per cent.
ROUNDS = int(os.environ.get("BENCH_HOLDER_ROUNDS", "200"))
TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


SMALL_SCHEMA = "holder_small"


def fresh_database(tmp: str, name: str, small_schema: str = SMALL_SCHEMA) -> str:
    """An empty database: `big` in PostgreSQL's public schema, `small` in its own schema of
    the same database (through search_path), or a SQLite file each. bench/staff.py uses it
    too, with a schema of its own."""
    import sqlalchemy as sa

    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        schema = "public" if name == "big" else small_schema
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
        if name == "big":
            return url
        return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    return f"sqlite:///{Path(tmp) / name}.db"


def _probe_people(engine, count: int) -> list[int]:
    """Holders who made a case or had one made (their activity has something of each kind),
    and who are on a family list: the busiest kind of record there is."""
    import sqlalchemy as sa

    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT DISTINCT c.applicant_id FROM case_record c"
                " JOIN familylink f ON f.person_id = c.applicant_id"
                " ORDER BY c.applicant_id LIMIT :n"
            ),
            {"n": count},
        ).all()
        if len(rows) < count:
            rows = connection.execute(
                sa.text("SELECT applicant_id FROM case_record ORDER BY id LIMIT :n"), {"n": count}
            ).all()
    return [row[0] for row in rows]


def _add_activity(engine, people: list[int], *, background_every: int | None) -> None:
    """Checks of the probes' codes and their sign-ins (two pages' worth and more), and for
    the big register one check and one sign-in for every `background_every`-th permit."""
    import sqlalchemy as sa

    with engine.begin() as connection:
        for person_id in people:
            permit_id = connection.execute(
                sa.text("SELECT id FROM permit WHERE person_id = :p"), {"p": person_id}
            ).scalar_one()
            connection.execute(
                sa.text(
                    "INSERT INTO verification_event (permit_id, person_id, checked_at)"
                    " VALUES (:m, :p, :t)"
                ),
                [
                    {"m": permit_id, "p": person_id, "t": NOW - timedelta(hours=n)}
                    for n in range(60)
                ],
            )
            connection.execute(
                sa.text(
                    "INSERT INTO sign_in (person_id, signed_in_at, device) VALUES (:p, :t, :d)"
                ),
                [
                    {
                        "p": person_id,
                        "t": NOW - timedelta(hours=n, minutes=30),
                        "d": "android_phone",
                    }
                    for n in range(30)
                ],
            )
        if background_every:
            connection.execute(
                sa.text(
                    "INSERT INTO verification_event (permit_id, person_id, checked_at)"
                    " SELECT id, person_id, :t FROM permit WHERE id % :k = 0"
                ),
                {"t": NOW - timedelta(days=3), "k": background_every},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO sign_in (person_id, signed_in_at, device)"
                    " SELECT person_id, :t, 'iphone' FROM permit WHERE id % :k = 0"
                ),
                {"t": NOW - timedelta(days=2), "k": background_every},
            )


def _activity_clients(url: str, people: list[int]) -> list[tuple[Any, str]]:
    """A signed-in test client per probe of this register, and its second page's cursor."""
    from epermit import create_app

    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "SMS_BACKEND": "log",
            "RATELIMIT_STORAGE_URI": "memory://",
            "CLOCK": lambda: NOW,
            "PUBLIC_BASE_URL": "http://localhost",
        }
    )
    clients = []
    for person_id in people:
        client = app.test_client()
        with client.session_transaction() as session:
            session.update(person_id=person_id, epoch=0, seen=NOW.timestamp())
        html = client.get("/activity").get_data(as_text=True)
        assert "办理与核验记录" in html and "更早的记录" in html, html[:500]
        clients.append((client, html.split("/activity?before=")[1].split('"')[0]))
    return clients


def _time_activity(
    small: list[tuple[Any, str]], big: list[tuple[Any, str]]
) -> dict[str, tuple[float, float]]:
    """Median seconds per GET /activity (the first page, and the page after it) of each
    register, the two taking turns request by request (which goes first alternates)."""
    from epermit.services import activity

    times: dict[str, tuple[list[float], list[float]]] = {
        "small": ([], []),
        "big": ([], []),
    }

    def fetch(which: str, client: Any, cursor: str) -> None:
        first, second = times[which]
        started = time.perf_counter()
        response = client.get("/activity")
        first.append(time.perf_counter() - started)
        assert response.status_code == 200
        started = time.perf_counter()
        response = client.get(f"/activity?before={cursor}")
        second.append(time.perf_counter() - started)
        assert response.status_code == 200

    for turn in range(ROUNDS // len(big) + 1):
        for (small_client, small_cursor), (big_client, big_cursor) in zip(small, big, strict=True):
            pair = [("small", small_client, small_cursor), ("big", big_client, big_cursor)]
            for which, client, cursor in pair if turn % 2 else reversed(pair):
                fetch(which, client, cursor)
    assert activity.PAGE_SIZE == 20
    for which, samples in times.items():
        for page, values in zip(("first", "next"), samples, strict=True):
            low, _, high = statistics.quantiles(values, n=4)
            print(
                f"  /activity {page} page, {which} register: {len(values)} requests,"
                f" quartiles {low * 1e3:.1f}-{high * 1e3:.1f} ms"
            )
    return {
        which: (statistics.median(first), statistics.median(second))
        for which, (first, second) in times.items()
    }


def _time_reminders(engine, today: date, now: datetime) -> tuple[float, int]:
    from epermit import db
    from epermit.services import reminders

    started = time.perf_counter()
    with db.session_scope(engine) as session:
        count = reminders.send_due(session, today=today, now=now)
    return time.perf_counter() - started, count


def holder_benchmark() -> None:
    import sqlalchemy as sa

    from epermit import bulk, db

    with tempfile.TemporaryDirectory() as tmp:
        urls = {name: fresh_database(tmp, name) for name in ("small", "big")}
        engines = {}
        for name, url in urls.items():
            db.upgrade(url)
            engines[name] = db.make_engine(url)
            # Both start as the same thousand holders (bulk is deterministic).
            bulk.seed(engines[name], permits=1_000, today=TODAY, now=NOW)
        engine = engines["big"]
        name = engine.dialect.name
        runs: dict[int, tuple[tuple[float, int], ...]] = {}
        people: dict[str, list[int]] = {}

        def measure_reminders(size: int) -> None:
            with engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
            day = _time_reminders(engine, TODAY, NOW)
            again = _time_reminders(engine, TODAY, NOW + timedelta(hours=1))
            next_day = _time_reminders(engine, TODAY + timedelta(days=1), NOW + timedelta(days=1))
            runs[size] = (day, again, next_day)

        measure_reminders(1_000)
        started = time.perf_counter()
        bulk.seed(engine, permits=PERMITS - 1_000, today=TODAY, now=NOW)
        grown = time.perf_counter() - started
        with engine.connect() as connection:
            stored = connection.execute(sa.text("SELECT count(*) FROM permit")).scalar_one()
            cases = connection.execute(sa.text("SELECT count(*) FROM case_record")).scalar_one()
        for which, background_every in (("small", None), ("big", 10)):
            people[which] = _probe_people(engines[which], PROBES)
            _add_activity(engines[which], people[which], background_every=background_every)
        assert people["small"] == people["big"], people
        with engines["small"].begin() as connection:
            connection.exec_driver_sql("ANALYZE")
        # The 1 thousand's rungs are sent; the grown register's first run is the real one.
        measure_reminders(stored)
        pages = _time_activity(
            _activity_clients(urls["small"], people["small"]),
            _activity_clients(urls["big"], people["big"]),
        )

        print(
            f"== Holder's side ({name}): {stored:,d} permits, {cases:,d} cases,"
            f" grown in {grown:.0f} s"
        )
        (small_first, small_next), (large_first, large_next) = pages["small"], pages["big"]
        print(
            f"/activity first page   {1_000:>10,d}: {small_first * 1e3:7.1f} ms"
            f"   {stored:>10,d}: {large_first * 1e3:7.1f} ms   ratio {large_first / small_first:.2f}x"
            " (goal <= 1.2x; the two registers in turn, same loop)"
        )
        print(
            f"/activity next page    {1_000:>10,d}: {small_next * 1e3:7.1f} ms"
            f"   {stored:>10,d}: {large_next * 1e3:7.1f} ms   ratio {large_next / small_next:.2f}x"
            " (goal <= 1.2x)"
        )
        labels = ("first run of the day", "again an hour later", "next day's run")
        for label, small, large in zip(labels, runs[1_000], runs[stored], strict=True):
            (small_s, small_n), (large_s, large_n) = small, large
            print(
                f"reminders, {label:<22} {1_000:>10,d}: {small_s:6.2f} s ({small_n:,d} rungs)"
                f"   {stored:>10,d}: {large_s:6.2f} s ({large_n:,d} rungs) (goal <= 60 s)"
            )
        for engine in engines.values():
            engine.dispose()
        if name == "postgresql":
            # The baseline's schema is the bench's own; the big register stays for a look.
            with engines["small"].begin() as connection:
                connection.execute(sa.text(f"DROP SCHEMA {SMALL_SCHEMA} CASCADE"))


if __name__ == "__main__":
    holder_benchmark()
