"""Whether `POST /login` takes as long for an unregistered number as for a registered one
(issue 9 item 6: the answer must not leak which numbers are registered, nor its timing).

    python bench/login_timing.py [SITE_DIR]   # SITE_DIR: another tree's site/ (e.g. main's)

Each request comes from a fresh browser (its own cookies) for a number asked once, so no
resend wait or cap changes what a request does; registered and unregistered numbers
alternate, so that load on the machine falls on both alike. Printed: the median of each, the
difference of medians, and the noise it must be judged against: the same difference between
two halves of the registered requests, and a bootstrap 95 % interval of the difference.
SQLite in a temporary folder, or BENCH_DATABASE_URL (PostgreSQL; its schema is replaced).
"""

from __future__ import annotations

import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PAIRS = int(os.environ.get("BENCH_LOGIN_PAIRS", "300"))
WARM_UP = 30


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def bootstrap_interval(known: list[float], unknown: list[float], rounds: int = 2000) -> tuple[
    float, float
]:
    rng = random.Random(9)
    diffs = sorted(
        statistics.median(rng.choices(known, k=len(known)))
        - statistics.median(rng.choices(unknown, k=len(unknown)))
        for _ in range(rounds)
    )
    return diffs[int(0.025 * rounds)] * 1000, diffs[int(0.975 * rounds)] * 1000


def main() -> None:
    if len(sys.argv) > 1:
        sys.path.insert(0, str(BENCH))
        from cpu import load_epermit  # type: ignore[import-not-found]  # bench/ is no package

        load_epermit(Path(sys.argv[1]))
    import sqlalchemy as sa

    from epermit import create_app, db, demo
    from epermit.models import Person, SmsOutbox

    folder = Path(tempfile.mkdtemp(prefix="login-timing-"))
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{folder / 'bench.db'}"
    if url.startswith("postgresql"):
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE"))
            connection.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()
    db.upgrade(url)
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "SMS_BACKEND": "file",
            "SMS_OUTBOX": str(folder / "sms.jsonl"),
            "RATELIMIT_ENABLED": False,
            "PUBLIC_BASE_URL": "http://localhost",
            # Where SMS delivery runs off the request, do not wait for it: as in production.
            "SMS_DELIVERY_WAIT": 0,
        }
    )
    now = datetime.now(UTC)
    count = PAIRS + WARM_UP
    with db.session_scope(db.engine_of(app)) as session:
        demo.seed(session, now.date(), now)
        for n in range(count):
            session.add(
                Person(
                    id_number=f"44010619800101{n:04d}",
                    name="测试",
                    sex="男",
                    ethnicity="汉族",
                    birth_date=date(1980, 1, 1),
                    hukou="广东省广州市天河区",
                    phone=f"1370{n:07d}",
                )
            )

    def ask(phone: str) -> float:
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match
        started = time.perf_counter()
        answer = client.post("/login", data={"phone": phone, "csrf_token": match.group(1)})
        elapsed = time.perf_counter() - started
        assert answer.status_code == 303, answer.status_code
        # As a server does once the answer is written: the SMS deliverer's pass starts then,
        # outside the time measured, as it is outside the time a client can see.
        answer.close()
        return elapsed

    known: list[float] = []
    unknown: list[float] = []
    for n in range(count):
        pair = [("known", f"1370{n:07d}"), ("unknown", f"1390{n:07d}")]
        random.Random(n).shuffle(pair)  # neither always goes first
        for kind, phone in pair:
            seconds = ask(phone)
            if n >= WARM_UP:
                (known if kind == "known" else unknown).append(seconds)
    with db.session_scope(db.engine_of(app)) as session:
        queued = session.execute(sa.select(sa.func.count()).select_from(SmsOutbox)).scalar_one()
    assert queued >= PAIRS, f"only {queued} SMS were queued for registered numbers"

    difference = median_ms(known) - median_ms(unknown)
    halves = median_ms(known[0::2]) - median_ms(known[1::2])
    low, high = bootstrap_interval(known, unknown)
    where = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    tree = sys.argv[1] if len(sys.argv) > 1 else "this tree"
    print(f"POST /login timing, {where}, {tree}, {PAIRS} requests each:")
    print(f"  registered numbers    median {median_ms(known):7.3f} ms")
    print(f"  unregistered numbers  median {median_ms(unknown):7.3f} ms")
    print(f"  difference of medians        {difference:+7.3f} ms"
          f"  (95 % bootstrap interval {low:+.3f} to {high:+.3f} ms)")
    print(f"  noise: registered, one half against the other {halves:+7.3f} ms")


if __name__ == "__main__":
    main()
