"""Rows of the `rates` table: a deck's rates written in chunks, read whole (to index) or a page at a time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from cloudpbx.store.documents import Tx
from cloudpbx.store.tables import rates

CHUNK = 2_000  # rows per INSERT: under every driver's cap on parameters of one statement
COLUMNS = tuple(column.name for column in rates.columns)


async def insert_rates(tx: Tx, rows: Sequence[dict[str, Any]]) -> None:
    for at in range(0, len(rows), CHUNK):
        await tx.conn.execute(insert(rates), list(rows[at : at + CHUNK]))


async def delete_deck(tx: Tx, deck_id: str) -> int:
    return (await tx.conn.execute(delete(rates).where(rates.c.ratedeck_id == deck_id))).rowcount


async def get_rate(tx: Tx, rate_id: str) -> dict[str, Any] | None:
    row = (await tx.conn.execute(select(rates).where(rates.c.id == rate_id))).first()
    return dict(row._mapping) if row else None


async def update_rate(tx: Tx, rate_id: str, values: dict[str, Any]) -> None:
    await tx.conn.execute(update(rates).where(rates.c.id == rate_id).values(**values))


async def delete_rate(tx: Tx, rate_id: str) -> None:
    await tx.conn.execute(delete(rates).where(rates.c.id == rate_id))


async def deck_rows(tx: Tx, deck_id: str) -> list[tuple]:
    """Every rate of a deck as tuples in COLUMNS order."""
    query = select(*rates.columns).where(rates.c.ratedeck_id == deck_id)
    return [tuple(row) for row in await tx.conn.execute(query)]


async def page(tx: Tx, decks: Iterable[str] | None, start: str | None, limit: int | None) -> list[dict[str, Any]]:
    """Rates in id order from `start` (inclusive), of the given decks (None: every deck)."""
    query = select(rates).order_by(rates.c.id)
    if decks is not None:
        query = query.where(rates.c.ratedeck_id.in_(sorted(decks)))
    if start is not None:
        query = query.where(rates.c.id >= start)
    if limit is not None:
        query = query.limit(limit)
    return [dict(row._mapping) for row in await tx.conn.execute(query)]


async def counts(tx: Tx) -> dict[str, int]:
    """Rows per deck."""
    query = select(rates.c.ratedeck_id, func.count()).group_by(rates.c.ratedeck_id)
    return {deck: count for deck, count in await tx.conn.execute(query)}
