"""The `login_throttle` and `login_failures` tables: failure counters read and bumped atomically by every process
sharing the database, and the audit rows of failed logins."""

from __future__ import annotations

from typing import NamedTuple

import orjson
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cloudpbx.store.documents import Doc, Tx
from cloudpbx.store.tables import login_failures, login_throttle

T = login_throttle.c


class Counter(NamedTuple):
    failures: int
    last_failure: float
    locked_until: float


async def counters(tx: Tx, account_id: str, clients: tuple[str, ...]) -> dict[str, Counter]:
    """The counters of these clients on the account (a client with no failures has none)."""
    rows = await tx.conn.execute(
        select(T.client, T.failures, T.last_failure, T.locked_until).where(
            T.account_id == account_id, T.client.in_(clients)
        )
    )
    return {row.client: Counter(row.failures, row.last_failure, row.locked_until) for row in rows}


async def locked_counter(tx: Tx, account_id: str, client: str) -> Counter:
    """The counter, created at zero if missing and locked until the transaction ends (PostgreSQL row lock; SQLite
    writers hold the database lock already), so concurrent failures from other processes are all counted."""
    make = pg_insert if tx.conn.dialect.name == "postgresql" else sqlite_insert
    await tx.conn.execute(
        make(login_throttle)
        .values(account_id=account_id, client=client, failures=0, last_failure=0.0, locked_until=0.0)
        .on_conflict_do_nothing()
    )
    row = (
        await tx.conn.execute(
            select(T.failures, T.last_failure, T.locked_until)
            .where(T.account_id == account_id, T.client == client)
            .with_for_update()
        )
    ).one()
    return Counter(row.failures, row.last_failure, row.locked_until)


async def put_counter(tx: Tx, account_id: str, client: str, counter: Counter) -> None:
    await tx.conn.execute(
        update(login_throttle)
        .where(T.account_id == account_id, T.client == client)
        .values(failures=counter.failures, last_failure=counter.last_failure, locked_until=counter.locked_until)
    )


async def forget(tx: Tx, account_id: str, client: str) -> None:
    await tx.conn.execute(delete(login_throttle).where(T.account_id == account_id, T.client == client))


async def forget_account(tx: Tx, account_id: str) -> None:
    await tx.conn.execute(delete(login_throttle).where(T.account_id == account_id))


async def forget_stale(tx: Tx, before: float) -> None:
    """Drop counters whose last failure is older than `before` and that lock nobody any more."""
    await tx.conn.execute(delete(login_throttle).where(T.last_failure < before, T.locked_until < before))


F = login_failures.c


async def add_failure(tx: Tx, account_id: str, failure_id: str, created: int, body: Doc) -> None:
    await tx.conn.execute(
        insert(login_failures).values(
            account_id=account_id, id=failure_id, created=created, body=orjson.dumps(body).decode()
        )
    )


async def drop_failures(tx: Tx, account_id: str, before: int) -> None:
    await tx.conn.execute(delete(login_failures).where(F.account_id == account_id, F.created < before))


def _doc(row) -> Doc:
    return orjson.loads(row.body) | {"id": row.id, "timestamp": row.created}


async def list_failures(tx: Tx, account_id: str, start: tuple[int, str] | None, limit: int) -> list[Doc]:
    """Newest first; a page starts at (created, id) inclusive."""
    query = select(F.id, F.created, F.body).where(F.account_id == account_id)
    if start is not None:
        query = query.where(or_(F.created < start[0], and_(F.created == start[0], F.id <= start[1])))
    query = query.order_by(F.created.desc(), F.id.desc()).limit(limit)
    return [_doc(row) for row in await tx.conn.execute(query)]


async def get_failure(tx: Tx, account_id: str, failure_id: str) -> Doc | None:
    row = (
        await tx.conn.execute(select(F.id, F.created, F.body).where(F.account_id == account_id, F.id == failure_id))
    ).first()
    return _doc(row) if row else None
