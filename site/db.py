"""Engine, per-request sessions and migrations, the same code for SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, overload

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from flask import Flask, Response, g, request
from sqlmodel import Session

MIGRATIONS = Path(__file__).parent / "migrations"
F = TypeVar("F", bound=Callable[..., Any])


# Errors that say the database cannot be reached or cannot take this request now (down,
# restarting, a killed connection, SQLite's write lock held past the timeout), rather than a
# fault in the request: answered 503 with Retry-After (views.main), never a crash page.
UNAVAILABLE: tuple[type[Exception], ...] = (sa.exc.OperationalError, sa.exc.InterfaceError)


def is_unavailable(error: BaseException) -> bool:
    return isinstance(error, UNAVAILABLE) or (
        isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated
    )


def make_engine(url: str, lock_timeout: float = 5.0) -> sa.Engine:
    """`lock_timeout`: seconds a SQLite writer waits for the write lock before giving up
    (readers never wait: WAL lets them read the last commit while a writer works)."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"timeout": lock_timeout, "check_same_thread": False}
        )
        busy_ms = int(lock_timeout * 1000)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide when a transaction begins (see _begin).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(connection: sa.Connection) -> None:
            # A deferred transaction that reads and then writes can fail at once with
            # "database is locked" when another writer got in between; taking the write
            # lock up front makes concurrent writers wait their turn instead.
            # Sent on the driver's connection itself: through SQLAlchemy's execution machinery
            # this one word cost about 30 µs a transaction (bench/cpu.py). Its failure (the
            # write lock still held when the wait is over) is raised as SQLAlchemy's own, as
            # exec_driver_sql would: the 503 page knows it by that.
            statement = (
                "BEGIN IMMEDIATE"
                if connection.get_execution_options().get("sqlite_immediate")
                else "BEGIN"
            )
            driver = connection.connection.driver_connection
            assert driver is not None
            try:
                driver.execute(statement)
            except sqlite3.OperationalError as error:
                raise sa.exc.OperationalError(statement, (), error) from error

        return engine
    # A server that does not answer must not hold a request for the system's TCP timeout.
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        connect_args={"connect_timeout": max(1, round(lock_timeout))},
    )


@overload
def writer(bind: sa.Engine) -> sa.Engine: ...
@overload
def writer(bind: sa.Connection) -> sa.Connection: ...
def writer(bind: sa.Engine | sa.Connection) -> sa.Engine | sa.Connection:
    """The engine (or connection) whose transactions take SQLite's write lock up front (see
    _begin). A connection is changed in place: the option holds for all it runs."""
    return bind.execution_options(sqlite_immediate=True)


def new_session(engine: sa.Engine, *, write: bool = False) -> Session:
    return Session(writer(engine) if write else engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: sa.Engine, *, write: bool = True) -> Iterator[Session]:
    """A session for commands and tests: commits on success, rolls back on error."""
    session = new_session(engine, write=write)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"], app.config.get("DATABASE_LOCK_TIMEOUT", 5))
    app.extensions["db_engine"] = engine
    # Made once: a POST's session asks for it on every request.
    app.extensions["db_writer"] = writer(engine)

    @app.after_request
    def _end_reading(response: Response) -> Response:
        end_reading(response.status_code)
        return response

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        discard_session()


def end_reading(status: int) -> None:
    """End a request's read-only transaction with COMMIT rather than the ROLLBACK its
    session's close would send.

    On PostgreSQL psycopg prepares a statement once it has run five times on a connection,
    and forgets every statement prepared on it at any ROLLBACK that ends a transaction (it
    sends DEALLOCATE ALL: a statement prepared in that transaction may be gone). Most pages
    only read: ended by a rollback, each would cost its pooled connection its prepared
    statements, and the next pages on it would parse and plan every statement again (the
    staff person page's SQL took about 5.5 ms so, 3.2 ms prepared; bench/staff.py). A
    commit of a transaction that wrote nothing is as cheap and does not clear them.

    Only on PostgreSQL, a GET's session on the reading engine, answered below 400, with no
    object changes waiting to be flushed: whatever went wrong or was left half-done still
    rolls back."""
    session: Session | None = g.get("db_session")
    if (
        session is None
        or status >= 400
        or not session.info.get("reading")
        or not session.in_transaction()
        or session.new
        or session.dirty
        or session.deleted
    ):
        return
    try:
        session.commit()
    except sa.exc.SQLAlchemyError:
        pass  # the connection failed: discard_session rolls back or lets it go


def discard_session() -> None:
    """Close the request's session, if any. Its connection may be dead (the server went away
    mid-request): closing must not turn an answered request into a crash."""
    session = g.pop("db_session", None)
    if session is not None:
        try:
            session.close()
        except sa.exc.SQLAlchemyError:
            session.invalidate()


def engine_of(app: Flask) -> sa.Engine:
    return app.extensions["db_engine"]


def writes_on_get(view: F) -> F:
    """Mark a GET view that writes (e.g. `GET /endorse` creates a draft), so that its
    transaction takes SQLite's write lock up front like a POST does (see _begin)."""
    # A function object takes any attribute, though its type declares none.
    view.writes_on_get = True  # type: ignore[attr-defined]
    return view


def get_session() -> Session:
    """The request's session; a POST takes SQLite's write lock up front (see _begin)."""
    # Asked for many times a request: one look-up through the `g` proxy, not two.
    session: Session | None = g.get("db_session")
    if session is None:
        from flask import current_app

        view = current_app.view_functions.get(request.endpoint or "")
        write = request.method not in ("GET", "HEAD", "OPTIONS") or getattr(
            view, "writes_on_get", False
        )
        bind = current_app.extensions["db_writer" if write else "db_engine"]
        session = g.db_session = Session(bind, expire_on_commit=False)
        # On PostgreSQL a GET's transaction that only reads ends in a commit (end_reading);
        # SQLite prepares nothing across transactions, and its rollback is the cheaper end.
        session.info["reading"] = not write and bind.dialect.name == "postgresql"
    return session


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    command.upgrade(alembic_config(url), "head")
