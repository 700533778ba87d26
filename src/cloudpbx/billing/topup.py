"""Auto-recharge (the Control Center's "Auto Recharge", KAZOO's `kz_services_topup`, reference §10.5): an account
whose balance falls below its `topup.threshold` has its card on file charged `topup.amount` (dollars) and the
`payments` credit written, at most once a day, before the threshold alert is considered. The `topup` email says it
was done, `topup_failed` that it was not (declined, no card, no card gateway); a failure is not tried again that
day, so a card is never charged in a loop.

Once a day across processes: the account's `topup_attempts` row is claimed by one conditional statement before the
card is charged, and the charge's idempotency key is kept in it until its outcome is known. A charge the gateway did
not answer (or whose process died) is settled by the next check with the same key, which asks the gateway for that
order before charging, so it is charged once or not at all. System config `topup.enable` false turns it off.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cloudpbx.billing import ledgers
from cloudpbx.billing.payments import charges, notices
from cloudpbx.errors import Failure
from cloudpbx.store import SYSTEM, Doc, Store, Tx
from cloudpbx.store.tables import topup_attempts

DAY_S = 86400
REASON = "Usage top-up"
T = topup_attempts.c
STATE_SQL = "SELECT last_attempt, pending_key, pending_amount FROM topup_attempts WHERE account_id = ?"


def settings(account: Doc) -> tuple[int, int] | None:
    """(threshold, amount) in units when the account asks for auto-recharge (both above zero), else None."""
    topup = account.get("topup")
    if not isinstance(topup, dict) or account.get("enabled") is False:
        return None
    threshold, amount = _units(topup.get("threshold")), _units(topup.get("amount"))
    return (threshold, amount) if threshold and amount else None


def _units(value: Any) -> int | None:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return None
    try:
        return int(Decimal(str(value)) * ledgers.UNITS_PER_DOLLAR)
    except (InvalidOperation, OverflowError):
        return None


async def enabled(store: Store) -> bool:
    """System config `topup.enable` (default on: an account's own settings ask for it)."""
    config = await store.find(SYSTEM, "topup") or {}
    return {**config, **(config.get("default") or {})}.get("enable") is not False


async def check_account(store: Store, account: Doc, now: int) -> str | None:
    """Settle a charge left in doubt, else top the account up if it is below its threshold and was not topped up
    (or tried) in the last day. What happened: "charged", "failed", "pending" (gateway down), or None."""
    wanted = settings(account)
    state = await store.point(STATE_SQL, (account["_id"],))
    if state is not None and state[1] is not None:
        return await _charge(store, account, state[2], state[1], now, settle=True)
    if wanted is None:
        return None
    threshold, amount = wanted
    if await ledgers.balance_units(store, account["_id"]) >= threshold:
        return None
    if state is not None and state[0] > now - DAY_S:
        return None
    key = f"topup:{account['_id']}:{now}"
    async with store.write() as tx:
        if not await _claim(tx, account["_id"], now, key, amount):
            return None
    return await _charge(store, account, amount, key, now, settle=False)


async def _claim(tx: Tx, account_id: str, now: int, key: str, amount: int) -> bool:
    """Whether this transaction may charge today: no row yet, or the last attempt a day old and settled."""
    make = pg_insert if tx.conn.dialect.name == "postgresql" else sqlite_insert
    values = {"last_attempt": now, "pending_key": key, "pending_amount": amount}
    inserted = await tx.conn.execute(
        make(topup_attempts).values(account_id=account_id, **values).on_conflict_do_nothing()
    )
    if inserted.rowcount == 1:
        return True
    renewed = await tx.conn.execute(
        update(topup_attempts)
        .where(T.account_id == account_id, T.last_attempt <= now - DAY_S, T.pending_key.is_(None))
        .values(**values)
    )
    return renewed.rowcount == 1


async def _charge(store: Store, account: Doc, amount: int, key: str, now: int, *, settle: bool) -> str:
    """Charge under `key` (settling an earlier try asks the gateway for it first) and tell the account how it went;
    a gateway that does not answer leaves the key pending for the next check, and says so once."""
    account_id = account["_id"]
    try:
        written = await charges.charge(store, account_id, amount, REASON, key)
    except Failure as exc:
        doubt = notices.in_doubt(exc)  # no answer, or an earlier try still holds the key: the next check settles it
        if not doubt:
            await _settled(store, account_id, key)
        if not settle:
            await notices.tell(store, account, "topup_failed", amount, now, reason=notices.reason(exc))
        return "pending" if doubt else "failed"
    await _settled(store, account_id, key)
    balance = await ledgers.balance_units(store, account_id)
    await notices.tell(store, account, "topup", written.entry.amount, now, balance=str(ledgers.dollars(balance)))
    return "charged"


async def _settled(store: Store, account_id: str, key: str) -> None:
    async with store.write() as tx:
        await tx.conn.execute(
            update(topup_attempts).where(T.account_id == account_id, T.pending_key == key).values(pending_key=None)
        )
