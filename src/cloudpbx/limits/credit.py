"""Per-minute credit. Balances (ledgers, top-ups) come with the billing work; until then every account's available
credit is zero, so a call that needs per-minute credit depends only on `allow_postpay` and `max_postpay_amount`."""

from __future__ import annotations


async def available_credit_units(account_id: str) -> int:
    """The account's balance less the estimated cost of its per-minute calls in progress, in currency units."""
    del account_id  # every account's balance is zero until ledgers supply it
    return 0
