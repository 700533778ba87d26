"""Service plan state in the store: each account's last counted quantities and priced lines (`services_state`),
locked by the transaction that records a change, and the audit of changes (`services_audit`), newest first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from cloudpbx.store.documents import Tx
from cloudpbx.store.tables import services_audit, services_state


@dataclass(frozen=True)
class Audit:
    account_id: str
    id: str
    created: int
    reason: str
    who: str
    body: dict[str, Any]


async def lock_state(tx: Tx, account_id: str, now: int) -> tuple[dict, dict]:
    """The account's last (quantities, lines), locked for this transaction; empty ones are created first."""
    found = await _locked(tx, account_id)
    if found is None:
        try:
            async with tx.conn.begin_nested():
                await tx.conn.execute(
                    insert(services_state).values(account_id=account_id, quantities="{}", lines="{}", modified=now)
                )
        except IntegrityError:  # another writer created it first: wait for its lock below
            pass
        found = await _locked(tx, account_id)
    assert found is not None
    return orjson.loads(found.quantities), orjson.loads(found.lines)


async def _locked(tx: Tx, account_id: str):
    query = select(services_state).where(services_state.c.account_id == account_id).with_for_update()
    return (await tx.conn.execute(query)).first()


async def set_state(tx: Tx, account_id: str, quantities: dict, lines: dict, now: int) -> None:
    await tx.conn.execute(
        update(services_state)
        .where(services_state.c.account_id == account_id)
        .values(quantities=orjson.dumps(quantities).decode(), lines=orjson.dumps(lines).decode(), modified=now)
    )


async def add_audit(tx: Tx, audit: Audit) -> None:
    await tx.conn.execute(
        insert(services_audit).values(
            account_id=audit.account_id,
            id=audit.id,
            created=audit.created,
            reason=audit.reason,
            who=audit.who,
            body=orjson.dumps(audit.body).decode(),
        )
    )


async def audits(tx: Tx, account_id: str, span: tuple[int, int], limit: int | None = None) -> list[Audit]:
    """The account's audit entries created within `span` (inclusive), newest first."""
    query = (
        select(services_audit)
        .where(
            services_audit.c.account_id == account_id,
            services_audit.c.created >= span[0],
            services_audit.c.created <= span[1],
        )
        .order_by(services_audit.c.created.desc(), services_audit.c.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    rows = await tx.conn.execute(query)
    return [Audit(r.account_id, r.id, r.created, r.reason, r.who, orjson.loads(r.body)) for r in rows]
