"""The `trunk_leases` table: carrier calls in progress per charged account, counted and changed under a row lock on
the accounts so every process sharing the database counts the same calls."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import delete, func, insert, select, update

from cloudpbx.store.documents import Tx
from cloudpbx.store.tables import accounts, trunk_leases

L = trunk_leases.c


class LeaseRow(NamedTuple):
    account_id: str
    call_id: str
    owner_id: str
    direction: str
    kind: str
    node: str
    expires: float


async def lock_accounts(tx: Tx, account_ids: Iterable[str]) -> None:
    """Hold the accounts' tree rows until the transaction ends, always in id order so two callers never deadlock
    (PostgreSQL row locks; SQLite writers hold the database lock already)."""
    ids = sorted(set(account_ids))
    await tx.conn.execute(
        select(accounts.c.account_id)
        .where(accounts.c.account_id.in_(ids))
        .order_by(accounts.c.account_id)
        .with_for_update()
    )


async def in_use(tx: Tx, account_id: str, now: float) -> Counter[str]:
    """Live leases of an account by kind; an expired lease (its process gone) counts for nothing."""
    rows = await tx.conn.execute(
        select(L.kind, func.count()).where(L.account_id == account_id, L.expires > now).group_by(L.kind)
    )
    return Counter({row[0]: row[1] for row in rows})


async def add(tx: Tx, rows: Iterable[LeaseRow]) -> None:
    """Take leases; a row left by an earlier attempt of the same call (same account and call id) is replaced."""
    rows = list(rows)
    if not rows:
        return
    for row in rows:
        await tx.conn.execute(delete(trunk_leases).where(L.account_id == row.account_id, L.call_id == row.call_id))
    await tx.conn.execute(insert(trunk_leases), [row._asdict() for row in rows])


async def drop(tx: Tx, call_id: str, account_ids: Iterable[str]) -> None:
    await tx.conn.execute(delete(trunk_leases).where(L.call_id == call_id, L.account_id.in_(list(account_ids))))


async def drop_expired(tx: Tx, account_ids: Iterable[str], now: float) -> None:
    await tx.conn.execute(delete(trunk_leases).where(L.account_id.in_(list(account_ids)), L.expires <= now))


async def renew(tx: Tx, node: str, call_ids: list[str], expires: float) -> None:
    """Push back the expiry of the leases this process holds."""
    await tx.conn.execute(update(trunk_leases).where(L.node == node, L.call_id.in_(call_ids)).values(expires=expires))
