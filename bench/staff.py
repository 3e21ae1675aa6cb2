"""The staff console at city scale (SPEC 13, issue 14): `/staff/stats` for the last 30 days
of the whole city, and the person page, at 1 thousand permits and at BENCH_STAFF_PERMITS
(default 10 million) with seed-bulk's spread (one case for about one holder in nine, over a
year).

Two registers: one grows from 1 thousand to the target, the other stays at the same 1
thousand (a SQLite file each; on PostgreSQL the public schema and a schema of its own,
staff_small, in the same database, both dropped and rebuilt). After the growth both are
measured in the same loop, request by request in turn (which goes first alternates): on a
shared machine the load minutes apart differs by more than any ratio, so a baseline taken
before a growth of a quarter of an hour would measure the neighbours.

Requests go through the whole application in process (Flask's test client: routing, the
staff guard, the service's queries, the templates, compression), signed in as the demo's
刘所长 with password and TOTP. The people are drawn at random from each register's bulk
range; each is fetched once as a warm-up (those first, cold fetches are printed apart: at 10
million a random person's rows come from disk) and then the measured rounds go over the same
people, so both registers are measured warm alike. A bare page (GET /healthz) in the same
loop is the baseline the person page is printed against.

The bare page is served by an app of its own, with its own engine and connection, so that
both registers' connections see only their own pages. It used to be the big register's
app: on PostgreSQL its read-only transaction ends in ROLLBACK, and psycopg's rollback()
forgets every statement it prepared on that connection (it sends DEALLOCATE ALL and counts
each query's five executions before preparing again from zero), so the big register's
person page was parsed and planned afresh statement by statement, at every request, while
the baseline's, whose pages all end in COMMIT, ran prepared: about 2-4 ms more a page, the
whole of the 1.18-1.32x measured that way. Once both registers were treated alike, the
page's statements at 10 million took within 0.1 ms of their time at 1 thousand prepared and
0.2-0.4 ms more unprepared; with the bare page on the small register's app instead, the
small register was the slower by as much.

BENCH_STAFF_REUSE=1 (PostgreSQL only) keeps a register grown by an earlier run: when the
public schema holds what a fresh run would grow (the demo's permits and BENCH_STAFF_PERMITS
bulk ones, seeded from the same demo as the baseline), the demo seed and the growth are
skipped, and the staff audit events earlier runs wrote (sign-ins, views: the bulk seed
writes none) are deleted and the table vacuumed, so that its people show the same history
as the fresh baseline's; the baseline (staff_small) is rebuilt every time. Unset, both
registers are built afresh, as always. The reused register was laid out around the day it
was grown: reused days later, a few more of its permits are due or lapsed.

BENCH_STAFF_PREPARED=0 (PostgreSQL) turns psycopg's prepared statements off for both
registers, as they often are in a served app, whose pooled connections also serve read-only
requests, each ending in a ROLLBACK that discards them (see above): every statement is then
parsed and planned at every request. Both registers are measured alike either way; only the
absolute times differ.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import sqlalchemy as sa
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parents[1]
TARGET = int(os.environ.get("BENCH_STAFF_PERMITS", "10000000"))
SMALL = 1_000
PERSON_ROUNDS = int(os.environ.get("BENCH_STAFF_PERSON_ROUNDS", "300"))
PEOPLE = int(os.environ.get("BENCH_STAFF_PEOPLE", "50"))  # people drawn per register
SMALL_SCHEMA = "staff_small"
STATS_ROUNDS = int(os.environ.get("BENCH_STAFF_STATS_ROUNDS", "20"))
STATS_GOAL_SECONDS = 1.0
PERSON_GOAL_RATIO = 1.2
REUSE = os.environ.get("BENCH_STAFF_REUSE", "") not in ("", "0")
PREPARED = os.environ.get("BENCH_STAFF_PREPARED", "1") != "0"


def once(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def in_turn(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds of each call, `rounds` times, the calls taking turns; the order reverses
    every round so that neither register is always first."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls.items())
    for n in range(rounds):
        for name, call in order if n % 2 == 0 else reversed(order):
            samples[name].append(once(call))
    return samples


def summary(samples: list[float]) -> str:
    low, median, high = statistics.quantiles(samples, n=4)
    return f"median {median * 1e3:.1f} ms (quartiles {low * 1e3:.1f}-{high * 1e3:.1f}, {len(samples)} requests)"


class Register:
    """One database, the app on it, a supervisor's client and the people it shows."""

    def __init__(
        self, name: str, url: str, tmp: str, *, reuse_from: Register | None = None
    ) -> None:
        """A register seeded with the demo and SMALL bulk permits, or one an earlier run
        grew from the same demo as `reuse_from`, its staff audit events deleted."""
        from epermit import bulk, clock, create_app, db, demo

        self.name = name
        self.reused = reuse_from is not None
        self.app = create_app(
            {
                "DATABASE_URL": url,
                "SECRET_KEY": "bench",
                "SMS_BACKEND": "file",
                "SMS_OUTBOX": str(Path(tmp) / f"{name}-sms.jsonl"),
                "RATELIMIT_ENABLED": False,
            }
        )
        db.upgrade(url)
        self.engine = db.engine_of(self.app)
        if not PREPARED and self.engine.dialect.name == "postgresql":

            @sa.event.listens_for(self.engine, "connect")
            def _unprepared(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.prepare_threshold = None

            self.engine.dispose()  # any connection made before goes

        with self.app.app_context():
            self.today, self.now = clock.today(), clock.now()
        self.client: FlaskClient | None = None
        self.first_bulk: int  # the first person the bulk seed made
        if reuse_from is not None:
            # The same demo seeded first: its people and the first bulk ones are the same.
            self.first_bulk = reuse_from.first_bulk
            for person in (self.first_bulk - 1, self.first_bulk):
                query = f"SELECT id_number FROM person WHERE id = {person}"
                assert self.value(query) == reuse_from.value(query), "not the same demo"
            with self.engine.begin() as connection:
                connection.execute(sa.text("DELETE FROM auditevent WHERE action LIKE 'staff%'"))
            with self.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            ) as connection:
                connection.execute(sa.text("VACUUM (ANALYZE) auditevent"))
            return
        with db.session_scope(self.engine) as session:
            demo.seed(session, self.today, self.now)
        self.first_bulk = self.scalar("SELECT max(id) FROM person") + 1
        bulk.seed(self.engine, permits=SMALL, today=self.today, now=self.now)

    def value(self, query: str) -> object:
        with self.engine.connect() as connection:
            return connection.execute(sa.text(query)).scalar_one()

    def scalar(self, query: str) -> int:
        return int(self.value(query))  # type: ignore[call-overload]

    def analyze(self) -> None:
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("ANALYZE"))

    def people(self, count: int) -> list[int]:
        # Ids are dense: any number in the bulk range is a person (a holder, or a landlord
        # or operator without a permit, whom a supervisor may see as well).
        last = self.scalar("SELECT max(id) FROM person")
        rng = random.Random(f"{self.name}-{last}")
        return rng.sample(range(self.first_bulk, last + 1), count)

    def sign_in(self) -> FlaskClient:
        from epermit import demo

        client = self.app.test_client()
        supervisor = demo.staff("刘所长")
        page = client.get("/staff/login").get_data(as_text=True)
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        answer = client.post(
            "/staff/login",
            data={
                "number": supervisor.number,
                "password": demo.STAFF_PASSWORD,
                "csrf_token": token,
            },
        )
        assert answer.status_code == 303, answer.get_data(as_text=True)
        # A code is taken once: wait for the next step if this one was used already.
        page = client.get("/staff/login/totp").get_data(as_text=True)
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        for _ in range(3):
            code = pyotp.TOTP(supervisor.totp_secret).now()
            answer = client.post("/staff/login/totp", data={"totp": code, "csrf_token": token})
            if answer.status_code == 303:
                self.client = client
                return client
            time.sleep(31)
        raise RuntimeError("could not sign in as 刘所长")

    def get(self, url: str) -> Callable[[], None]:
        def call() -> None:
            assert self.client is not None
            answer = self.client.get(url)
            assert answer.status_code == 200, (url, answer.status_code)

        return call

    def person_pages(self, people: list[int]) -> Callable[[], None]:
        """Each call fetches the next person's page, round and round."""
        cycle = itertools.cycle(people)

        def call() -> None:
            self.get(f"/staff/people/{next(cycle)}")()

        return call


class Bare:
    """An app of its own on a register's database, for the bare page: its own engine, so
    its connection is neither register's."""

    def __init__(self, url: str, tmp: str) -> None:
        from epermit import create_app, db

        self.app = create_app(
            {
                "DATABASE_URL": url,
                "SECRET_KEY": "bench",
                "SMS_BACKEND": "file",
                "SMS_OUTBOX": str(Path(tmp) / "bare-sms.jsonl"),
                "RATELIMIT_ENABLED": False,
            }
        )
        self.engine = db.engine_of(self.app)
        self.client = self.app.test_client()

    def get(self, url: str) -> Callable[[], None]:
        def call() -> None:
            answer = self.client.get(url)
            assert answer.status_code == 200, (url, answer.status_code)

        return call


def grown_already(url: str, permits: int) -> bool:
    """Whether the public schema holds a register of `permits` permits (BENCH_STAFF_REUSE)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if connection.execute(sa.text("SELECT to_regclass('public.permit')")).scalar() is None:
                return False
            stored = connection.execute(sa.text("SELECT count(*) FROM public.permit")).scalar()
    finally:
        engine.dispose()
    return stored == permits


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from bench.holder import fresh_database
    from epermit import bulk

    with tempfile.TemporaryDirectory() as tmp:
        small = Register("small", fresh_database(tmp, "small", SMALL_SCHEMA), tmp)
        # A fresh run's grown register holds the demo's permits and TARGET bulk ones.
        wanted = small.scalar("SELECT count(*) FROM permit") - SMALL + TARGET
        url = os.environ.get("BENCH_DATABASE_URL")
        if REUSE and url and grown_already(url, wanted):
            big_url = url
            big = Register("big", big_url, tmp, reuse_from=small)
        else:
            big_url = fresh_database(tmp, "big", SMALL_SCHEMA)
            big = Register("big", big_url, tmp)
        # One access-log line per request would be measured with the request and bury the
        # figures.
        logging.getLogger("epermit.access").setLevel(logging.WARNING)
        dialect = "PostgreSQL" if big.engine.dialect.name == "postgresql" else "SQLite"
        started = time.perf_counter()
        if not big.reused:
            bulk.seed(big.engine, permits=TARGET - SMALL, today=big.today, now=big.now)
        grown = time.perf_counter() - started
        small.analyze()
        big.analyze()
        for register in (small, big):
            register.sign_in()
        bare = Bare(big_url, tmp)
        today = big.today
        start = (today - timedelta(days=29)).isoformat()
        stats_url = f"/staff/stats?start={start}&end={today.isoformat()}&district="
        people = {register.name: register.people(PEOPLE) for register in (small, big)}
        # The first fetch of each person, in turn, is the warm-up; its times are the cold
        # figures (the rows of a random person of 10 million are rarely in memory).
        cold: dict[str, list[float]] = {"small": [], "big": []}
        for n, pair in enumerate(zip(people["small"], people["big"], strict=True)):
            turns = list(zip((small, big), pair, strict=True))
            for register, person in turns if n % 2 == 0 else reversed(turns):
                cold[register.name].append(once(register.get(f"/staff/people/{person}")))
        # The bare page goes between the two, so that each register follows itself as
        # often as the other does (small, bare, big, then big, bare, small): with the bare
        # page last, the small register would run twice in a row every other round, its
        # app's structures still in the processor's caches, and the big one never. It has
        # an app and a connection of its own (see the docstring: through a register's app,
        # its ROLLBACK would discard that register's prepared statements every round).
        persons = in_turn(
            {
                "small": small.person_pages(people["small"]),
                "bare": bare.get("/healthz"),
                "big": big.person_pages(people["big"]),
            },
            PERSON_ROUNDS,
        )
        stats = in_turn({"small": small.get(stats_url), "big": big.get(stats_url)}, STATS_ROUNDS)
        sizes = {
            register.name: (
                register.scalar("SELECT count(*) FROM permit"),
                register.scalar("SELECT count(*) FROM case_record"),
            )
            for register in (small, big)
        }
        print(
            f"== Staff console (issue 14), {dialect}, in process; a register of"
            f" {sizes['small'][0]:,d} permits and one grown to {sizes['big'][0]:,d}"
            f" {'by an earlier run (reused)' if big.reused else f'in {grown:.0f} s'},"
            f" measured in turn, request by request, {PEOPLE} random people of each"
        )
        for name in ("small", "big"):
            permits, cases = sizes[name]
            print(
                f"{permits:>11,d} permits, {cases:>9,d} cases: person page {summary(persons[name])};"
                f" first (cold) fetch {summary(cold[name])};"
                f" /staff/stats 30 days whole city {summary(stats[name])}"
            )
        print(f"bare page (/healthz) in the same loop: {summary(persons['bare'])}")
        ratio = statistics.median(persons["big"]) / statistics.median(persons["small"])
        print(
            f"person page {sizes['big'][0]:,d}/{sizes['small'][0]:,d}: {ratio:.2f}x of medians"
            f" over {len(persons['big'])} requests each"
            f"{'' if PREPARED else ', prepared statements off'} (goal at most {PERSON_GOAL_RATIO}x:"
            f" {'met' if ratio <= PERSON_GOAL_RATIO else 'not met'})"
        )
        large_stats = statistics.median(stats["big"])
        print(
            f"/staff/stats at {sizes['big'][0]:,d} permits: {large_stats:.3f} s (goal at most"
            f" {STATS_GOAL_SECONDS:.0f} s: {'met' if large_stats <= STATS_GOAL_SECONDS else 'not met'});"
            f" {large_stats / statistics.median(stats['small']):.1f}x its time at {SMALL:,d}"
        )
        for engine in (small.engine, big.engine, bare.engine):
            engine.dispose()
        if dialect == "PostgreSQL":
            # The baseline's schema is the bench's own; the big register stays for a look.
            with big.engine.begin() as connection:
                connection.execute(sa.text(f"DROP SCHEMA {SMALL_SCHEMA} CASCADE"))


if __name__ == "__main__":
    main()
