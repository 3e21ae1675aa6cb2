"""Benchmarks (SPEC 8), printed as figures and ratios against baselines from the same run.

0. CPU: server CPU time per request for each step of the endorsement journey (sign-in,
   /permit, every wizard step's GET and POST, done), without and with JavaScript (htmx),
   measured in process (bench/cpu.py) against a bare Flask page measured the same way, and
   against another git revision (BENCH_COMPARE_REF, by default 1276c69, issue 8's baseline)
   checked out into a temporary worktree and measured in the same run, the two processes
   taking turns journey by journey (BENCH_COMPARE_REF=HEAD: a self-comparison, ~100 %).
1. Load: full endorsements (sign in to confirmation) by many people at once, against
   gunicorn on this machine, compared with a bare Flask page served the same way.
3. Network (bench/network.py): the six journeys in Chromium at 2G and Slow 3G, JavaScript on
   and off, cold cache: seconds and bytes each, against BENCH_NETWORK_REF in the same run.
2. Lookups: the queries behind sign-in, the permit page and verification with 1 thousand
   and with 1 million permits in the database.
3. Login timing (BENCH_ONLY=login, not run by default): POST /login for registered against
   unregistered numbers, the difference of medians beside its noise (bench/login_timing.py).
4. Workspace (bench/workspace.py, BENCH_ONLY=workspace): a roster page at 1 thousand and at
   10 million permits, and a batch of 1,000 departures, on SQLite and BENCH_DATABASE_URL.
5. Holder (bench/holder.py): /activity and the reminder ladder at 1 thousand and 10 million.

Set BENCH_DATABASE_URL to run the load part on PostgreSQL instead of SQLite, BENCH_ONLY to a
comma-separated choice of cpu, load, lookup, staff (the staff console at 1 thousand and 10
million permits, bench/staff.py) and profile (a cProfile of the journey; not run by default)
to run only those, BENCH_COMPARE_REF to a commit to compare CPU with (empty: none).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import runpy
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
USERS = int(os.environ.get("BENCH_USERS", "120"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
BARE_REQUESTS = int(os.environ.get("BENCH_BARE_REQUESTS", "2000"))
STEPS: dict[str, list[float]] = {}
MAX_PERMITS = int(os.environ.get("BENCH_MAX_PERMITS", "1000000"))
ONLY = os.environ.get("BENCH_ONLY", "cpu,load,lookup,workspace,holder,staff").split(",")
# Issue 8: server CPU per endorsement journey at most 60 % of this commit's.
GOAL_REF, GOAL_RATIO = "1276c69", 0.60
COMPARE_REF = os.environ.get("BENCH_COMPARE_REF", GOAL_REF)
CPU_ROUNDS = int(os.environ.get("BENCH_CPU_ROUNDS", "5"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(app: str, env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--log-level",
            "warning",
            app,
        ],
        cwd=cwd,
        env={**os.environ, **env},
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{app} did not start")


class Client:
    """One visitor: a keep-alive connection and a session cookie; records each latency."""

    def __init__(self, port: int, latencies: list[float]) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""
        self.latencies = latencies

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode()
        elapsed = time.perf_counter() - started
        self.latencies.append(elapsed)
        step = f"{method} " + re.sub(r"/endorse/[\w-]+/", "/endorse/<draft>/", path.split("?")[0])
        STEPS.setdefault(step, []).append(elapsed)
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, response.getheader("Location") or "", text


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page without a CSRF token"
    return match.group(1)


def last_code(outbox: Path, phone: str) -> str:
    """The code sent to `phone`; it may arrive a moment after the answer, as SMS do, when a
    concurrent request's delivery run picked the message up (PostgreSQL's SKIP LOCKED)."""
    deadline = time.time() + 5
    while time.time() < deadline:
        for line in reversed(outbox.read_text().splitlines() if outbox.exists() else []):
            record = json.loads(line)
            if record["to"] == phone and "code" in record:
                return record["code"]
        time.sleep(0.02)
    raise RuntimeError(f"no code for {phone}")


def endorse(port: int, phone: str, outbox: Path, latencies: list[float]) -> None:
    c = Client(port, latencies)
    _, _, html = c.request("GET", "/login")
    token = csrf(html)
    status, _, _ = c.request("POST", "/login", {"phone": phone, "csrf_token": token})
    assert status == 303, status
    status, to, _ = c.request(
        "POST", "/login/verify", {"code": last_code(outbox, phone), "csrf_token": token}
    )
    assert status == 303 and to == "/permit", (status, to)
    _, _, html = c.request("GET", "/permit")
    token = csrf(html)
    status, to, _ = c.request("GET", "/endorse")
    draft = to.rsplit("/", 1)[0]
    c.request("POST", f"{draft}/who", {"for_whom": "self", "csrf_token": token})
    c.request("POST", f"{draft}/residence", {"address_unchanged": "yes", "csrf_token": token})
    status, to, _ = c.request("POST", f"{draft}/check", {"declaration": "y", "csrf_token": token})
    assert to.endswith("/done"), (phone, draft, status, to)
    _, _, html = c.request("GET", to)
    assert 'id="reference"' in html


def run_parallel(jobs: list, concurrency: int) -> float:
    queue = list(jobs)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                job = queue.pop()
            try:
                job()
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def seed_bench_holders(database_url: str, count: int) -> list[str]:
    """Holders whose permits are due, each with a phone to sign in with (plain SQL, so
    that it seeds any revision's schema the CPU comparison imports)."""
    import sqlalchemy as sa
    from stdnum.cn import ric

    engine = sa.create_engine(database_url)
    today = datetime.now(UTC).astimezone().date()
    phones = []
    with engine.begin() as connection:
        address_id = connection.execute(
            sa.text("SELECT id FROM address ORDER BY id LIMIT 1")
        ).scalar()
        # Since 0004 a permit records since when it is registered at its address; older
        # revisions (the CPU comparison's) have no such column.
        columns = {column["name"] for column in sa.inspect(connection).get_columns("permit")}
        since = "registered_since" in columns
        since_column, since_value = (", registered_since", ", :i") if since else ("", "")
        for n in range(count):
            body = f"440106{1950 + n // 1000:04d}0101{n % 1000:03d}"
            id_number = body + ric.calc_check_digit(body + "0")
            phone = f"139{n:08d}"
            phones.append(phone)
            person_id = connection.execute(
                sa.text(
                    "INSERT INTO person (id_number, name, sex, ethnicity, birth_date, hukou, phone)"
                    " VALUES (:i, :n, 'male', '汉族', :b, '广东省广州市', :p) RETURNING id"
                ),
                {
                    "i": id_number,
                    "n": f"测试{n}",
                    "b": date(int(body[6:10]), int(body[10:12]), int(body[12:14])),
                    "p": phone,
                },
            ).scalar()
            valid_until = today + timedelta(days=10)
            connection.execute(
                sa.text(
                    "INSERT INTO permit (person_id, address_id, issuing_authority, issue_date,"
                    f" valid_until, continuity_start, is_current{since_column}) VALUES (:p, :a,"
                    f" '广州市公安局天河分局', :i, :v, :i, :t{since_value})"
                ),
                {
                    "p": person_id,
                    "a": address_id,
                    "i": valid_until - timedelta(days=365),
                    "v": valid_until,
                    "t": True,
                },
            )
    engine.dispose()
    return phones


def load_benchmark() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp)
        database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{instance / 'bench.db'}"
        outbox = instance / "outbox.jsonl"
        env = {
            "EPERMIT_INSTANCE": str(instance),
            "DATABASE_URL": database_url,
            "SMS_OUTBOX": str(outbox),
            "RATELIMIT_ENABLED": "0",
        }
        if database_url.startswith("postgresql"):
            import sqlalchemy as sa

            with sa.create_engine(database_url).begin() as connection:
                connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        for command in (["migrate"], ["seed-demo"]):
            subprocess.run(
                [str(VENV_BIN / "flask"), "--app", "wsgi", *command],
                cwd=ROOT,
                env={**os.environ, **env},
                check=True,
                capture_output=True,
            )
        phones = seed_bench_holders(database_url, USERS)
        bare, bare_port = serve("bare:app", {}, ROOT / "bench")
        app, app_port = serve("wsgi:app", env, ROOT)
        try:
            # Warm both up, then the baseline.
            for port in (bare_port, app_port):
                warm: list[float] = []
                for _ in range(20):
                    Client(port, warm).request("GET", "/")
            bare_latencies: list[float] = []

            def bare_visit() -> None:
                client = Client(bare_port, bare_latencies)
                for _ in range(10):
                    client.request("GET", "/")

            bare_time = run_parallel([bare_visit] * (BARE_REQUESTS // 10), CONCURRENCY)
            latencies: list[float] = []
            jobs = [
                lambda phone=phone: endorse(app_port, phone, outbox, latencies) for phone in phones
            ]
            app_time = run_parallel(jobs, CONCURRENCY)
        finally:
            for process in (bare, app):
                process.terminate()
                process.wait(timeout=10)
        kind = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
        print(
            f"== Load: {USERS} full endorsements, {CONCURRENCY} at once, gunicorn 2 workers x 4 threads, {kind}"
        )
        print(
            f"bare Flask page : {len(bare_latencies):6d} requests  p50 {ms(statistics.median(bare_latencies))}"
            f"  p95 {ms(percentile(bare_latencies, 95))}  {len(bare_latencies) / bare_time:7.0f} req/s"
        )
        print(
            f"endorsement     : {len(latencies):6d} requests  p50 {ms(statistics.median(latencies))}"
            f"  p95 {ms(percentile(latencies, 95))}  {len(latencies) / app_time:7.0f} req/s"
            f"  ({USERS / app_time:.1f} endorsements/s)"
        )
        for step, values in sorted(STEPS.items()):
            if step.startswith(
                ("GET /login", "POST /login", "GET /permit", "GET /endorse", "POST /endorse")
            ):
                print(
                    f"  {step:34s} p50 {ms(statistics.median(values))}  p95 {ms(percentile(values, 95))}"
                )
        ratio = percentile(latencies, 95) / percentile(bare_latencies, 95)
        print(f"p95 ratio endorsement/bare: {ratio:.1f}x")


def lookup_benchmark() -> None:
    """Sign-in, permit-page and verification lookups at 1 thousand and 1 million permits."""
    import sqlalchemy as sa
    from sqlmodel import Session, select

    from epermit import db
    from epermit.models import Person
    from epermit.services import permits

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'lookup.db'}"
        db.upgrade(url)
        engine = db.make_engine(url)
        today = date.today()

        def grow_to(total: int, start: int) -> None:
            with engine.begin() as connection:
                if start == 0:
                    connection.execute(
                        sa.text(
                            "INSERT INTO address (district, line) VALUES ('天河区', '广州市天河区测试路1号')"
                        )
                    )
                batch = 50_000
                for low in range(start, total, batch):
                    high = min(total, low + batch)
                    connection.execute(
                        sa.text(
                            "INSERT INTO person (id_number, name, sex, ethnicity, birth_date, hukou, phone)"
                            " VALUES (:i, :n, 'male', '汉族', '1990-01-01', '广东省', :p)"
                        ),
                        [
                            {"i": f"P{n:017d}", "n": f"测试{n}", "p": f"1{n:010d}"}
                            for n in range(low, high)
                        ],
                    )
                    connection.execute(
                        sa.text(
                            "INSERT INTO permit (person_id, address_id, issuing_authority, issue_date,"
                            " valid_until, continuity_start, is_current)"
                            " SELECT id, 1, '广州市公安局天河分局', :i, :v, :i, 1 FROM person"
                            " WHERE id_number >= :lo AND id_number < :hi"
                        ),
                        {
                            "i": today - timedelta(days=300),
                            "v": today + timedelta(days=65),
                            "lo": f"P{low:017d}",
                            "hi": f"P{high:017d}",
                        },
                    )

        def measure(total: int, rounds: int = 3000) -> float:
            rng = random.Random(7)
            started = time.perf_counter()
            with Session(engine) as session:
                for _ in range(rounds):
                    n = rng.randrange(total)
                    person = session.exec(select(Person).where(Person.phone == f"1{n:010d}")).one()
                    permits.card_of(session, person, today)
                    session.exec(select(Person).where(Person.id_number == f"P{n:017d}")).one()
                    session.expunge_all()
            return (time.perf_counter() - started) / rounds

        grow_to(1_000, 0)
        small = measure(1_000)
        started = time.perf_counter()
        grow_to(MAX_PERMITS, 1_000)
        grown = time.perf_counter() - started
        with engine.connect() as connection:
            stored = connection.execute(sa.text("SELECT count(*) FROM permit")).scalar()
        assert stored == MAX_PERMITS, stored
        large = measure(MAX_PERMITS)
        print(
            f"== Lookups (sign-in by phone, permit card, person by ID number), SQLite, grown in {grown:.0f} s"
        )
        print(f"{1_000:>9,d} permits: {small * 1e6:8.0f} µs per lookup set")
        print(f"{MAX_PERMITS:>9,d} permits: {large * 1e6:8.0f} µs per lookup set")
        print(f"ratio {MAX_PERMITS:,d}/1,000: {large / small:.2f}x")


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def run_cpu(what: str, site: Path | None = None) -> str:
    """What one fresh process of bench/cpu.py prints, importing epermit from `site`."""
    command = [sys.executable, str(ROOT / "bench" / "cpu.py"), what]
    with tempfile.TemporaryDirectory() as cwd:
        done = subprocess.run(
            [*command, *([str(site)] if site else [])],
            cwd=cwd,
            capture_output=True,
            text=True,
        )
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} {site or ''} failed:\n{done.stderr}")
    return done.stdout


def cpu_measurement(what: str) -> dict:
    return json.loads(run_cpu(what).splitlines()[-1])


class JourneyProcess:
    """A fresh process of bench/cpu.py serving journeys with epermit imported from `site`."""

    def __init__(self, site: Path, cwd: str) -> None:
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "cpu.py"), "serve", str(site)],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        imported = Path(self.answer()["epermit"]).parent
        assert imported == site, (imported, site)

    def answer(self) -> dict:
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            self.process.wait()
            self.stderr.seek(0)
            raise RuntimeError(f"bench/cpu.py serve failed:\n{self.stderr.read()}")
        return json.loads(line)

    def journey(self, mode: str) -> dict[str, float]:
        self.process.stdin.write(mode + "\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        return self.answer()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.communicate("quit\n", timeout=60)
        self.stderr.close()


def measure_round(sites: dict[str, Path], first: int) -> dict[str, dict]:
    """One round: a fresh process per revision, walking journeys in turns, journey by
    journey, which of them goes first alternating; per revision, mode and step the mean
    CPU of the journeys after the warm-up."""
    warm_up = int(os.environ.get("BENCH_CPU_WARM_UP", "15"))
    journeys = int(os.environ.get("BENCH_CPU_JOURNEYS", "60"))
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        which: {"plain": {}, "htmx": {}} for which in sites
    }
    with tempfile.TemporaryDirectory() as cwd:
        processes: dict[str, JourneyProcess] = {}
        try:
            for which, site in sites.items():
                processes[which] = JourneyProcess(site, cwd)
            names = list(sites)
            for n in range(warm_up + journeys):
                for mode in ("plain", "htmx"):
                    turn = names if (n + first) % 2 == 0 else names[::-1]
                    for which in turn:
                        times = processes[which].journey(mode)
                        for step, seconds in times.items():
                            if n >= warm_up:
                                samples[which][mode].setdefault(step, []).append(seconds)
        finally:
            for process in processes.values():
                process.close()
    return {
        which: {
            mode: {step: statistics.fmean(times) for step, times in steps.items()}
            for mode, steps in modes.items()
        }
        for which, modes in samples.items()
    }


def best_of(rounds: list[dict]) -> dict[str, dict[str, float]]:
    """Per mode and step the lowest of the rounds' means (the round least disturbed by
    whatever else the machine ran), and the journey as the sum of those."""
    best: dict[str, dict[str, float]] = {}
    for mode in ("plain", "htmx"):
        steps = rounds[0][mode]
        best[mode] = {step: min(r[mode][step] for r in rounds) for step in steps}
        best[mode]["journey"] = sum(best[mode].values())
    return best


def journey_total(figures: dict, mode: str) -> float:
    return sum(figures[mode].values())


def cpu_benchmark() -> None:
    head = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--", "site")
    this = head + ("+changes" if dirty else "")
    with tempfile.TemporaryDirectory() as tmp:
        other = None
        sites = {"new": ROOT / "site"}
        if COMPARE_REF:
            other = git("rev-parse", "--short", COMPARE_REF)
            git("worktree", "add", "--detach", "--quiet", f"{tmp}/ref", other)
            sites["old"] = Path(tmp) / "ref" / "site"
        try:
            new_rounds, old_rounds, bare_rounds = [], [], []
            for n in range(CPU_ROUNDS):
                bare_rounds.append(cpu_measurement("bare"))
                measured = measure_round(sites, first=n)
                new_rounds.append(measured["new"])
                if other:
                    old_rounds.append(measured["old"])
        finally:
            if other:
                git("worktree", "remove", "--force", f"{tmp}/ref")
    bare = min(r["GET /"] for r in bare_rounds)
    new = best_of(new_rounds)
    old = best_of(old_rounds) if other else None
    journeys = int(os.environ.get("BENCH_CPU_JOURNEYS", "60"))
    print(
        f"== Server CPU per request, endorsement journey: in process, {journeys} journeys a"
        f" round, the revisions taking turns journey by journey, lowest of {CPU_ROUNDS}"
        " rounds' means, SQLite"
    )
    print(f"bare Flask page: {bare * 1000:.3f} ms CPU per request")
    for mode, title in (("plain", "without JavaScript"), ("htmx", "with JavaScript (htmx)")):
        columns = f"{other:>10}  {this:>14}  new/old" if old else f"{this:>14}"
        print(f"{title:<22}{columns}  x bare")
        for step, seconds in new[mode].items():
            label = f"{step} ({len(new[mode]) - 1} requests)" if step == "journey" else step
            line = f"{label:<22}"
            if old:
                line += f"{old[mode][step] * 1000:7.2f} ms  {seconds * 1000:11.2f} ms"
                # A step both revisions answered within the step before (htmx) has no ratio.
                line += f"  {seconds / old[mode][step]:6.0%}" if old[mode][step] else "       —"
            else:
                line += f"{seconds * 1000:11.2f} ms"
            print(f"{line}  {seconds / bare:6.0f}x")
    if old:
        ratios = ", ".join(
            f"{mode} {new[mode]['journey'] / old[mode]['journey']:.0%}" for mode in new
        )
        verdict = ""
        if other and git("rev-parse", other) == git("rev-parse", GOAL_REF):
            met = all(new[m]["journey"] <= GOAL_RATIO * old[m]["journey"] for m in new)
            verdict = f" (issue 8 goal: at most {GOAL_RATIO:.0%}: {'met' if met else 'not met'})"
        print(f"journey CPU {this} / {other}: {ratios}{verdict}")
        # Both revisions of a round ran side by side: each round's own ratio shows how far
        # the figure above could move with the machine's load.
        paired = "; ".join(
            f"{mode} {min(ratios):.0%}–{max(ratios):.0%} (median {statistics.median(ratios):.0%})"
            for mode in ("plain", "htmx")
            for ratios in [
                [
                    journey_total(n, mode) / journey_total(o, mode)
                    for n, o in zip(new_rounds, old_rounds, strict=True)
                ]
            ]
        )
        print(f"each round's own ratio: {paired}")
    for label, rounds in ((this, new_rounds), (other or "", old_rounds)):
        if rounds:  # how far apart the rounds were: the noise these figures carry
            spread = ", ".join(
                f"{mode} {min(sums):.1f}–{max(sums):.1f} ms"
                for mode in ("plain", "htmx")
                for sums in [[journey_total(r, mode) * 1000 for r in rounds]]
            )
            print(f"rounds' journey totals (noise), {label}: {spread}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if "cpu" in ONLY:
        cpu_benchmark()
    if "profile" in ONLY:
        print(run_cpu("profile", ROOT / "site"))
    if "load" in ONLY:
        load_benchmark()
    if "lookup" in ONLY:
        lookup_benchmark()
    if "network" in ONLY:
        subprocess.run([sys.executable, str(ROOT / "bench" / "network.py")], check=True)
    if "holder" in ONLY:
        subprocess.run([sys.executable, str(ROOT / "bench" / "holder.py")], check=True)
    if "staff" in ONLY:
        runpy.run_path(str(ROOT / "bench" / "staff.py"), run_name="__main__")
    if "login" in ONLY:
        subprocess.run([sys.executable, str(ROOT / "bench/login_timing.py")], check=True)
    if "workspace" in ONLY:
        from bench.workspace import workspace_benchmark

        workspace_benchmark()
