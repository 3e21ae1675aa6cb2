"""Failing well (issue 9, item 4): with the database unreachable, stopped mid-request or its
write lock held, pages answer 503 in Chinese with every security header and Retry-After,
nothing is half-written, and reads do not wait."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from flask import Flask
from sqlmodel import func, select

from epermit import create_app, db, demo
from epermit.models import AuditEvent, OneTimeCode, Person, SmsOutbox
from tests.conftest import ClientRequest, check_page, csrf_token_of

SECURITY_HEADERS = {
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "X-Frame-Options",
    "Cross-Origin-Opener-Policy",
    "Permissions-Policy",
    "Cache-Control",
}


def assert_unavailable_page(response) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == 503, html[:500]
    assert response.headers["Retry-After"].isdigit()
    missing = SECURITY_HEADERS - set(response.headers.keys())
    assert not missing, f"security headers missing: {missing}"
    soup = BeautifulSoup(html, "html.parser")
    check_page(soup, html)
    assert soup.h1 is not None and soup.h1.get_text(strip=True) == "系统暂时无法使用"
    assert "没有生效" in soup.main.get_text() if soup.main else False


def counts(dbsession) -> tuple[int, int, int]:
    dbsession.rollback()
    return tuple(
        dbsession.exec(select(func.count()).select_from(table)).one()
        for table in (OneTimeCode, SmsOutbox, AuditEvent)
    )


def unreachable_url(database_url: str, tmp_path: Path) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'no-such-folder' / 'epermit.db'}"
    return "postgresql+psycopg://postgres@127.0.0.1:1/epermit"  # nothing listens on port 1


def test_an_unreachable_database_answers_503_in_chinese_with_the_security_headers(
    database_url: str, tmp_path: Path
):
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": unreachable_url(database_url, tmp_path),
            "SECRET_KEY": "test-secret",
            "SMS_OUTBOX": str(tmp_path / "sms-outbox.jsonl"),
        }
    )
    client = app.test_client()
    token = csrf_token_of(client)  # the sign-in page itself needs no database
    started = time.monotonic()
    answer = client.post("/login", data={"phone": "13800000001", "csrf_token": token})
    assert time.monotonic() - started < 8
    assert_unavailable_page(answer)
    # An htmx swap gets the same page as a partial, still 503.
    partial = client.post(
        "/login", data={"phone": "13800000001", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert partial.status_code == 503 and "<html" not in partial.get_data(as_text=True)
    assert "系统暂时无法使用" in partial.get_data(as_text=True)
    assert client.get("/healthz").status_code == 503


def kill_own_connection_at(
    engine: sa.Engine, statement_start: str
) -> tuple[list[str], Callable[[], None]]:
    """Terminate, from another connection, the server process of the connection that is
    about to run a statement beginning with `statement_start`: PostgreSQL going away in the
    middle of a request. Returns what was killed and how to stop."""
    killed: list[str] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _kill(connection, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith(statement_start) and not killed:
            pid = connection.connection.dbapi_connection.info.backend_pid
            with sa.create_engine(str(engine.url)).connect() as other:
                other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            killed.append(statement)

    return killed, lambda: sa.event.remove(engine, "before_cursor_execute", _kill)


def test_the_database_stopped_mid_request_answers_503_and_writes_nothing(
    app: Flask, client_request: ClientRequest, dbsession, outbox
):
    engine = db.engine_of(app)
    if engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL to kill the request's own server connection (run with "
                    "TEST_DATABASE_URL); SQLite's failure is the held write lock, tested below")
    before = counts(dbsession)
    # Sign-in writes a code, an SMS and an audit event; the server dies at the last of them.
    killed, stop = kill_own_connection_at(engine, "INSERT INTO AUDITEVENT")
    token = csrf_token_of(client_request.client)
    answer = client_request.client.post(
        "/login", data={"phone": demo.phone("张伟"), "csrf_token": token}
    )
    assert killed, "the request never reached its audit insert"
    assert_unavailable_page(answer)
    assert counts(dbsession) == before, "the code or the SMS was written without the rest"
    assert outbox.messages() == []
    # The next request gets a fresh connection and succeeds.
    stop()
    answer = client_request.client.post(
        "/login", data={"phone": demo.phone("张伟"), "csrf_token": token}
    )
    assert answer.status_code == 303
    assert len(outbox.last_code(demo.phone("张伟"))) == 6


def sqlite_path(app: Flask) -> str:
    return app.config["DATABASE_URL"].removeprefix("sqlite:///")


def test_the_default_wait_for_the_write_lock_is_five_seconds(app: Flask):
    assert create_app({"DATABASE_URL": app.config["DATABASE_URL"]}).config[
        "DATABASE_LOCK_TIMEOUT"
    ] == 5


@pytest.mark.app_config(DATABASE_LOCK_TIMEOUT=1)
def test_on_sqlite_a_write_waiting_for_the_lock_gives_up_with_the_503_page_and_reads_never_wait(
    app: Flask, client_request: ClientRequest, auth, dbsession
):
    if not app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("SQLite's database-wide write lock; PostgreSQL locks rows")
    auth.login("张伟")
    token = csrf_token_of(client_request.client)
    before = counts(dbsession)
    holder = sqlite3.connect(sqlite_path(app), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # a long write transaction elsewhere
    try:
        started = time.monotonic()
        answer = client_request.client.post(
            "/family/add",
            data={"name": "张小明", "id_number": demo.person("张小明").id_number,
                  "relationship": "child", "csrf_token": token},
        )
        waited = time.monotonic() - started
        assert_unavailable_page(answer)
        assert waited < 3, f"the write waited {waited:.1f} s for the lock"
        # Reads go on while the lock is held: the health check and a signed-in page.
        started = time.monotonic()
        assert client_request.client.get("/healthz").status_code == 200
        page = client_request.get("/permit")
        assert "张伟" in page.main_text
        assert time.monotonic() - started < 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert counts(dbsession) == before
    # With the lock free again the same write goes through.
    answer = client_request.client.post("/logout", data={"csrf_token": token})
    assert answer.status_code == 303
    dbsession.rollback()
    assert dbsession.exec(select(Person).where(Person.name == "张伟")).one().session_epoch == 1


def test_an_error_page_for_a_signed_in_person_renders_without_the_database(
    app: Flask, client_request: ClientRequest, auth, dbsession
):
    auth.login("张伟")
    engine = db.engine_of(app)
    # Every connection the app opens from now on fails, as when the server is down.
    engine.dispose()
    real_url = app.config["DATABASE_URL"]
    app.extensions["db_engine"] = db.make_engine(unreachable_url(real_url, Path("/nonexistent")))
    try:
        answer = client_request.client.get("/permit")
        assert_unavailable_page(answer)
        assert "已登录" not in answer.get_data(as_text=True)
        # A page that does not exist is still "not found", answered without the database.
        missing = client_request.client.get("/no-such-page")
        assert missing.status_code == 404
        assert "找不到页面" in missing.get_data(as_text=True)
        assert not SECURITY_HEADERS - set(missing.headers.keys())
    finally:
        app.extensions["db_engine"] = engine
