"""What SQLAlchemy knows at run time but its types do not say, and reads it should make
cheaply; no Flask, no models."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.orm import Session, make_transient_to_detached

T = TypeVar("T")
V = TypeVar("V")


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


@functools.cache
def table_of(model: type) -> sa.Table:
    """A model's table (SQLAlchemy types it as any FromClause), for statements built once on
    the table itself: they load no objects and need no unit of work."""
    table: Any = sa.inspect(model).local_table
    assert isinstance(table, sa.Table)
    return table


class _Loads:
    """How rows of one model are read without the ORM loading them: its table's columns in
    the order of its attributes, and the SELECT of one row by primary key, built once."""

    def __init__(self, model: type) -> None:
        mapper: sa.orm.Mapper[Any] = sa.inspect(model)
        self.mapper = mapper
        self.attrs = [attr.key for attr in mapper.column_attrs]
        self.columns = [attr.columns[0] for attr in mapper.column_attrs]
        (key,) = mapper.primary_key
        self.key_index = next(i for i, column in enumerate(self.columns) if column is key)
        self.by_id = sa.select(*self.columns).where(key == sa.bindparam("ident"))


class _PerModel(dict[type, V]):
    """What is built once per model, on first use."""

    def __init__(self, build: Callable[[type], V]) -> None:
        super().__init__()
        self.build = build

    def __missing__(self, model: type) -> V:
        made = self[model] = self.build(model)
        return made


_LOADS = _PerModel(_Loads)


def columns_of(model: type, alias: sa.FromClause | None = None) -> list[Any]:
    """The columns to select for `attach` to make an object of `model` from, in its order: of
    its table, or of an `alias` of it (the same model twice in one statement)."""
    columns = _LOADS[model].columns
    return list(columns) if alias is None else [alias.c[column.key] for column in columns]


def split(row: Sequence[Any], *models: type) -> list[Sequence[Any]]:
    """A row that selected `columns_of` each model in turn, cut into each model's part (for
    `attach`); columns after them are left out."""
    parts: list[Sequence[Any]] = []
    at = 0
    for model in models:
        width = len(_LOADS[model].columns)
        parts.append(row[at : at + width])
        at += width
    return parts


def attach(session: Session, model: type[T], row: Sequence[Any]) -> T:
    """The object of `model` for a row of `columns_of(model)` read by a statement that loads
    no objects: the session's own object of that row if it has one (as a SELECT of the model
    gives it, unchanged), otherwise a new one, kept in the session as if the ORM had loaded it.

    The ORM readies its loading of objects on every statement that loads them, before any
    row: for a read of one row that took longer than the read itself (bench/cpu.py).
    """
    loads = _LOADS[model]
    key = loads.mapper.identity_key_from_primary_key((row[loads.key_index],))
    known = session.identity_map.get(key)
    if known is not None:
        return known
    instance = loaded(model, row)
    session.add(instance)
    return instance


def loaded(model: type[T], row: Sequence[Any]) -> T:
    """An object of `model` for a row of `columns_of(model)`, made as the ORM makes one it
    loads (without __init__, its attributes set as read), in no session."""
    loads = _LOADS[model]
    instance: T = loads.mapper.class_manager.new_instance()
    sa.inspect(instance).dict.update(zip(loads.attrs, row, strict=True))
    make_transient_to_detached(instance)
    return instance


def attach_joined(session: Session, model: type[T], row: Sequence[Any]) -> T | None:
    """`attach`, for the columns of an outer join's side: None where it matched no row (its
    primary key is NULL)."""
    if row[_LOADS[model].key_index] is None:
        return None
    return attach(session, model, row)


def run(
    session: Session,
    statement: sa.Executable,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
) -> CursorResult[*tuple[Any, ...]]:
    """Run a statement built on tables (one that loads no objects) in the session's
    transaction, on its connection. `Session.execute` does the same for such a statement: it
    flushes nothing and loads nothing for it, but its ORM bookkeeping around every call cost
    a short read about a sixth more CPU, on the statements every page runs."""
    return session.connection().execute(statement, params)


def fetch(session: Session, model: type[T], ident: Any) -> T | None:
    """The row of `model` with this primary key, read from the database (never only from the
    session's identity map, unlike `Session.get`: for rows a request reads first).

    `Session.get` builds a new SELECT on every miss, and SQLAlchemy must then work out its
    cache key before it finds the compiled form: nearly as long as running it. This SELECT is
    built once per model, so its key is worked out once, and loads no objects (`attach`).
    """
    row = run(session, _LOADS[model].by_id, {"ident": ident}).first()
    return attach(session, model, row) if row is not None else None


class _Inserts:
    """The INSERTs of one model, built once: with RETURNING of a key the database chooses,
    and without, for a row that brings its own."""

    def __init__(self, model: type) -> None:
        mapper: sa.orm.Mapper[Any] = sa.inspect(model)
        (key,) = mapper.primary_key
        table = table_of(model)
        self.columns = [(attr.key, attr.columns[0].name) for attr in mapper.column_attrs]
        self.key_attr = mapper.get_property_by_column(key).key
        self.key_name = key.name
        self.given = sa.insert(table)
        self.chosen = sa.insert(table).returning(key)


_INSERTS = _PerModel(_Inserts)


def insert(session: Session, row: T) -> T:
    """Write a new row now, with an INSERT built once per model, and keep the object in the
    session as if it had been read: the same row and object that `session.add` and a flush
    would give, without the unit of work (which objects, in what order, what to fetch back),
    whose flush of one new object cost about four times the INSERT itself.

    Every column is written with the object's value (a default the model declares is set on
    the object when it is made); a primary key left None is chosen by the database and read
    back with RETURNING (SQLite 3.35, PostgreSQL).
    """
    inserts = _INSERTS[type(row)]
    values = {name: getattr(row, attr) for attr, name in inserts.columns}
    if values[inserts.key_name] is None:
        del values[inserts.key_name]
        setattr(row, inserts.key_attr, run(session, inserts.chosen, values).scalar_one())
    else:
        run(session, inserts.given, values)
    make_transient_to_detached(row)
    session.add(row)
    return row
