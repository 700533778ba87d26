"""Threshold alerts (KAZOO's `kt_low_balance`, reference §10.5): every account that enabled
`notifications.low_balance` and whose balance is at or below its threshold gets the `low_balance` email, sent to its
billing contact (`contact.billing.email`, else its admins), repeated at most once a day while the balance stays low.

The threshold is `notifications.low_balance.threshold`, else `topup.threshold`, else system config
`notify.low_balance.threshold` ($5), in dollars. Whether today's alert went out is the account's `low_balance_alerts`
row, claimed by one conditional statement in the transaction that queues the email: of several processes checking
the same account, one sends. A balance back above the threshold forgets the row, so the next fall alerts at once.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cloudpbx.billing import ledgers, topup
from cloudpbx.notify import outbox, sending, templates
from cloudpbx.scheduler import Run
from cloudpbx.store import SYSTEM, Doc, Store, Tx, load_row
from cloudpbx.store.tables import docs, low_balance_alerts

TEMPLATE = "low_balance"
DEFAULT_THRESHOLD = 5
REPEAT_S = 86400  # system config tasks.low_balance_repeat_s
PAGE = 200
L = low_balance_alerts.c
LAST_SENT_SQL = "SELECT last_sent FROM low_balance_alerts WHERE account_id = ?"


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def threshold_units(account: Doc, system_default: Any) -> int:
    """The account's threshold in units."""
    settings = (account.get("notifications") or {}).get("low_balance") or {}
    for candidate in (settings.get("threshold"), (account.get("topup") or {}).get("threshold"), system_default):
        if _number(candidate) is not None:
            return int(Decimal(str(candidate)) * ledgers.UNITS_PER_DOLLAR)
    return DEFAULT_THRESHOLD * ledgers.UNITS_PER_DOLLAR


def enabled(account: Doc) -> bool:
    settings = (account.get("notifications") or {}).get("low_balance") or {}
    return settings.get("enabled") is True and account.get("enabled") is not False


async def account_page(store: Store, after: str | None) -> list[Doc]:
    """Up to PAGE account documents after the id `after`, in id order: the crawl of the periodic jobs."""
    query = select(docs.c.account_id, docs.c.id, docs.c.rev, docs.c.body).where(
        docs.c.type == "account", docs.c.deleted.is_(False), docs.c.account_id == docs.c.id
    )
    if after is not None:
        query = query.where(docs.c.id > after)
    async with store.read() as tx:
        rows = await tx.conn.execute(query.order_by(docs.c.id).limit(PAGE))
        return [load_row(row) for row in rows]


async def check(store: Store, run: Run) -> None:
    """The job: every account's auto-recharge, then its threshold alert, a page at a time, resuming after the last
    page done."""
    config = await store.find(SYSTEM, "notify") or {}
    system_threshold = ({**config, **(config.get("default") or {})}.get("low_balance") or {}).get("threshold")
    tasks_config = await store.find(SYSTEM, "tasks") or {}
    repeat_s = _number({**tasks_config, **(tasks_config.get("default") or {})}.get("low_balance_repeat_s")) or REPEAT_S
    topping_up = await topup.enabled(store)
    after = run.cursor
    while page := await account_page(store, after):
        for account in page:
            if topping_up:  # top-up first, as KAZOO's crawler: a balance it restores needs no alert
                await topup.check_account(store, account, run.now)
            if enabled(account):
                await check_account(store, account, threshold_units(account, system_threshold), run.now, int(repeat_s))
        after = page[-1]["_id"]
        await run.checkpoint(after)


async def check_account(store: Store, account: Doc, threshold: int, now: int, repeat_s: int) -> str | None:
    """Alert the account if its balance is at or below `threshold` and no alert went out within `repeat_s`; the
    outbox id of the alert sent."""
    account_id = account["_id"]
    balance = await ledgers.balance_units(store, account_id)
    last = await store.point(LAST_SENT_SQL, (account_id,))  # reads first: most checks change nothing
    if balance > threshold:
        if last is not None:
            async with store.write() as tx:
                await tx.conn.execute(delete(low_balance_alerts).where(L.account_id == account_id))
        return None
    if last is not None and last[0] > now - repeat_s:
        return None
    template = await templates.resolve(store, account_id, TEMPLATE)
    if template is None or template.get("enabled") is False:
        return None
    billing = ((account.get("contact") or {}).get("billing") or {}).get("email")
    data: dict[str, Any] = {
        "current_balance": str(ledgers.dollars(balance)),
        "threshold": str(ledgers.dollars(threshold)),
    }
    if sending.emails(billing):
        data["to"] = sending.emails(billing)  # else the account's admins
    message = await sending.compose(store, account_id, template, data, now)
    if not message.to:
        return None
    async with store.write() as tx:
        if not await _claim(tx, account_id, now, repeat_s):
            return None
        ident = await outbox.add(tx, account_id, TEMPLATE, message)
    await outbox.deliver(store, account_id, ident, now)
    return ident


async def _claim(tx: Tx, account_id: str, now: int, repeat_s: int) -> bool:
    """Whether this transaction may send today's alert: no row yet, or the last alert is `repeat_s` old."""
    make = pg_insert if tx.conn.dialect.name == "postgresql" else sqlite_insert
    inserted = await tx.conn.execute(
        make(low_balance_alerts).values(account_id=account_id, last_sent=now).on_conflict_do_nothing()
    )
    if inserted.rowcount == 1:
        return True
    renewed = await tx.conn.execute(
        update(low_balance_alerts)
        .where(L.account_id == account_id, L.last_sent <= now - repeat_s)
        .values(last_sent=now)
    )
    return renewed.rowcount == 1
