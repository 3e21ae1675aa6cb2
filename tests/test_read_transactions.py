"""How a request's transaction ends (db.end_reading): a page that only read commits, so that
PostgreSQL keeps the statements psycopg prepared on its connection; anything that failed or
left changes unflushed rolls back as before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from epermit import db


@pytest.fixture
def endings(app: Flask) -> Iterator[list[str]]:
    """How each transaction on the app's engine ended, in order."""
    ended: list[str] = []
    engine = db.engine_of(app)

    def committed(_connection: sa.Connection) -> None:
        ended.append("commit")

    def rolled_back(_connection: sa.Connection) -> None:
        ended.append("rollback")

    sa.event.listen(engine, "commit", committed)
    sa.event.listen(engine, "rollback", rolled_back)
    yield ended
    sa.event.remove(engine, "commit", committed)
    sa.event.remove(engine, "rollback", rolled_back)


def test_a_page_that_only_reads_ends_in_a_commit_on_postgresql(
    app: Flask, client_request, auth, endings
):
    auth.login("张伟")
    endings.clear()
    page = client_request.get("/permit")
    assert "张伟" in page.text("main")
    # SQLite keeps no prepared statements across transactions: a rollback, as before.
    postgresql = db.engine_of(app).dialect.name == "postgresql"
    assert endings == ["commit" if postgresql else "rollback"]


def test_a_page_refused_rolls_back(client_request, auth, endings):
    auth.login("张伟")
    endings.clear()
    client_request.get("/cases/QZ20260101AAAAAAA", expected_status=404)
    assert "commit" not in endings and endings, endings


def test_an_object_changed_and_not_flushed_on_a_page_is_never_written(app: Flask, endings):
    from flask import g

    from epermit.models import Person

    with app.test_request_context("/permit", method="GET"):
        app.preprocess_request()
        session = db.get_session()
        person = session.get(Person, 1)
        assert person is not None
        person.name = "改了"  # as a page might for display only, never to be kept
        db.end_reading(200)
        db.discard_session()
        assert "db_session" not in g
    assert endings == ["rollback"]
    with db.session_scope(db.engine_of(app), write=False) as session:
        kept = session.get(Person, 1)
        assert kept is not None and kept.name != "改了"


def test_postgresql_keeps_prepared_statements_across_pages(app: Flask, client_request, auth):
    engine = db.engine_of(app)
    if engine.dialect.name != "postgresql":
        pytest.skip("psycopg's prepared statements are PostgreSQL's; SQLite prepares none")
    connections: list[Any] = []

    def checked_in(dbapi_connection: Any, _record: Any) -> None:
        connections.append(dbapi_connection)

    sa.event.listen(engine, "checkin", checked_in)
    try:
        auth.login("张伟")
        # psycopg prepares a statement at its sixth run on a connection.
        for _ in range(7):
            client_request.get("/permit")
    finally:
        sa.event.remove(engine, "checkin", checked_in)
    connection = connections[-1]
    # The pooled connection the last page used, idle in the pool: asked directly.
    prepared = connection.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
    connection.rollback()
    assert prepared > 0, "a read-only page's rollback made psycopg forget its statements"
