"""What SQLAlchemy knows at run time but its types do not say, and reads it should make
cheaply; no Flask, no models."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.orm import Session, make_transient_to_detached

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


class _Inserts:
    """The INSERTs of one model, built once: with RETURNING of a key the database chooses,
    and without, for a row that brings its own."""

    def __init__(self, model: type) -> None:
        mapper = sa.inspect(model)
        (key,) = mapper.primary_key
        table = mapper.local_table
        assert isinstance(table, sa.Table)
        self.columns = [(attr.key, attr.columns[0].name) for attr in mapper.column_attrs]
        self.key_attr = mapper.get_property_by_column(key).key
        self.key_name = key.name
        self.given = sa.insert(table)
        self.chosen = sa.insert(table).returning(key)


_INSERTS: dict[type, _Inserts] = {}


def insert(session: Session, row: T) -> T:
    """Write a new row now, with an INSERT built once per model, and keep the object in the
    session as if it had been read: the same row and object that `session.add` and a flush
    would give, without the unit of work (which objects, in what order, what to fetch back),
    whose flush of one new object cost about four times the INSERT itself.

    Every column is written with the object's value (a default the model declares is set on
    the object when it is made); a primary key left None is chosen by the database and read
    back with RETURNING (SQLite 3.35, PostgreSQL).
    """
    inserts = _INSERTS.get(type(row))
    if inserts is None:
        inserts = _INSERTS[type(row)] = _Inserts(type(row))
    values = {name: getattr(row, attr) for attr, name in inserts.columns}
    if values[inserts.key_name] is None:
        del values[inserts.key_name]
        setattr(row, inserts.key_attr, session.execute(inserts.chosen, values).scalar_one())
    else:
        session.execute(inserts.given, values)
    make_transient_to_detached(row)
    session.add(row)
    return row
