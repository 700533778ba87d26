"""Calls of a process that died: once its usage counters expire (it stopped renewing them), each answered
per-minute call it held is billed up to the process's last renewal, its last known time, with the call's own
idempotency key (so the process itself, had it only lost the database, or a second process sweeping at the same
time, bills nothing twice), and gets a CDR that says so. Any living process does it before it drops the expired
counters and their leases (`Trunks` renewals and the balance crawler's rounds)."""

from __future__ import annotations

import contextlib
import logging
import time

from sqlalchemy.exc import SQLAlchemyError

from cloudpbx.accounts import cdrs
from cloudpbx.errors import Conflicting, Failure
from cloudpbx.ids import GREGORIAN_OFFSET
from cloudpbx.limits.per_minute import Charge, bill, cost_of
from cloudpbx.store import Store, StoreError
from cloudpbx.store import trunk_leases as leases

log = logging.getLogger(__name__)

LOST = "NODE_LOST"  # the CDR's hangup cause: the call's process stopped (killed, crashed, cut off)


async def bill_dead_calls(store: Store, now: float | None = None) -> int:
    """Bill every answered per-minute call of the expired counters; how many calls were found."""
    async with store.read() as tx:
        rows = await leases.dead(tx, time.time() if now is None else now)
    found: dict[str, tuple[float, str, float]] = {}
    for key, answered, billing, renewed in rows:
        found.setdefault(key, (answered, billing, renewed))
    for answered, billing, renewed in found.values():
        try:
            await _settle(store, Charge.loads(billing), answered, max(answered, renewed))
        except (ValueError, TypeError, OSError, StoreError, SQLAlchemyError, Failure):
            log.exception("a call of a process gone was not billed; the next round tries again")
    return len(found)


async def _settle(store: Store, charge: Charge, answered: float, last_known: float) -> None:
    answer_g, end_g = answered + GREGORIAN_OFFSET, last_known + GREGORIAN_OFFSET
    seconds = max(0, round(end_g - answer_g))
    await bill(store, charge, seconds, last_known=True)
    leg = {
        "call_id": charge.leg_call_id or charge.key,
        "interaction_id": cdrs.new_interaction_id(answer_g),
        "call_direction": "outbound" if charge.direction == "outbound" else "inbound",
        "callee_id_number": charge.callee,
        "caller_id_number": charge.caller,
        "start_timestamp": answer_g,
        "answer_timestamp": answer_g,
        "end_timestamp": end_g,
        "hangup_cause": LOST,
        "disposition": "node_lost",
        "bridge_id": charge.call_id,
        "custom_channel_vars": {
            **charge.channel_vars(),
            "per_minute_cost": cost_of(charge, seconds),
            "billed_to_last_known_time": True,
        },
    }
    if charge.account_pays:
        leg["account_billing"] = "per_minute"
    with contextlib.suppress(Conflicting):  # its process stored the CDR before it died
        await cdrs.record_leg(store, charge.account_id, leg)
