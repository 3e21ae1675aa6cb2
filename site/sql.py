"""What SQLAlchemy knows at run time but its types do not say, and reads it should make
cheaply; no Flask, no models."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.orm import Session

T = TypeVar("T")


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run through `Session.execute` matched.

    The session types every result as `Result`, whose type has no `rowcount`; for DML it
    is in fact a `CursorResult`, and the assert says so rather than an ignore.
    """
    assert isinstance(result, CursorResult)
    return result.rowcount


# The largest id an INTEGER column holds on PostgreSQL (and the largest SQLite hands out here):
# a larger number names no row, and PostgreSQL refuses to compare a column with it.
ID_MAX = 2**31 - 1


def fits_id(value: int) -> bool:
    """Whether `value` can be a row's id at all."""
    return 1 <= value <= ID_MAX


class _Row(Protocol):
    id: int | None


def saved_id(row: _Row) -> int:
    """The primary key of a row the session has flushed (SQLModel types it `int | None`,
    since a new row has none until then)."""
    assert row.id is not None, f"{type(row).__name__} not flushed yet"
    return row.id


_BY_ID: dict[type, sa.Select[Any]] = {}


def fetch(session: Session, model: type[T], ident: Any) -> T | None:
    """The row of `model` with this primary key, read from the database (never only from the
    session's identity map, unlike `Session.get`: for rows a request reads first).

    `Session.get` builds a new SELECT on every miss, and SQLAlchemy must then work out its
    cache key before it finds the compiled form: nearly as long as running it. This SELECT is
    built once per model, so its key is worked out once.
    """
    statement = _BY_ID.get(model)
    if statement is None:
        (key,) = sa.inspect(model).primary_key
        statement = _BY_ID[model] = sa.select(model).where(key == sa.bindparam("ident"))
    return session.execute(statement, {"ident": ident}).scalar_one_or_none()
