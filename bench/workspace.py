"""The workspace at scale (SPEC 13): a roster page with 1 thousand and with many permits in
the database (at most 1.2x), and a batch of 1,000 departures (at most 10 s), on SQLite and,
with BENCH_DATABASE_URL, on PostgreSQL.

Each request goes through the Flask test client in this process: the figures are server time
per request, rendering and the audit event's commit included. The database holds the demo
world and an employer with 1,000 people (the roster measured); it then grows to
BENCH_WORKSPACE_PERMITS permits (default 10 million) with `flask --app wsgi seed-bulk`, and
the same pages are measured again; then the employer reports all 1,000 as gone: upload of a 1,000-row CSV, the
check page, and the submission (1,000 deregistration cases and SMS).
"""

from __future__ import annotations

import io
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PERMITS = int(os.environ.get("BENCH_WORKSPACE_PERMITS", "10000000"))
ROUNDS = int(os.environ.get("BENCH_WORKSPACE_ROUNDS", "200"))
REUSE = os.environ.get("BENCH_WORKSPACE_REUSE", "") == "1"
ROSTER_SIZE = 1_000
BATCH_SIZE = 1_000
CHINESE_DIGITS = "〇一二三四五六七八九"
BENCH_USCC = "91440101MA5BENCH0X"
BASELINE_SCHEMA = "bench_baseline"


def _id_number(n: int) -> str:
    from stdnum.cn import ric

    body = f"4401{n // 1000 % 100:02d}{1960 + n % 40:04d}{1 + n // 100000 % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def bench_uscc() -> str:
    from stdnum.cn import uscc

    return BENCH_USCC[:17] + uscc.calc_check_digit(BENCH_USCC[:17])


def seed_employer(engine: sa.Engine, today: date) -> int:
    """An employer with ROSTER_SIZE people at 100 addresses, and its operator; its id."""
    with engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO person (id_number, name, sex, ethnicity, birth_date, hukou, phone, session_epoch)"
                " VALUES ('440106198001010011', '钱经理', 'male', '汉族', '1980-01-01', '广东省广州市', '13700000000', 0)"
            )
        )
        code = bench_uscc()
        org = c.execute(
            sa.text(
                "INSERT INTO organisation (name, uscc, kind) VALUES ('广州测试电子厂', :u, 'employer') RETURNING id"
            ),
            {"u": code},
        ).scalar_one()
        c.execute(
            sa.text(
                "INSERT INTO orgoperator (organisation_id, person_id) SELECT :o, id FROM person"
                " WHERE id_number = '440106198001010011'"
            ),
            {"o": org},
        )
        c.execute(
            sa.text("INSERT INTO address (district, line) VALUES ('黄埔区', :l)"),
            [{"l": f"广州市黄埔区测试电子厂宿舍{n}栋"} for n in range(100)],
        )
        first_address = c.execute(
            sa.text("SELECT min(id) FROM address WHERE line LIKE '广州市黄埔区测试电子厂宿舍%'")
        ).scalar_one()
        people: list[dict[str, str]] = []
        seen: set[str] = set()
        n = 0
        while len(people) < ROSTER_SIZE:
            number = _id_number(n)
            n += 1
            if number in seen:
                continue
            seen.add(number)
            name = "工人" + "".join(CHINESE_DIGITS[int(d)] for d in str(len(people)))
            people.append({"i": number, "n": name, "p": f"137{len(people) + 1:08d}"})
        c.execute(
            sa.text(
                "INSERT INTO person (id_number, name, sex, ethnicity, birth_date, hukou, phone, session_epoch)"
                " VALUES (:i, :n, 'male', '汉族', '1990-01-01', '广东省', :p, 0)"
            ),
            people,
        )
        issued = today - timedelta(days=200)
        c.execute(
            sa.text(
                "INSERT INTO permit (person_id, address_id, issuing_authority, issue_date, valid_until,"
                " continuity_start, registered_since, employer_id, is_current)"
                " SELECT id, :a + (id % 100), '广州市公安局黄埔分局', :i, :v, :i, :i, :o, true FROM person"
                " WHERE phone LIKE '137%' AND phone <> '13700000000'"
            ),
            {"a": first_address, "i": issued, "v": issued + timedelta(days=365), "o": org},
        )
    return org


def grown_already(url: str) -> bool:
    """Whether the database's public schema holds the bench's employer and `PERMITS` permits
    (a register grown by an earlier run, kept with BENCH_WORKSPACE_REUSE=1)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            if c.execute(sa.text("SELECT to_regclass('public.permit')")).scalar() is None:
                return False
            employer = c.execute(
                sa.text("SELECT id FROM public.organisation WHERE uscc = :u"), {"u": bench_uscc()}
            ).scalar()
            permits = c.execute(sa.text("SELECT count(*) FROM public.permit")).scalar_one()
        return employer is not None and permits >= PERMITS
    finally:
        engine.dispose()


def undo_batches(engine: sa.Engine, org: int) -> None:
    """Put the employer's people back on its roster: an earlier run's batch deregistered all
    of them. Its batches, deregistrations and their cases are deleted (their audit events and
    delivered SMS stay, a few thousand rows beside millions)."""
    permits = "SELECT id FROM permit WHERE employer_id = :o"
    operator = "SELECT person_id FROM orgoperator WHERE organisation_id = :o"
    with engine.begin() as c:
        for statement in (
            f"DELETE FROM departureentry WHERE batch_id IN"
            f" (SELECT id FROM departurebatch WHERE owner_id IN ({operator}))",
            f"DELETE FROM departurebatch WHERE owner_id IN ({operator})",
            f"DELETE FROM deregistration WHERE permit_id IN ({permits})",
            f"DELETE FROM case_record WHERE kind = 'deregister' AND permit_id IN ({permits})",
            "UPDATE permit SET deregistered = FALSE WHERE employer_id = :o AND deregistered",
        ):
            c.execute(sa.text(statement), {"o": org})
    # As after seed-bulk: the deleted rows' index entries gone, the statistics up to date.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        for table in ("deregistration", "case_record", "departurebatch", "departureentry", "permit"):
            c.execute(sa.text(f"VACUUM (ANALYZE) {table}"))


def grow(url: str, total: int) -> None:
    """Grow to `total` permits with the app's own generator (`flask --app wsgi seed-bulk`,
    set-based, with a city's spread of flats, dormitories and employers)."""
    engine = sa.create_engine(url)
    with engine.connect() as c:
        missing = total - c.execute(sa.text("SELECT count(*) FROM permit")).scalar_one()
    engine.dispose()
    if missing > 0:
        subprocess.run(
            [str(VENV_BIN / "flask"), "--app", "wsgi", "seed-bulk", "--permits", str(missing)],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": url},
            check=True,
            capture_output=True,
        )


def request_times(requests: list[Callable[[], object]], rounds: int = ROUNDS) -> list[tuple[float, float]]:
    """For each request, the lowest wall time of the rounds (the round least disturbed by
    whatever else the machine runs) and the median CPU time of this process. The requests
    take turns within each round, in an order that alternates, so that the baseline and the
    grown database are measured under the same load."""
    for _ in range(5):
        for request in requests:
            request()
    walls: list[list[float]] = [[] for _ in requests]
    cpus: list[list[float]] = [[] for _ in requests]
    for n in range(rounds):
        order = list(enumerate(requests))
        for i, request in order if n % 2 == 0 else reversed(order):
            started, cpu = time.perf_counter(), time.process_time()
            request()
            walls[i].append(time.perf_counter() - started)
            cpus[i].append(time.process_time() - cpu)
    return [(min(w), statistics.median(c)) for w, c in zip(walls, cpus, strict=True)]


@dataclass
class World:
    """The demo world and the bench's employer in one database, and a signed-in client."""

    url: str
    app: Any
    engine: sa.Engine
    org: int
    client: Any
    last4: str

    def total(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(sa.text("SELECT count(*) FROM permit")).scalar_one())


def build_world(url: str, tmp: Path, name: str, *, reuse: bool = False) -> World:
    """The world at `url`, seeded; with `reuse`, the one seeded there before (its batch
    undone)."""
    from epermit import clock, create_app, db, demo

    db.upgrade(url)
    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "SMS_BACKEND": "file",
            "SMS_OUTBOX": str(tmp / f"{name}-outbox.jsonl"),
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
            # As in production: a request commits its SMS to the outbox and does not wait
            # for the gateway (the file backend's default would wait up to 10 s). The
            # delivery of the batch's SMS is timed on its own below.
            "SMS_DELIVERY_WAIT": 0,
        }
    )
    engine = db.engine_of(app)
    if reuse:
        with engine.connect() as c:
            org = c.execute(
                sa.text("SELECT id FROM organisation WHERE uscc = :u"), {"u": bench_uscc()}
            ).scalar_one()
        undo_batches(engine, org)
    else:
        with db.session_scope(engine) as session, app.app_context():
            demo.seed(session, clock.today(), clock.now())
        org = seed_employer(engine, date.today())
    with engine.connect() as c:
        operator = c.execute(sa.text("SELECT id FROM person WHERE phone = '13700000000'")).scalar_one()
        some = c.execute(sa.text("SELECT id_number FROM person WHERE phone = '13700000500'")).scalar_one()
    client = app.test_client()
    with client.session_transaction() as s:
        s.update({"person_id": operator, "epoch": 0, "seen": time.time()})
    return World(url, app, engine, org, client, some[-4:])


def measure_rosters(worlds: list[World]) -> dict[str, list[tuple[float, float]]]:
    """Each roster page in each world, the worlds taking turns request by request."""

    def get(world: World, what: str) -> Callable[[], object]:
        url = f"/workspace/org/{world.org}{what.format(last4=world.last4)}"

        def run() -> object:
            answer = world.client.get(url)
            assert answer.status_code == 200, (url, answer.status_code)
            return answer

        return run

    for world in worlds:
        with world.client.session_transaction() as s:
            s["seen"] = time.time()
    steps = {
        "roster, page 1": "",
        "roster, page 20": "?page=20",
        "roster, search by last 4": "?q={last4}",
    }
    return {step: request_times([get(w, what) for w in worlds]) for step, what in steps.items()}


def run_on(url: str, kind: str) -> None:
    today = date.today()
    reuse = False
    with tempfile.TemporaryDirectory() as tmp:
        if url.startswith("postgresql"):
            # The baseline lives beside the grown register, in a schema of its own of the
            # same database (same server, same buffers): both are measured side by side.
            baseline_url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{BASELINE_SCHEMA}"
            reuse = REUSE and grown_already(url)
            if REUSE and not reuse:
                print(f"   (BENCH_WORKSPACE_REUSE: no grown register of {PERMITS:,d} permits here; seeding one)")
            with sa.create_engine(url).begin() as c:
                if not reuse:
                    c.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
                c.execute(sa.text(f"DROP SCHEMA IF EXISTS {BASELINE_SCHEMA} CASCADE"))
                c.execute(sa.text(f"CREATE SCHEMA {BASELINE_SCHEMA}"))
        else:
            url = f"sqlite:///{Path(tmp) / 'workspace.db'}"
            baseline_url = f"sqlite:///{Path(tmp) / 'baseline.db'}"
        # One access-log line per request would be measured with the request and bury the
        # figures.
        logging.getLogger("epermit.access").setLevel(logging.WARNING)
        baseline = build_world(baseline_url, Path(tmp), "baseline")
        grown = build_world(url, Path(tmp), "grown", reuse=reuse)
        started = time.perf_counter()
        if not reuse:
            grow(url, PERMITS)
        grown_in = time.perf_counter() - started
        # The grown register's statistics are taken by seed-bulk (ANALYZE); the baseline's
        # here, so that both are planned knowing their tables. Without them SQLite planned
        # the small one's roster blind, twice as slow as with them (and the ratio flattered
        # the grown one); PostgreSQL's autovacuum takes them within a minute or so, which a
        # fresh run's growth waited for and a reused register does not.
        with baseline.engine.begin() as c:
            c.execute(sa.text("ANALYZE"))
        small_total, large_total = baseline.total(), grown.total()
        measured = measure_rosters([baseline, grown])
        print(
            f"== Workspace, {kind}: a roster of {ROSTER_SIZE:,d} people, 50 a page; per request the"
            f" lowest wall time of {ROUNDS} and the median CPU time, the two databases taking turns"
        )
        if reuse:
            print(f"   {large_total:,d} permits grown by an earlier run (BENCH_WORKSPACE_REUSE=1)")
        else:
            print(f"   grown from {small_total:,d} to {large_total:,d} permits in {grown_in:.0f} s (seed-bulk)")
        print(f"   {'permits in the database':28s}{small_total:>20,d}{large_total:>22,d}   ratio (wall, CPU)")
        for step, ((wall_s, cpu_s), (wall_l, cpu_l)) in measured.items():
            ratio = wall_l / wall_s
            verdict = "ok" if ratio <= 1.2 else "over 1.2x"
            print(
                f"   {step:28s}{wall_s * 1000:7.1f} ms ({cpu_s * 1000:5.1f} CPU){wall_l * 1000:9.1f} ms ({cpu_l * 1000:5.1f} CPU)"
                f"   {ratio:4.2f}x, {cpu_l / cpu_s:4.2f}x  {verdict}"
            )
        baseline.engine.dispose()
        app, engine, org, client = grown.app, grown.engine, grown.org, grown.client

        # The batch: all 1,000 reported gone in one file, at the larger size.
        with engine.connect() as c:
            rows = c.execute(
                sa.text(
                    "SELECT p.id_number, p.name FROM person p JOIN permit m ON m.person_id = p.id"
                    " WHERE m.employer_id = :o ORDER BY p.id LIMIT :n"
                ),
                {"o": org, "n": BATCH_SIZE},
            ).all()
        with engine.connect() as c:
            # A reused register holds an earlier run's SMS: count this batch's only.
            sms_before = c.execute(sa.text("SELECT coalesce(max(id), 0) FROM smsoutbox")).scalar_one()
        leave = (today - timedelta(days=1)).isoformat()
        text = "公民身份号码,姓名,离开日期\r\n" + "".join(f"{i},{n},{leave}\r\n" for i, n in rows)
        timings: dict[str, tuple[float, float]] = {}
        with client.session_transaction() as s:
            s["seen"] = time.time()

        def timed(step: str, request: Callable[[], Any]) -> Any:
            started, cpu = time.perf_counter(), time.process_time()
            answer = request()
            timings[step] = (time.perf_counter() - started, time.process_time() - cpu)
            return answer

        answer = timed(
            "upload and check 1,000 rows",
            lambda: client.post(
                f"/workspace/org/{org}/upload",
                data={"file": (io.BytesIO(text.encode("gbk")), "离职.csv")},
                content_type="multipart/form-data",
            ),
        )
        assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
        check = answer.headers["Location"]
        page = timed("check page listing 1,000", lambda: client.get(check))
        assert page.status_code == 200
        answer = timed("submit: 1,000 cases and SMS", lambda: client.post(check, data={"declaration": "y"}))
        assert answer.status_code == 303
        # The deliverer woken by the submission sends the 1,000 SMS in the background; wait for
        # its pass (not part of the batch's time: no request waits for it).
        from epermit import delivery

        started = time.perf_counter()
        deliverer = delivery.of(app)
        deliverer.wait(deliverer.wake(), 600)
        delivered_in = time.perf_counter() - started
        with engine.connect() as c:
            sent = c.execute(
                sa.text("SELECT count(*) FROM smsoutbox WHERE delivered_at IS NOT NULL AND id > :n"),
                {"n": sms_before},
            ).scalar_one()
        deliverer.stop()
        with engine.connect() as c:
            made = c.execute(
                sa.text("SELECT count(*) FROM deregistration WHERE organisation_id = :o"), {"o": org}
            ).scalar_one()
        assert made == BATCH_SIZE, made
        print(f"   batch of {BATCH_SIZE:,d} departures at {large_total:,d} permits ({made:,d} cases made):")
        for step, (seconds, cpu) in timings.items():
            print(f"   {step:34s}{seconds:7.2f} s  ({cpu:6.2f} s CPU of this process)")
        total = sum(wall for wall, _ in timings.values())
        cpu_total = sum(cpu for _, cpu in timings.values())
        print(
            f"   whole batch {total:.2f} s, {cpu_total:.2f} s CPU of this process"
            f" (goal: at most 10 s: {'met' if total <= 10 else 'not met'})"
        )
        print(
            f"   then the background deliverer handed the SMS to the gateway (file): {sent:,d} sent"
            f" {delivered_in:.2f} s after the submission answered"
        )
        engine.dispose()
        if url.startswith("postgresql"):
            with sa.create_engine(url).begin() as c:
                c.execute(sa.text(f"DROP SCHEMA IF EXISTS {BASELINE_SCHEMA} CASCADE"))


def workspace_benchmark() -> None:
    # BENCH_WORKSPACE_ON=postgresql (or sqlite) runs one database only.
    on = os.environ.get("BENCH_WORKSPACE_ON", "sqlite,postgresql").split(",")
    if "sqlite" in on:
        run_on("sqlite", "SQLite")
    url = os.environ.get("BENCH_DATABASE_URL")
    if "postgresql" in on and url and url.startswith("postgresql"):
        run_on(url, "PostgreSQL")
    elif "postgresql" in on:
        print("   (PostgreSQL: set BENCH_DATABASE_URL=postgresql+psycopg://… to run it there too)")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    workspace_benchmark()
