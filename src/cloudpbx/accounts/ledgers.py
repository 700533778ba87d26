"""An account's balance: the sum of its ledger entries (KAZOO's `kz_ledgers:total_sources`).

Entries are `ledger` documents in the account: `pvt_ledger_type` `credit` or `debit` and `pvt_amount` in currency
units (1 dollar = 10,000 units, as `kz_currency`). Nothing writes them yet (payments, services and per-minute charges
come with billing), so every balance is 0 until then, computed the same way it will be.
"""

from __future__ import annotations

from cloudpbx.store import Store

TYPE = "ledger"
UNITS_PER_DOLLAR = 10_000


async def total_units(store: Store, account_id: str) -> int:
    async with store.read() as tx:
        entries = await tx.list(account_id, TYPE)
    sign: dict[str, int] = {"credit": 1, "debit": -1}
    return sum(sign.get(doc.get("pvt_ledger_type", ""), 0) * int(doc.get("pvt_amount", 0)) for doc in entries)


def dollars(units: int) -> float | int:
    value = units / UNITS_PER_DOLLAR
    return int(value) if value.is_integer() else value
