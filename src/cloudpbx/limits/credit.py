"""Per-minute credit: what the limits decision weighs a per-minute call against."""

from __future__ import annotations

from cloudpbx.billing import ledgers
from cloudpbx.store import Store


async def available_credit_units(store: Store, account_id: str) -> int:
    """The account's balance in currency units (one point read of its balance row); the decision takes off the
    reserve. Per-minute billing will also take off the estimated cost of the account's calls in progress here."""
    return await ledgers.balance_units(store, account_id)
