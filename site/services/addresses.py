"""The address register (标准地址, SPEC 9.1): adding addresses and searching them by district
and free text through the `addressterm` index, never by scanning every line.

Every address line is indexed by its two-character runs (after NFKC normalisation and case
folding, so full-width digits from Chinese input methods match). A search takes the runs of
each word of the query, finds through the index the addresses having all of them, and only on
those checks that each word appears whole.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from epermit.models import Address, AddressTerm

# SPEC 9.2: up to 20 matches are listed; a query needs at least 2 characters.
MAX_RESULTS = 20
MIN_QUERY_CHARS = 2
# A long query adds nothing but work: the first runs already narrow it to a handful.
MAX_TERMS = 8


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def query_words(q: str) -> list[str]:
    return normalise(q).split()


def terms_of(text: str) -> set[str]:
    """The two-character runs of each word of `text`."""
    return {word[i : i + 2] for word in normalise(text).split() for i in range(len(word) - 1)}


def add(
    session: Session,
    *,
    district: str,
    line: str,
    landlord_id: int | None = None,
    owner_id: int | None = None,
    organisation_id: int | None = None,
) -> Address:
    """Register an address and index it for search; the caller commits."""
    address = Address(
        district=district,
        line=line,
        landlord_id=landlord_id,
        owner_id=owner_id,
        organisation_id=organisation_id,
    )
    session.add(address)
    session.flush()
    index(session, address)
    return address


def index(session: Session, address: Address) -> None:
    """(Re)write an address's search terms."""
    session.execute(sa.delete(AddressTerm).where(col(AddressTerm.address_id) == address.id))
    session.add_all(
        AddressTerm(term=term, address_id=address.id, district=address.district)  # type: ignore[arg-type]
        for term in sorted(terms_of(address.line))
    )
    session.flush()


def reindex_all(session: Session) -> int:
    """Index every address that has no terms yet (addresses made before the index was), in
    one multi-row insert: the demo's register, or a register loaded in bulk."""
    unindexed = session.exec(
        select(Address).where(~sa.exists().where(col(AddressTerm.address_id) == Address.id))
    ).all()
    rows = [
        {"term": term, "address_id": address.id, "district": address.district}
        for address in unindexed
        for term in sorted(terms_of(address.line))
    ]
    if rows:
        # The table's own INSERT, run as one executemany: no ORM bookkeeping per term.
        session.connection().execute(sa.insert(AddressTerm.__table__), rows)  # type: ignore[attr-defined]
    return len(unindexed)


def searchable(q: str) -> bool:
    return len("".join(query_words(q))) >= MIN_QUERY_CHARS and bool(terms_of(q))


def search(
    session: Session, *, q: str, district: str | None = None, limit: int = MAX_RESULTS
) -> list[Address]:
    """Addresses whose line contains every word of `q`, in `district` if given, by line."""
    if not terms_of(q):
        return []
    return list(session.exec(search_query(q, district, limit)).all())


def search_query(q: str, district: str | None, limit: int = MAX_RESULTS) -> Any:
    """The search as one statement: the index finds the candidates, the words check them."""
    terms = sorted(terms_of(q))[:MAX_TERMS]
    candidates = select(AddressTerm.address_id).where(col(AddressTerm.term).in_(terms))
    if district:
        candidates = candidates.where(AddressTerm.district == district)
    candidates = candidates.group_by(col(AddressTerm.address_id)).having(
        sa.func.count() == len(terms)
    )
    query = select(Address).where(col(Address.id).in_(candidates))
    for word in query_words(q):
        # On the few candidates only: a word's runs may all be there but apart.
        query = query.where(col(Address.line).contains(word, autoescape=True))
    return query.order_by(col(Address.line)).limit(limit)
