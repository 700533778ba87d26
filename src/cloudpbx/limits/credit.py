"""Per-minute credit: what the limits decision weighs a per-minute call against (jonny5's `j5_per_minute`):
`available = balance - estimated cost of the account's answered per-minute calls in progress`; the decision then
takes off the reserve."""

from __future__ import annotations

from cloudpbx.billing import ledgers
from cloudpbx.store import Store


async def available_credit_units(store: Store, account_id: str) -> int:
    """The account's balance in currency units (one point read of its balance row)."""
    return await ledgers.balance_units(store, account_id)


def running_cost_units(rate: int, offset: int, now: float) -> int:
    """The estimated cost so far of calls whose counters hold `rate` (units a minute, summed) and `offset` (summed
    `rate * answered - 60 * surcharge`, answered rounded up to a second): each call's surcharge plus its rate for
    the whole seconds since its answer (less than a second short of the truth, never ahead of it), rounded up to a
    unit."""
    exact = rate * int(now) - offset
    return max(0, -(-exact // 60))


def available_units(balance: int, running: tuple[int, int], now: float) -> int:
    """The balance less the running cost of the calls in progress (every process's, from the shared counters)."""
    return balance - running_cost_units(running[0], running[1], now)
