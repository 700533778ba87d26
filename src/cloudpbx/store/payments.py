"""Card charges asked under an idempotency key (`payment_attempts`): a claim row per (account, key), locked by the
writer that reads it, so two processes asking the same charge take turns and the second sees what the first did."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cloudpbx.store.documents import Tx
from cloudpbx.store.tables import payment_attempts

CLAIMED, DONE = "claimed", "done"


class Attempt(NamedTuple):
    account_id: str
    idem_key: str
    amount: int
    state: str
    claimed_until: int
    transaction_id: str | None
    entry_id: str | None


async def lock(tx: Tx, account_id: str, idem_key: str, amount: int, until: int) -> tuple[Attempt, bool]:
    """The attempt under the key, locked for this transaction; created as claimed until `until` when missing (then
    the second value is True)."""
    found = await _locked(tx, account_id, idem_key)
    if found is not None:
        return found, False
    row = {"account_id": account_id, "idem_key": idem_key, "amount": amount, "state": CLAIMED, "claimed_until": until}
    try:
        async with tx.conn.begin_nested():
            await tx.conn.execute(insert(payment_attempts).values(**row))
    except IntegrityError:  # another writer created it first: wait for its lock
        found = await _locked(tx, account_id, idem_key)
        assert found is not None
        return found, False
    return Attempt(account_id, idem_key, amount, CLAIMED, until, None, None), True


async def _locked(tx: Tx, account_id: str, idem_key: str) -> Attempt | None:
    c = payment_attempts.c
    query = select(payment_attempts).where(c.account_id == account_id, c.idem_key == idem_key).with_for_update()
    found = (await tx.conn.execute(query)).first()
    return Attempt(*found) if found else None


async def claim(tx: Tx, attempt: Attempt, until: int) -> None:
    await _set(tx, attempt, claimed_until=until)


async def finish(tx: Tx, attempt: Attempt, transaction_id: str, entry_id: str) -> None:
    await _set(tx, attempt, state=DONE, transaction_id=transaction_id, entry_id=entry_id)


async def release(tx: Tx, attempt: Attempt, *, forget: bool) -> None:
    """Give the key back: forgotten when the gateway surely charged nothing, else left claimed but expired, so the
    next try first asks the gateway what became of this one."""
    c = payment_attempts.c
    where = (c.account_id == attempt.account_id, c.idem_key == attempt.idem_key)
    if forget:
        await tx.conn.execute(delete(payment_attempts).where(*where))
    else:
        await tx.conn.execute(update(payment_attempts).where(*where).values(claimed_until=0))


async def _set(tx: Tx, attempt: Attempt, **values) -> None:
    c = payment_attempts.c
    where = (c.account_id == attempt.account_id, c.idem_key == attempt.idem_key)
    await tx.conn.execute(update(payment_attempts).where(*where).values(**values))
