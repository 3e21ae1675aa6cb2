"""What SQLAlchemy knows at run time but its types do not say; no Flask, no models."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.engine import CursorResult, Result


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
