"""Server CPU per request of the endorsement journey, measured in one process.

Run by bench/run.py, a fresh process per measurement:

    python bench/cpu.py serve [SITE_DIR]     # epermit imported from SITE_DIR; walks a journey
                                             # per line "plain"/"htmx" read, prints JSON lines
    python bench/cpu.py bare                 # bench/bare.py's page, the baseline, as JSON
    python bench/cpu.py profile [SITE_DIR]   # cProfile of the journey, printed as text

Each request goes through the Flask test client, and a WSGI wrapper reads the process's CPU
time (`time.process_time`, every thread) around the application alone, the response body
included and the test client's own work left out. SQLite file database in a temporary
folder, demo world plus one due holder per journey, rate limits off.
"""

from __future__ import annotations

import cProfile
import importlib.util
import io
import json
import os
import pstats
import re
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
JOURNEYS = int(os.environ.get("BENCH_CPU_JOURNEYS", "60"))
WARM_UP = int(os.environ.get("BENCH_CPU_WARM_UP", "15"))
BARE_REQUESTS = int(os.environ.get("BENCH_CPU_BARE_REQUESTS", "3000"))
# The endorsement wizard's steps for a due holder endorsing their own permit, and answers.
WIZARD = (
    ("who", {"for_whom": "self"}),
    ("residence", {"address_unchanged": "yes"}),
    ("check", {"declaration": "y"}),
)
# How a browser with JavaScript asks (hx-boost): the same requests, answered with partials.
HTMX_HEADERS = {"HX-Request": "true", "HX-Boosted": "true"}


def load_epermit(site: Path) -> None:
    """Import `site/` of another tree as `epermit`, ahead of the editable install's finder
    (which sits after the path finder on sys.meta_path, so submodules follow __path__)."""
    assert "epermit" not in sys.modules
    spec = importlib.util.spec_from_file_location(
        "epermit", site / "__init__.py", submodule_search_locations=[str(site)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["epermit"] = module
    spec.loader.exec_module(module)


class CpuMeter:
    """WSGI middleware: CPU seconds the last request took, body and teardown included."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        self.last = 0.0
        self.step = ""  # what the next request is, for profiles kept per step
        self.profiles: dict[str, cProfile.Profile] | None = None

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        profile = None
        if self.profiles is not None:
            profile = self.profiles.setdefault(self.step, cProfile.Profile())
            profile.enable()
        started = time.process_time()
        body = self.app(environ, start_response)
        try:
            chunks = list(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        self.last = time.process_time() - started
        if profile is not None:
            profile.disable()
        return chunks


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page without a CSRF token"
    return match.group(1)


def last_code(outbox: Path, phone: str) -> str:
    for line in reversed(outbox.read_text().splitlines()):
        record = json.loads(line)
        if record["to"] == phone and "code" in record:
            return record["code"]
    raise RuntimeError(f"no code for {phone}")


def journey(
    client: Any,
    meter: CpuMeter,
    phone: str,
    outbox: Path,
    htmx: bool,
    record: Callable[[str, float], None],
) -> None:
    """Sign in, open the permit, endorse it: every request a person's browser makes, in
    order, each recorded under its step name with the CPU it took.

    With htmx a revision may answer a POST (or the wizard's start) with the page it leads to
    (epermit.htmx.follow, `HX-Push-Url`): the GET a redirect would have cost is then not
    made, and is recorded as 0 ms, so that revisions that follow and revisions that redirect
    are compared step by step and journey by journey on the same steps."""
    headers = HTMX_HEADERS if htmx else {}

    def hit(step: str, method: str, path: str, form: dict | None = None, status: int = 200):
        meter.step = step
        answer = client.open(path, method=method, data=form, headers=headers)
        record(step, meter.last)
        assert answer.status_code == status, (step, answer.status_code, path)
        return answer

    def moves(step: str, method: str, path: str, then: str, form: dict | None = None):
        """A request that leads elsewhere, and the GET of where it leads (`then`): the page
        and its path."""
        meter.step = step
        answer = client.open(path, method=method, data=form, headers=headers)
        record(step, meter.last)
        if htmx and answer.status_code == 200 and "HX-Push-Url" in answer.headers:
            record(then, 0.0)
            return answer, urllib.parse.urlsplit(answer.headers["HX-Push-Url"]).path
        assert answer.status_code == 303, (step, answer.status_code, path)
        to = urllib.parse.urlsplit(answer.headers["Location"]).path
        return hit(then, "GET", to), to

    page = hit("GET /login", "GET", "/login")
    form = {"phone": phone, "csrf_token": csrf(page.text)}
    page, to = moves("POST /login", "POST", "/login", "GET /login/verify", form)
    assert to == "/login/verify", to
    form = {"code": last_code(outbox, phone), "csrf_token": csrf(page.text)}
    page, to = moves("POST /login/verify", "POST", to, "GET /permit", form)
    assert to == "/permit", to
    assert 'id="permit-code"' in page.text, "the permit page shows its QR code"
    step_names = [step for step, _ in WIZARD]
    page, to = moves("GET /endorse", "GET", "/endorse", f"GET {step_names[0]}")
    for n, (step, answers) in enumerate(WIZARD):
        assert to.endswith(f"/{step}"), (step, to)
        after = f"GET {step_names[n + 1]}" if n + 1 < len(WIZARD) else "GET done"
        form = {**answers, "csrf_token": csrf(page.text)}
        page, to = moves(f"POST {step}", "POST", to, after, form)
    assert to.endswith("/done"), to
    assert 'id="reference"' in page.text


@contextmanager
def journey_app() -> Iterator[Callable[..., dict[str, float]]]:
    """A fresh app on a fresh database, and a function that walks one journey through it
    (`htmx`, the profiles to add to or None) and returns the CPU each step took."""
    sys.path.insert(0, str(BENCH))
    from run import seed_bench_holders  # type: ignore[import-not-found]

    from epermit import create_app

    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp)
        outbox = instance / "outbox.jsonl"
        database_url = f"sqlite:///{instance / 'bench.db'}"
        os.environ.update(
            EPERMIT_INSTANCE=str(instance),
            DATABASE_URL=database_url,
            SMS_OUTBOX=str(outbox),
            SMS_BACKEND="file",
            RATELIMIT_ENABLED="0",
            SECRET_KEY="bench-secret",
            PUBLIC_BASE_URL="https://epermit.guangzhou.gov.cn",
        )
        app = create_app()
        for command in (["migrate"], ["seed-demo"]):
            result = app.test_cli_runner().invoke(args=command)
            assert result.exit_code == 0, (command, result.output, result.exception)
        phones = iter(seed_bench_holders(database_url, 2 * (WARM_UP + JOURNEYS)))
        meter = CpuMeter(app.wsgi_app)
        app.wsgi_app = meter  # type: ignore[method-assign]

        def walk(
            htmx: bool, profiles: dict[str, cProfile.Profile] | None = None
        ) -> dict[str, float]:
            times: dict[str, float] = {}
            meter.profiles = profiles
            try:
                journey(app.test_client(), meter, next(phones), outbox, htmx, times.__setitem__)
            finally:
                meter.profiles = None
            return times

        # What the profile counts SQL statements by: the step being profiled.
        walk.meter = meter  # type: ignore[attr-defined]
        yield walk


def serve() -> None:
    """Walk one journey per line read ("plain" or "htmx"), printing each step's CPU as a
    JSON line, until "quit": run.py drives two of these, one per revision, taking turns
    journey by journey, so that both are measured under the same load of the machine."""
    with journey_app() as walk:
        print(json.dumps({"epermit": sys.modules["epermit"].__file__}), flush=True)
        for line in sys.stdin:
            mode = line.strip()
            if mode == "quit":
                break
            print(json.dumps(walk(mode == "htmx")), flush=True)


def measure_journeys(profiles: dict[str, cProfile.Profile]) -> dict[str, Any]:
    """Profile JOURNEYS journeys without and with JavaScript (htmx), each mode after WARM_UP
    unprofiled ones; returns the SQL statements sent, by step."""
    import sqlalchemy as sa

    statements: dict[str, dict[str, int]] = {}
    with journey_app() as walk:
        meter = walk.meter  # type: ignore[attr-defined]

        @sa.event.listens_for(sa.Engine, "before_cursor_execute")
        def count(_connection, _cursor, statement: str, *_args: Any) -> None:
            if meter.profiles is not None:
                step = statements.setdefault(meter.step, {})
                key = " ".join(statement.split())[:90]
                step[key] = step.get(key, 0) + 1

        for htmx in (False, True):
            for n in range(WARM_UP + JOURNEYS):
                walk(htmx, profiles if n >= WARM_UP else None)
    return {"statements": statements}


def measure_bare() -> dict[str, Any]:
    sys.path.insert(0, str(BENCH))
    from bare import app  # type: ignore[import-not-found]

    meter = CpuMeter(app.wsgi_app)
    app.wsgi_app = meter
    client = app.test_client()
    times = []
    for n in range(BARE_REQUESTS + 200):
        assert client.get("/").status_code == 200
        if n >= 200:
            times.append(meter.last)
    return {"GET /": sum(times) / len(times)}


# Where a function's own time goes, by what its file or built-in belongs to; first match wins.
BUCKETS = (
    ("QR", ("zxingcpp", "permit_code.py:", "nanobind")),
    ("templates", ("jinja2", "markupsafe", ".html:", "templating.py")),
    ("SQL", ("sqlalchemy", "sqlmodel", "sqlite3")),
    ("forms+CSRF", ("wtforms", "flask_wtf")),
    ("signing", ("itsdangerous", "hmac", "hashlib", "zlib", "base64", "json")),
    ("limiter", ("flask_limiter", "/limits/")),
    ("Flask+Werkzeug", ("flask", "werkzeug", "htmx_flask", "click")),
    ("epermit", ("/site/",)),
)


def bucket(function: tuple[str, int, str]) -> str:
    where = f"{function[0]}:{function[1]}({function[2]})"
    return next((name for name, marks in BUCKETS if any(m in where for m in marks)), "other")


def print_profile() -> None:
    """Per step: CPU under the profiler, split by whose code spent it (own time), and the
    epermit functions taking the most time including what they call."""
    profiles: dict[str, cProfile.Profile] = {}
    statements = measure_journeys(profiles)["statements"]
    names = [name for name, _ in BUCKETS] + ["other"]
    print(f"{'profiled ms/request':<20}{'total':>7}" + "".join(f"{n[:10]:>11}" for n in names))
    totals: dict[str, float] = {}
    for step, profile in profiles.items():
        stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        calls = max(s[1] for f, s in stats.items() if f[2] == "wsgi_app")
        split = dict.fromkeys(names, 0.0)
        for function, (_, _, own, _, _) in stats.items():
            split[bucket(function)] += own / calls
        for name, seconds in split.items():
            totals[name] = totals.get(name, 0.0) + seconds
        print(
            f"{step:<20}{sum(split.values()) * 1000:7.2f}"
            + "".join(f"{split[n] * 1000:11.2f}" for n in names)
        )
    print(
        f"{'journey (2 modes)':<20}{sum(totals.values()) * 1000:7.2f}"
        + "".join(f"{totals[n] * 1000:11.2f}" for n in names)
    )
    requests = 2 * JOURNEYS  # each step once a journey, without and with htmx
    print(
        "\nSQL statements per request (BEGIN included, COMMIT not: SQLAlchemy does not send it)"
    )
    for step, counted in statements.items():
        print(f"{step:<20}{sum(counted.values()) / requests:5.1f}")
    journey: dict[str, int] = {}
    for counted in statements.values():
        for statement, times in counted.items():
            journey[statement] = journey.get(statement, 0) + times
    print("\nmost frequent statements, per journey")
    for statement, times in sorted(journey.items(), key=lambda item: -item[1])[:15]:
        print(f"{times / requests:5.1f}  {statement}")
    for step, profile in profiles.items():
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out).sort_stats("cumulative")
        stats.print_stats(r"/site/(?!views/_common|__init__)", 8)
        lines = [line for line in out.getvalue().splitlines() if "/site/" in line]
        print(f"\n-- {step}: epermit functions by cumulative time (whole run)")
        print("\n".join(lines))


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "serve":
        if len(sys.argv) > 2:
            load_epermit(Path(sys.argv[2]).resolve())
        serve()
    elif what == "bare":
        print(json.dumps(measure_bare()))
    elif what == "profile":
        if len(sys.argv) > 2:
            load_epermit(Path(sys.argv[2]).resolve())
        print_profile()
    else:
        raise SystemExit(f"unknown measurement {what!r}")
