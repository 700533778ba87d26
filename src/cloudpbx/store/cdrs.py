"""Call detail records in the `cdrs` table: inserts of one leg or of many, pages over a created range, an
interaction's legs.

Pages are keyset pages in (created, id) order, so a listing that spans months walks one index and never skips
or repeats a row when legs are added meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

import orjson
from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from cloudpbx.store.documents import Doc, Store, Tx
from cloudpbx.store.errors import Conflict
from cloudpbx.store.tables import cdrs

Key = tuple[int, str | None]  # (created, id) where a page starts; no id means the whole second
CHUNK = 500


@dataclass(frozen=True)
class Span:
    """Which legs a listing walks: one account (optionally one owner's legs), a closed created range, an order."""

    account_id: str
    created_from: int
    created_to: int
    owner_id: str | None = None
    descending: bool = True


@dataclass(frozen=True)
class Row:
    """What the table keeps beside the body: the keys and the columns it is found by."""

    account_id: str
    month: str
    id: str
    created: int
    interaction_id: str
    call_id: str
    owner_id: str | None


def _load(row) -> Doc:
    doc = orjson.loads(row.body)
    doc["_id"] = row.id
    doc["pvt_created"] = row.created
    return doc


async def insert_cdr(tx: Tx, row: Row, body: Doc) -> None:
    """Store one leg; a second CDR with the same id in the account's month is a Conflict."""
    try:
        await tx.conn.execute(insert(cdrs).values(**vars(row), body=orjson.dumps(body).decode()))
    except IntegrityError as exc:
        raise Conflict(row.id) from exc


_COLUMNS = [f.name for f in fields(Row)] + ["body"]
_INSERT = f"INSERT INTO cdrs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


async def insert_cdrs(store: Store, legs: list[tuple[Row, Doc]]) -> None:
    """Store many legs in one quick write (`Store.quick_write`: no point read returns CDRs); any id already taken
    is a Conflict and stores none of them."""
    rows = [(*(getattr(row, name) for name in _COLUMNS[:-1]), orjson.dumps(body).decode()) for row, body in legs]
    try:
        await store.quick_write([], lambda _: (None, [(_INSERT, rows)]))
    except IntegrityError as exc:
        raise Conflict(", ".join(row.id for row, _ in legs)) from exc


async def get_cdr(tx: Tx, account_id: str, month: str, cdr_id: str) -> Doc | None:
    found = (
        await tx.conn.execute(
            select(cdrs.c.id, cdrs.c.created, cdrs.c.body).where(
                cdrs.c.account_id == account_id, cdrs.c.month == month, cdrs.c.id == cdr_id
            )
        )
    ).first()
    return _load(found) if found else None


def _in_span(query, span: Span):
    query = query.where(
        cdrs.c.account_id == span.account_id, cdrs.c.created.between(span.created_from, span.created_to)
    )
    return query if span.owner_id is None else query.where(cdrs.c.owner_id == span.owner_id)


def _from_key(created, ident, key: Key, descending: bool, inclusive: bool):
    """Rows at or after `key` in the listing's order (strictly after when not `inclusive`)."""
    at, key_id = key
    if key_id is None:
        return created <= at if descending else created >= at
    if descending:
        beyond, tie = created < at, (ident <= key_id if inclusive else ident < key_id)
    else:
        beyond, tie = created > at, (ident >= key_id if inclusive else ident > key_id)
    return or_(beyond, and_(created == at, tie))


def _ordered(query, created, ident, descending: bool, limit: int | None):
    query = query.order_by(created.desc(), ident.desc()) if descending else query.order_by(created, ident)
    return query if limit is None else query.limit(limit)


async def page(tx: Tx, span: Span, start: Key | None, limit: int | None, *, inclusive: bool = True) -> list[Doc]:
    """Legs of the span from `start` on, each with `_id` and `pvt_created`."""
    query = _in_span(select(cdrs.c.id, cdrs.c.created, cdrs.c.body), span)
    if start is not None:
        query = query.where(_from_key(cdrs.c.created, cdrs.c.id, start, span.descending, inclusive))
    query = _ordered(query, cdrs.c.created, cdrs.c.id, span.descending, limit)
    return [_load(row) for row in await tx.conn.execute(query)]


async def interaction_page(tx: Tx, span: Span, start: Key | None, limit: int | None) -> list[tuple[int, str]]:
    """(first created, interaction id) of the interactions with legs in the span, from `start` on."""
    first = func.min(cdrs.c.created)
    query = _in_span(select(first, cdrs.c.interaction_id), span).group_by(cdrs.c.interaction_id)
    if start is not None:
        query = query.having(_from_key(first, cdrs.c.interaction_id, start, span.descending, True))
    query = _ordered(query, first, cdrs.c.interaction_id, span.descending, limit)
    return [(row[0], row[1]) for row in await tx.conn.execute(query)]


async def legs(tx: Tx, account_id: str, interaction_ids: Iterable[str]) -> list[Doc]:
    """Every leg of these interactions in the account, whatever their month (asked in chunks: the drivers cap
    how many parameters one statement takes)."""
    ids = sorted(set(interaction_ids))
    found: list[Doc] = []
    for at in range(0, len(ids), CHUNK):
        query = select(cdrs.c.id, cdrs.c.created, cdrs.c.body).where(
            cdrs.c.account_id == account_id, cdrs.c.interaction_id.in_(ids[at : at + CHUNK])
        )
        found += [_load(row) for row in await tx.conn.execute(query)]
    return found
