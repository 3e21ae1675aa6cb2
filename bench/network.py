"""Seconds and bytes of the six journeys on slow networks (SPEC 8, issue 10).

Run by bench/run.py (`BENCH_ONLY=network`), or alone: `python bench/network.py`.

Debian's Chromium, driven by Playwright, walks each journey with its network throttled by
the DevTools protocol (`Network.emulateNetworkConditions`): 2G (250 kbps, 800 ms round trip)
and Slow 3G (400 kbps, 400 ms), JavaScript on (htmx) and off, cold cache (a new browser
context per journey). No thinking time: the figures are what the network costs. With htmx
the bench watches for each next page every frame rather than by Playwright's polling, which
looks only every 500 ms once a wait passes 270 ms and so added up to half a second a step
(`Walk.wait_for`). Bytes are what came over the wire (compressed bodies plus headers,
Chromium's `encodedDataLength`). A journey does what its visitor would on that tree's pages:
on /permit the 办理签注 button (or, in older trees, link) for oneself.

Each tree is served over real HTTP (werkzeug, threaded) from its own temporary SQLite
database with the demo world and due holders of its own. The baseline is another git
revision (BENCH_NETWORK_REF, by default 3a83139, the state issue 10 measured) checked out
into a temporary worktree and measured in the same run, so the figures compare like with
like on this machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CHROMIUM = "/usr/bin/chromium"
NETWORKS = {
    # kbps, round trip in ms (DevTools' own presets use the same pairs)
    "2G": (250, 800),
    "Slow 3G": (400, 400),
}
# BENCH_NETWORKS="2G" (comma-separated) measures only those.
CHOSEN = [n for n in os.environ.get("BENCH_NETWORKS", ",".join(NETWORKS)).split(",") if n]
BASELINE_REF = os.environ.get("BENCH_NETWORK_REF", "3a83139")
# Issue 10's goals: endorsement for oneself, 2G, JavaScript on, cold cache; the verifier.
GOAL_SECONDS, GOAL_VERIFY_BYTES = 8.0, 6 * 1024
HOLDERS = 64
DIGITS = "零一二三四五六七八九"


def holder_name(n: int) -> str:
    """A bench holder's name in words: names are checked, and may hold no digits."""
    return "测试" + "".join(DIGITS[int(c)] for c in str(n))


# --- the server: one process per tree ---------------------------------------------------


def serve_tree(site: str, port: int, instance: str) -> None:
    """In a fresh process: import epermit from `site`, seed, and serve on `port`."""
    sys.path.insert(0, str(BENCH))
    from cpu import load_epermit  # type: ignore[import-not-found]

    load_epermit(Path(site))
    from werkzeug.serving import make_server

    from epermit import create_app

    database_url = f"sqlite:///{instance}/bench.db"
    os.environ.update(
        EPERMIT_INSTANCE=instance,
        DATABASE_URL=database_url,
        SMS_OUTBOX=f"{instance}/outbox.jsonl",
        SMS_BACKEND="file",
        RATELIMIT_ENABLED="0",
        SECRET_KEY="bench-secret",
    )
    app = create_app()
    for command in (["migrate"], ["seed-demo"]):
        result = app.test_cli_runner().invoke(args=command)
        assert result.exit_code == 0, (command, result.output, result.exception)
    seed_holders(database_url, HOLDERS)
    make_server("127.0.0.1", port, app, threaded=True).serve_forever()


def seed_holders(database_url: str, count: int) -> list[str]:
    """Due holders as bench/run.py seeds them, for this tree's schema or the baseline's
    (a newer one records since when a permit is registered at its address)."""
    import sqlalchemy as sa
    from stdnum.cn import ric

    engine = sa.create_engine(database_url)
    since = "registered_since" in {c["name"] for c in sa.inspect(engine).get_columns("permit")}
    today = date.today()
    phones = []
    with engine.begin() as connection:
        address_id = connection.execute(sa.text("SELECT id FROM address ORDER BY id")).scalar()
        for n in range(count):
            body = f"440106{1950 + n // 1000:04d}0101{n % 1000:03d}"
            phone = f"139{n:08d}"
            phones.append(phone)
            person_id = connection.execute(
                sa.text(
                    "INSERT INTO person (id_number, name, sex, ethnicity, birth_date, hukou, phone)"
                    " VALUES (:i, :n, 'male', '汉族', :b, '广东省广州市', :p) RETURNING id"
                ),
                {
                    "i": body + ric.calc_check_digit(body + "0"),
                    "n": holder_name(n),
                    "b": date(int(body[6:10]), int(body[10:12]), int(body[12:14])),
                    "p": phone,
                },
            ).scalar()
            valid_until = today + timedelta(days=10)
            connection.execute(
                sa.text(
                    "INSERT INTO permit (person_id, address_id, issuing_authority, issue_date,"
                    " valid_until, continuity_start, is_current"
                    + (", registered_since" if since else "")
                    + ") VALUES (:p, :a, '广州市公安局天河分局', :i, :v, :i, :t"
                    + (", :i" if since else "")
                    + ")"
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, site: Path) -> None:
        self.instance = tempfile.mkdtemp(prefix="ep-network-")
        self.port = free_port()
        # The server's log goes to a file: a pipe nobody reads fills after a few hundred
        # requests (each logs a line), and the server then hangs writing to it.
        self.log = Path(self.instance) / "server.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, __file__, "serve", str(site), str(self.port), self.instance],
                cwd=self.instance,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(self.log.read_text()[-4000:]) from None
                time.sleep(0.2)
        self.holders = iter(range(HOLDERS))
        self.url = f"http://127.0.0.1:{self.port}"

    def holder(self) -> tuple[str, str, str]:
        """A due holder not used yet: phone, name and ID number (bench/run.py's scheme)."""
        from stdnum.cn import ric

        n = next(self.holders)
        body = f"440106{1950 + n // 1000:04d}0101{n % 1000:03d}"
        return f"139{n:08d}", holder_name(n), body + ric.calc_check_digit(body + "0")

    def code(self, phone: str) -> str:
        outbox = Path(self.instance) / "outbox.jsonl"
        deadline = time.time() + 10
        while time.time() < deadline:
            lines = outbox.read_text().splitlines() if outbox.exists() else []
            for line in reversed(lines):
                record = json.loads(line)
                if record["to"] == phone and "code" in record:
                    return record["code"]
            time.sleep(0.05)
        raise RuntimeError(f"no code for {phone}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# --- the journeys -----------------------------------------------------------------------


class Walk:
    """One visitor's browser context on a throttled network, counting what it costs."""

    def __init__(self, browser: Any, server: Server, network: str, js: bool) -> None:
        self.server = server
        self.js = js
        self.context = browser.new_context(
            base_url=server.url,
            viewport={"width": 360, "height": 740},
            java_script_enabled=js,
            locale="zh-CN",
            # Only so that the bench may watch the page every frame (`wait_for`); the pages
            # break no rule of their policy, so they behave as they would under it.
            bypass_csp=True,
        )
        self.context.set_default_timeout(30_000)
        self.page = self.context.new_page()
        self.bytes = 0
        self.requests = 0
        cdp = self.context.new_cdp_session(self.page)
        cdp.send("Network.enable")
        kbps, rtt = NETWORKS[network]
        cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": rtt,
                "downloadThroughput": kbps * 1000 / 8,
                "uploadThroughput": kbps * 1000 / 8,
            },
        )
        cdp.on("Network.loadingFinished", self._finished)
        self.cdp = cdp

    def _finished(self, event: dict[str, Any]) -> None:
        self.bytes += int(event.get("encodedDataLength", 0))
        self.requests += 1

    def wait_for(self, selector: str) -> None:
        """Until `selector` is on the page. With htmx, checked every frame: Playwright's own
        waiting polls at 0, 20, 50, 100, 100 ms and then every 500 ms, so a swap landing a
        round trip (800 ms) after the click is seen up to 0.5 s late, and the journey's
        figure grows by that at each step: the bench's own delay, not the network's. Without
        JavaScript the new page has loaded before this is asked, so the first look finds it."""
        if self.js and ":text" not in selector:
            self.page.wait_for_function(
                "selector => document.querySelector(selector) !== null",
                arg=selector,
                polling="raf",
            )
        else:
            self.page.locator(selector).first.wait_for()

    def settle(self) -> None:
        self.page.wait_for_load_state("load")
        if self.js:
            self.page.wait_for_function(
                "() => document.querySelector('.htmx-request') === null", polling="raf"
            )

    def submit(self, next_selector: str) -> None:
        """Press the main form's button and wait for the next page's `next_selector`."""
        button = self.page.locator("main form button[type=submit]").first
        if self.js:
            button.click()
        else:
            with self.page.expect_navigation():
                button.click()
        try:
            self.wait_for(next_selector)
        except Exception as error:
            raise RuntimeError(self.page.locator("main").inner_text()[:400]) from error
        self.settle()

    def follow(self, link: str, next_selector: str) -> None:
        """Click `link` (or a button of its own form) and wait for `next_selector`."""
        if self.js:
            self.page.locator(link).first.click()
        else:
            with self.page.expect_navigation():
                self.page.locator(link).first.click()
        self.wait_for(next_selector)
        self.settle()

    def sign_in(self, phone: str) -> None:
        self.page.goto("/login")
        self.page.fill("#phone", phone)
        self.submit("#code")
        self.page.fill("#code", self.server.code(phone))
        self.submit("#status")

    def close(self) -> None:
        self.context.close()


def endorse_self(walk: Walk) -> None:
    phone, _, _ = walk.server.holder()
    walk.sign_in(phone)
    # The status box's 办理签注: a button that answers "for whom" for the permit shown (it
    # leads to the residence step), or in older trees a link to that question.
    walk.follow(
        'main .status form[action="/endorse"] button, main a[href="/endorse"]',
        "input[name=for_whom]:not([type=hidden]), input[name=address_unchanged]",
    )
    if walk.page.locator("input[name=for_whom]:not([type=hidden])").count():
        walk.page.check("#for_whom")
        walk.submit("input[name=address_unchanged]")
    walk.page.check("#address_unchanged")
    walk.submit("#declaration")
    walk.page.check("#declaration")
    walk.submit("#reference")


def endorse_with_consent(walk: Walk) -> None:
    phone, _, _ = walk.server.holder()
    other_phone, other_name, other_id = walk.server.holder()
    walk.sign_in(phone)
    # 为他人办理签注 (in older trees 办理签注): the link to the question "for whom".
    walk.follow('main a[href="/endorse"]', "input[name=for_whom]")
    walk.page.check("#for_whom-1")
    walk.submit("#applicant_name")
    walk.page.fill("#applicant_name", other_name)
    walk.page.fill("#applicant_id_number", other_id)
    walk.page.locator("input[name=relationship]").last.check()
    walk.submit("#consent_code")
    walk.page.fill("#consent_code", walk.server.code(other_phone))
    walk.submit("input[name=address_unchanged]")
    walk.page.check("#address_unchanged")
    walk.submit("#declaration")
    walk.page.check("#declaration")
    walk.submit("#reference")


def deregister_self(walk: Walk) -> None:
    phone, name, id_number = walk.server.holder()
    walk.sign_in(phone)
    walk.follow('main a[href="/deregister"]', "input[name=declarant_role]")
    walk.page.check("#declarant_role")
    walk.submit("#declarant_name")
    walk.page.fill("#declarant_name", name)
    walk.page.fill("#declarant_id_number", id_number)
    walk.page.fill("#declarant_phone", phone)
    walk.submit("#reason")
    walk.page.check("#reason")
    walk.page.fill("#leave_date", date.today().isoformat())
    walk.submit("#declaration")
    walk.page.check("#declaration")
    walk.submit("#reference")


def add_family_member(walk: Walk) -> None:
    phone, _, _ = walk.server.holder()
    other_phone, other_name, other_id = walk.server.holder()
    walk.sign_in(phone)
    walk.follow('main a[href="/family"]', 'main a[href="/family/add"]')
    walk.follow('main a[href="/family/add"]', "#id_number")
    walk.page.fill("#name", other_name)
    walk.page.fill("#id_number", other_id)
    walk.page.locator("input[name=relationship]").last.check()
    # A relative who is not spouse, parent or child agrees by code, when asked (SPEC 2.9).
    walk.submit("#consent_code, main h1:text-is('家庭成员')")
    if walk.page.locator("#consent_code").count():
        walk.page.fill("#consent_code", walk.server.code(other_phone))
        walk.submit("main h1:text-is('家庭成员')")


def show_code(walk: Walk) -> None:
    phone, _, _ = walk.server.holder()
    walk.sign_in(phone)
    walk.follow('main a[href="/permit/code"]', "#permit-code svg")


def verify_code(walk: Walk) -> None:
    """The verifier's phone opens the scanned address: always a first visit."""
    walk.page.goto(walk.server.verify_url)  # type: ignore[attr-defined]
    walk.page.locator("#status").wait_for()


JOURNEYS: dict[str, Callable[[Walk], None]] = {
    "endorse for oneself": endorse_self,
    "endorse with a consent code": endorse_with_consent,
    "deregister oneself": deregister_self,
    "add a family member": add_family_member,
    "show the code (亮码)": show_code,
    "verify a code (/v/)": verify_code,
}


def code_address(browser: Any, server: Server) -> str:
    """A live code's address, as the verifier's phone reads it from the QR."""
    context = browser.new_context(base_url=server.url, java_script_enabled=False)
    page = context.new_page()
    walk = Walk.__new__(Walk)
    walk.server, walk.js, walk.page = server, False, page
    phone, _, _ = server.holder()
    walk.sign_in(phone)
    page.goto("/permit/code")
    import zxingcpp
    from PIL import Image

    shot = tempfile.mktemp(suffix=".png")
    page.locator("#permit-code").screenshot(path=shot)
    found = zxingcpp.read_barcodes(Image.open(shot))
    context.close()
    assert found, "the QR could not be read"
    return (
        found[0]
        .text.replace("https://epermit.guangzhou.gov.cn", server.url)
        .replace("http://localhost", server.url)
    )


def measure(browser: Any, server: Server) -> dict[tuple[str, str, bool], tuple[float, int, int]]:
    figures = {}
    for network in CHOSEN:
        for js in (True, False):
            for name, journey in JOURNEYS.items():
                if journey is verify_code:
                    # A code lives minutes: a fresh one, read from the screen first.
                    server.verify_url = code_address(browser, server)  # type: ignore[attr-defined]
                walk = Walk(browser, server, network, js)
                started = time.perf_counter()
                try:
                    journey(walk)
                finally:
                    elapsed = time.perf_counter() - started
                    walk.close()
                figures[(name, network, js)] = (elapsed, walk.bytes, walk.requests)
    return figures


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def network_benchmark() -> None:
    from playwright.sync_api import sync_playwright

    head = git("rev-parse", "--short", "HEAD")
    this = head + ("+changes" if git("status", "--porcelain", "--", "site") else "")
    trees: dict[str, Path] = {this: ROOT / "site"}
    with tempfile.TemporaryDirectory() as tmp:
        if BASELINE_REF:
            other = git("rev-parse", "--short", BASELINE_REF)
            git("worktree", "add", "--detach", "--quiet", f"{tmp}/ref", other)
            trees = {f"{other} (baseline)": Path(tmp) / "ref" / "site", **trees}
        results = {}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
                )
                for label, site in trees.items():
                    server = Server(site)
                    try:
                        results[label] = measure(browser, server)
                    finally:
                        server.stop()
                browser.close()
        finally:
            if BASELINE_REF:
                git("worktree", "remove", "--force", f"{tmp}/ref")
    report(results)


def report(results: dict[str, dict[tuple[str, str, bool], tuple[float, int, int]]]) -> None:
    labels = list(results)
    print("== Journeys on slow networks: Chromium, cold cache, no thinking time")
    print(f"{'journey':30} {'network':8} {'JS':4} " + " ".join(f"{label:>30}" for label in labels))
    for key in results[labels[-1]]:
        name, network, js = key
        cells = []
        for label in labels:
            seconds, size, requests = results[label][key]
            cells.append(f"{seconds:6.1f} s {size / 1024:6.1f} KB {requests:3d} req")
        print(
            f"{name:30} {network:8} {'on' if js else 'off':4} "
            + " ".join(f"{cell:>30}" for cell in cells)
        )
    this = results[labels[-1]]
    if ("endorse for oneself", "2G", True) not in this:
        return
    seconds = this[("endorse for oneself", "2G", True)][0]
    verify = this[("verify a code (/v/)", "2G", True)][1]
    print(
        f"endorsement for oneself, 2G, JS on: {seconds:.1f} s (goal at most {GOAL_SECONDS:.0f} s:"
        f" {'met' if seconds <= GOAL_SECONDS else 'not met'}); verifier's /v/ first visit:"
        f" {verify / 1024:.1f} KB (goal at most {GOAL_VERIFY_BYTES // 1024} KB:"
        f" {'met' if verify <= GOAL_VERIFY_BYTES else 'not met'})"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve_tree(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        network_benchmark()
