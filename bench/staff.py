"""The staff console at city scale (SPEC 13, issue 14): `/staff/stats` for the last 30 days
of the whole city, and a person page, at 1 thousand permits and again after growing the same
database to BENCH_STAFF_PERMITS (default 10 million) with seed-bulk's spread (one case for
about one holder in nine, over a year).

Requests go through the whole application in process (Flask's test client: routing, the
staff guard, the service's queries, the templates, compression), signed in as the demo's
刘所长 with password and TOTP. A bare page (GET /healthz) measured in the same run is the
baseline each figure is printed against. SQLite by default; BENCH_DATABASE_URL for
PostgreSQL (its schema is dropped and made again).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyotp
import sqlalchemy as sa
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parents[1]
TARGET = int(os.environ.get("BENCH_STAFF_PERMITS", "10000000"))
SMALL = 1_000
PERSON_ROUNDS = int(os.environ.get("BENCH_STAFF_PERSON_ROUNDS", "200"))
STATS_ROUNDS = int(os.environ.get("BENCH_STAFF_STATS_ROUNDS", "5"))
STATS_GOAL_SECONDS = 1.0
PERSON_GOAL_RATIO = 1.2


def timed(call: Callable[[], object], rounds: int) -> float:
    """Median seconds of `rounds` calls."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from epermit import bulk, clock, create_app, db, demo

    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{Path(tmp) / 'staff.db'}"
        if url.startswith("postgresql"):
            engine = sa.create_engine(url)
            with engine.begin() as connection:
                connection.execute(sa.text("DROP SCHEMA public CASCADE"))
                connection.execute(sa.text("CREATE SCHEMA public"))
            engine.dispose()
        os.environ["EPERMIT_INSTANCE"] = tmp
        app = create_app(
            {
                "DATABASE_URL": url,
                "SECRET_KEY": "bench",
                "SMS_BACKEND": "file",
                "SMS_OUTBOX": str(Path(tmp) / "sms.jsonl"),
                "RATELIMIT_ENABLED": False,
            }
        )
        db.upgrade(url)
        engine = db.engine_of(app)
        with app.app_context():
            today, now = clock.today(), clock.now()
        with db.session_scope(engine) as session:
            demo.seed(session, today, now)

        with engine.connect() as connection:
            first_bulk = int(connection.execute(sa.text("SELECT max(id) FROM person")).scalar_one()) + 1
        bulk.seed(engine, permits=SMALL, today=today, now=now)

        def bulk_people() -> list[int]:
            # Ids are dense: any number in the bulk range is a person (a holder, or a landlord
            # or operator without a permit, whom a supervisor may see as well).
            with engine.connect() as connection:
                last = int(connection.execute(sa.text("SELECT max(id) FROM person")).scalar_one())
            rng = random.Random(last)
            return [rng.randint(first_bulk, last) for _ in range(PERSON_ROUNDS)]

        def signed_in_client() -> FlaskClient:
            client = app.test_client()
            supervisor = demo.staff("刘所长")
            page = client.get("/staff/login").get_data(as_text=True)
            token = page.split('name="csrf_token" value="')[1].split('"')[0]
            answer = client.post(
                "/staff/login",
                data={"number": supervisor.number, "password": demo.STAFF_PASSWORD,
                      "csrf_token": token},
            )
            assert answer.status_code == 303, answer.get_data(as_text=True)
            # A code is taken once: wait for the next step if this one was used already.
            page = client.get("/staff/login/totp").get_data(as_text=True)
            token = page.split('name="csrf_token" value="')[1].split('"')[0]
            for _ in range(3):
                code = pyotp.TOTP(supervisor.totp_secret).now()
                answer = client.post(
                    "/staff/login/totp", data={"totp": code, "csrf_token": token}
                )
                if answer.status_code == 303:
                    return client
                time.sleep(31)
            raise RuntimeError("could not sign in as 刘所长")

        start = (today - timedelta(days=29)).isoformat()
        stats_url = f"/staff/stats?start={start}&end={today.isoformat()}&district="

        def measure(label: str) -> dict[str, float]:
            client = signed_in_client()
            people = bulk_people()
            picks = iter(random.Random(7).choices(people, k=PERSON_ROUNDS * 2))

            def person_page() -> None:
                answer = client.get(f"/staff/people/{next(picks)}")
                assert answer.status_code == 200, answer.status_code

            def stats_page() -> None:
                answer = client.get(stats_url)
                assert answer.status_code == 200, answer.status_code

            def bare() -> None:
                assert client.get("/healthz").status_code == 200

            timed(person_page, 10)  # warm caches and the page cache alike
            figures = {
                "bare": timed(bare, PERSON_ROUNDS),
                "person": timed(person_page, PERSON_ROUNDS),
                "stats": timed(stats_page, STATS_ROUNDS),
            }
            with engine.connect() as connection:
                permits = connection.execute(sa.text("SELECT count(*) FROM permit")).scalar()
                cases = connection.execute(sa.text("SELECT count(*) FROM case_record")).scalar()
            print(
                f"{label}: {permits:>11,d} permits, {cases:>9,d} cases:"
                f" bare {figures['bare'] * 1000:7.2f} ms,"
                f" person page {figures['person'] * 1000:7.2f} ms"
                f" ({figures['person'] / figures['bare']:.1f}x bare),"
                f" /staff/stats 30 days whole city {figures['stats'] * 1000:8.1f} ms"
            )
            return figures

        dialect = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        print(f"== Staff console (issue 14), {dialect}, medians, in process")
        small = measure("small")
        started = time.perf_counter()
        bulk.seed(engine, permits=TARGET - SMALL, today=today, now=now)
        if not url.startswith("postgresql"):
            with engine.begin() as connection:
                connection.execute(sa.text("ANALYZE"))
        else:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("ANALYZE"))
        print(f"grown by seed-bulk in {time.perf_counter() - started:.0f} s")
        large = measure("large")
        ratio = large["person"] / small["person"]
        print(
            f"person page large/small: {ratio:.2f}x (goal at most {PERSON_GOAL_RATIO}x:"
            f" {'met' if ratio <= PERSON_GOAL_RATIO else 'not met'})"
        )
        print(
            f"/staff/stats at {TARGET:,d} permits: {large['stats']:.3f} s (goal at most"
            f" {STATS_GOAL_SECONDS:.0f} s: {'met' if large['stats'] <= STATS_GOAL_SECONDS else 'not met'});"
            f" {large['stats'] / small['stats']:.1f}x its time at {SMALL:,d}"
        )


if __name__ == "__main__":
    main()
