"""The `trunk_leases` table: carrier calls in progress per charged account, counted and changed under a row lock on
the accounts so every process sharing the database counts the same calls."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cloudpbx.store.documents import Tx
from cloudpbx.store.tables import accounts, trunk_leases

L = trunk_leases.c
# Built once: a call's authorization and release run them each time, so their construction and cache key are
# not paid per call.
_LOCK = (
    select(accounts.c.account_id)
    .where(accounts.c.account_id.in_(bindparam("ids", expanding=True)))
    .order_by(accounts.c.account_id)
    .with_for_update()
)
_IN_USE = (
    select(L.account_id, L.kind, func.count())
    .where(L.account_id.in_(bindparam("ids", expanding=True)), L.expires > bindparam("now"))
    .group_by(L.account_id, L.kind)
)
_DROP = delete(trunk_leases).where(L.call_id == bindparam("call"), L.account_id.in_(bindparam("ids", expanding=True)))


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
    (PostgreSQL row locks). SQLite writers hold the database lock from their BEGIN IMMEDIATE, and SQLite has no row
    locks: nothing to ask there."""
    if tx.conn.dialect.name == "sqlite":
        return
    await tx.conn.execute(_LOCK, {"ids": sorted(set(account_ids))})


async def in_use(tx: Tx, account_ids: Iterable[str], now: float) -> dict[str, Counter[str]]:
    """Live leases of each account by kind; an expired lease (its process gone) counts for nothing."""
    ids = list(account_ids)
    rows = await tx.conn.execute(_IN_USE, {"ids": ids, "now": now})
    out: dict[str, Counter[str]] = {account_id: Counter() for account_id in ids}
    for account_id, kind, number in rows:
        out[account_id][kind] = number
    return out


def _upsert(make) -> Any:
    """Insert leases; a row left by an earlier attempt of the same call is replaced."""
    upsert = make(trunk_leases)
    replaced = {column: upsert.excluded[column] for column in ("owner_id", "direction", "kind", "node", "expires")}
    return upsert.on_conflict_do_update(index_elements=["account_id", "call_id"], set_=replaced)


_UPSERTS = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}


async def add(tx: Tx, rows: list[LeaseRow]) -> None:
    """Take leases in one statement; a row left by an earlier attempt of the same call is replaced."""
    if rows:
        await tx.conn.execute(_UPSERTS[tx.conn.dialect.name], [row._asdict() for row in rows])


async def drop(tx: Tx, call_id: str, account_ids: Iterable[str]) -> None:
    await tx.conn.execute(_DROP, {"call": call_id, "ids": list(account_ids)})


async def drop_expired(tx: Tx, before: float) -> None:
    """Forget leases that stopped counting (their process died without releasing them)."""
    await tx.conn.execute(delete(trunk_leases).where(L.expires <= before))


async def renew(tx: Tx, node: str, call_ids: list[str], expires: float) -> None:
    """Push back the expiry of the leases this process holds."""
    await tx.conn.execute(update(trunk_leases).where(L.node == node, L.call_id.in_(call_ids)).values(expires=expires))
