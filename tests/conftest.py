"""Fixtures: the SPEC 7 demo world on a real database (SQLite, or PostgreSQL when
TEST_DATABASE_URL is set), a movable clock, the SMS outbox, and `client_request`, which
checks every page it fetches the way GOV.UK Notify's fixture does."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup, Tag
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, SQLModel
from werkzeug.serving import make_server

from epermit import clock as app_clock
from epermit import create_app, db, delivery, demo
from epermit.extensions import limiter

# 10:00 in Guangzhou: far from midnight, so "today" is the same in UTC and Asia/Shanghai.
START = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


@dataclass
class Clock:
    moment: datetime = START

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)

    @property
    def today(self) -> date:
        return self.moment.astimezone(app_clock.SHANGHAI).date()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE"))
            connection.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    db.upgrade(url)
    return url


def empty_all_tables(engine: sa.Engine) -> None:
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(sa.text(f"DELETE FROM {table}"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(
    database_url: str, tmp_path: Path, clock: Clock, request: pytest.FixtureRequest
) -> Iterator[Flask]:
    # @pytest.mark.app_config(KEY=value) sets what create_app must see from the start.
    marker = request.node.get_closest_marker("app_config")
    # @pytest.mark.app_wizards(*wizards) serves those services instead of the registered ones.
    wizards = request.node.get_closest_marker("app_wizards")
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret",
            "SMS_BACKEND": "file",
            "SMS_OUTBOX": str(tmp_path / "sms-outbox.jsonl"),
            # A page answers once its SMS is in the outbox file; the wait ends as soon as the
            # deliverer's pass does, so a long bound only matters on a machine under load.
            "SMS_DELIVERY_WAIT": 30,
            "RATELIMIT_STORAGE_URI": "memory://",
            "CLOCK": clock,
            "PUBLIC_BASE_URL": "http://localhost",
            **(marker.kwargs if marker else {}),
        },
        **({"wizards": wizards.args} if wizards else {}),
    )
    engine = db.engine_of(app)
    empty_all_tables(engine)
    with db.session_scope(engine) as session:
        demo.seed(session, clock.today, clock())
    limiter.reset()
    yield app
    delivery.of(app).stop()
    engine.dispose()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def dbsession(app: Flask) -> Iterator[Session]:
    """A database session for arranging and checking state directly.

    It does not take SQLite's write lock up front, so the app can write while a test holds
    it; call `rollback()` before reading what a request has just written (a read transaction
    keeps seeing its snapshot), and `commit()` after arranging.
    """
    s = db.new_session(db.engine_of(app))
    try:
        yield s
    finally:
        s.rollback()
        s.close()


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = path

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows = [json.loads(line) for line in self.path.read_text().splitlines() if line]
        return [row for row in rows if to is None or row["to"] == to]

    def last_code(self, to: str) -> str:
        codes = [row["code"] for row in self.messages(to) if "code" in row]
        assert codes, f"no code was sent to {to}"
        return codes[-1]


@pytest.fixture
def outbox(app: Flask) -> Outbox:
    return Outbox(Path(app.config["SMS_OUTBOX"]))


def csrf_token_of(client: FlaskClient) -> str:
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert match, "the sign-in page has no CSRF token"
    return match.group(1)


@dataclass
class Auth:
    client: FlaskClient
    outbox: Outbox

    def login(self, who: str) -> None:
        """Sign in as a demo person, by name ("张伟"), or with any phone number."""
        phone = who if who.isdigit() else demo.phone(who)
        token = csrf_token_of(self.client)
        answer = self.client.post("/login", data={"phone": phone, "csrf_token": token})
        assert answer.status_code == 303, answer.get_data(as_text=True)
        answer = self.client.post(
            "/login/verify",
            data={"code": self.outbox.last_code(phone), "csrf_token": token},
        )
        assert answer.status_code == 303, answer.get_data(as_text=True)

    def logout(self) -> None:
        self.client.post("/logout", data={"csrf_token": csrf_token_of(self.client)})


@pytest.fixture
def auth(client: FlaskClient, outbox: Outbox) -> Auth:
    return Auth(client, outbox)


@dataclass
class Page:
    """A fetched page, parsed and checked."""

    response: Any
    soup: BeautifulSoup
    status: int = field(init=False)

    def __post_init__(self) -> None:
        self.status = self.response.status_code

    @property
    def location(self) -> str | None:
        return self.response.headers.get("Location")

    def text(self, selector: str) -> str:
        element = self.soup.select_one(selector)
        assert element is not None, f"no {selector} on the page"
        return " ".join(element.get_text(" ", strip=True).split())

    @property
    def h1(self) -> str:
        return self.text("h1")

    @property
    def main_text(self) -> str:
        return self.text("main")

    def errors(self) -> dict[str, str]:
        """Field name -> message, read from the per-field messages."""
        return {
            attr(p, "id").removesuffix("-error"): " ".join(p.get_text(" ", strip=True).split())
            for p in self.soup.select("p.error-message")
        }


def attr(tag: Tag, name: str, default: str | None = None) -> str:
    """A single-valued attribute's text: bs4 types any attribute as maybe a list or absent."""
    value = tag.get(name, default)
    assert isinstance(value, str), f"<{tag.name}> has no {name!r} attribute"
    return value


def check_page(soup: BeautifulSoup, html: str) -> None:
    """What every full page must get right (STYLE: Notify's client_request)."""
    assert html.lstrip().lower().startswith("<!doctype html>")
    root = soup.find("html")
    assert root is not None and root.get("lang") == "zh-CN"
    assert len(soup.find_all("main")) == 1, "exactly one <main>"
    h1s = soup.find_all("h1")
    assert len(h1s) == 1, f"exactly one <h1>, found {len(h1s)}"
    h1 = " ".join(h1s[0].get_text(" ", strip=True).split())
    title = " ".join(soup.title.get_text().split()) if soup.title else ""
    assert title.removeprefix("错误: ").startswith(h1), f"title {title!r} must start with {h1!r}"
    has_summary = soup.select_one(".error-summary") is not None
    assert title.startswith("错误: ") == has_summary, "error title prefix iff error summary"
    if has_summary:
        main = soup.find("main")
        first = main.find(True) if isinstance(main, Tag) else None
        assert isinstance(first, Tag) and "error-summary" in first.get_attribute_list("class"), (
            "the error summary opens <main>"
        )
    check_fragment(soup)


def check_fragment(soup: BeautifulSoup) -> None:
    """Checks that hold for a page and for an htmx partial alike."""
    ids = [element["id"] for element in soup.find_all(id=True)]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"duplicate ids: {duplicates}"
    known = set(ids)
    for form in soup.find_all("form"):
        assert form.get("action"), f"form without action: {form}"
        if attr(form, "method", "get").lower() == "post":
            assert form.find("input", attrs={"name": "csrf_token"}), "POST form without CSRF token"
    for label in soup.select("label[for]"):
        assert label["for"] in known, f"label for missing id {label['for']}"
    for element in soup.select("[aria-describedby]"):
        for ref in attr(element, "aria-describedby").split():
            assert ref in known, f"aria-describedby points at missing id {ref}"
    for link in soup.select(".error-summary a"):
        assert attr(link, "href").lstrip("#") in known, (
            f"error summary link to missing {link['href']}"
        )
    for message in soup.select("p.error-message"):
        assert attr(message, "id", "").endswith("-error")


class ClientRequest:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def _page(self, response: Any, expected_status: int, partial: bool) -> Page:
        html = response.get_data(as_text=True)
        # As a WSGI server does once the answer is written: work deferred to then (the SMS
        # deliverer's pass) runs now.
        response.close()
        assert response.status_code == expected_status, (
            f"expected {expected_status}, got {response.status_code}: {html[:2000]}"
        )
        soup = BeautifulSoup(html, "html.parser")
        if response.mimetype == "text/html" and response.status_code not in (301, 302, 303):
            if partial:
                assert "<html" not in html and "<title>" in html
                check_fragment(soup)
            else:
                check_page(soup, html)
        return Page(response, soup)

    def get(self, url: str, expected_status: int = 200, htmx: bool = False) -> Page:
        headers = {"HX-Request": "true"} if htmx else {}
        return self._page(self.client.get(url, headers=headers), expected_status, htmx)

    def post(
        self,
        url: str,
        data: dict[str, Any] | None = None,
        expected_status: int = 303,
        htmx: bool = False,
        csrf: bool = True,
    ) -> Page:
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", csrf_token_of(self.client))
        headers = {"HX-Request": "true"} if htmx else {}
        return self._page(self.client.post(url, data=data, headers=headers), expected_status, htmx)


@pytest.fixture
def client_request(client: FlaskClient) -> ClientRequest:
    return ClientRequest(client)
