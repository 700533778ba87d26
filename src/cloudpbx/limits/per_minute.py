"""Billing one per-minute call at its end (jonny5's `j5_per_minute:reconcile_cdr`): its billable seconds at its rate
by the cost formula, debited as ONE `per-minute-voip` ledger entry keyed by the call, and in the same transaction
the reseller's twin when the reseller pays per minute too. Who is charged follows the call's limits decisions: the
account when its decision was `per_minute` (with the reseller's twin when the reseller's was too), else the reseller
alone when only its decision was.

A `Charge` is everything billing needs, kept with the call's leases once it is answered, so a call whose process
died is billed by another from the leases alone (`recovery.py`). The key makes a retry, a restart or a second
process write nothing twice; a second bill of another amount (the call went on after it was billed to its last
known time) is logged and left as first written.

Calls ending together are billed together (`Biller`, a group commit): one transaction for the bills that arrive
within a moment of each other, so hundreds of hangups a second hold the database's write lock (the trunk leases'
quick writes wait for it on SQLite) a few times a second rather than once per call.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import orjson

from cloudpbx.billing import ledgers
from cloudpbx.billing.cost import Pricing, call_cost
from cloudpbx.errors import Conflicting, Failure
from cloudpbx.limits.group_commit import GroupCommit
from cloudpbx.store import Store
from cloudpbx.store.ledgers import DEBIT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Charge:
    """A per-minute call as billing sees it; money in units, times in seconds."""

    call_id: str  # the caller's call id: the entries' source id
    key: str  # the lease key: the entries' idempotency key
    account_id: str
    reseller_id: str | None
    account_pays: bool  # the account's decision was per_minute
    reseller_pays: bool  # the reseller's decision was per_minute
    direction: str
    caller: str
    callee: str
    rate_name: str
    rate_cost: int
    rate_increment: int
    rate_minimum: int
    rate_surcharge: int
    rate_nocharge_time: int
    leg_call_id: str = ""  # the carrier leg, whose CDR carries the cost

    @property
    def pricing(self) -> Pricing:
        return Pricing(
            self.rate_cost, self.rate_increment, self.rate_minimum, self.rate_surcharge, self.rate_nocharge_time
        )

    def channel_vars(self) -> dict[str, object]:
        """The rate as the carrier leg's CDR keeps it (KAZOO's custom channel variables)."""
        return {
            "rate": self.rate_cost,
            "rate_name": self.rate_name,
            "rate_increment": self.rate_increment,
            "rate_minimum": self.rate_minimum,
            "rate_nocharge_time": self.rate_nocharge_time,
            "surcharge": self.rate_surcharge,
        }

    def dumps(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def loads(cls, text: str) -> Charge:
        return cls(**orjson.loads(text))


def cost_of(charge: Charge, seconds: int) -> int:
    return call_cost(charge.pricing, seconds)


async def bill(store: Store, charge: Charge, seconds: int, *, last_known: bool = False) -> int:
    """Debit the call's cost for `seconds` once, on its own; returns the cost in units (0 writes nothing)."""
    item = ledger_item(charge, seconds, last_known)
    if item is not None:
        try:
            await ledgers.write(store, *item)
        except Conflicting:
            _billed_before(charge)
    return cost_of(charge, seconds)


def _billed_before(charge: Charge) -> None:
    log.warning("call %s was billed before for another length; the first bill stands", charge.call_id)


def ledger_item(charge: Charge, seconds: int, last_known: bool = False) -> ledgers.Item | None:
    """The ledger write that bills the call (None when it costs nothing or nobody pays per minute)."""
    cost = cost_of(charge, seconds)
    payer = charge.account_id if charge.account_pays else charge.reseller_id if charge.reseller_pays else None
    if cost <= 0 or payer is None:
        return None
    twin = charge.reseller_id if charge.account_pays and charge.reseller_pays else None
    change = ledgers.Change(
        ledgers.PER_MINUTE,
        charge.call_id,
        DEBIT,
        cost,
        f"{charge.direction} call to {charge.callee}",
        ("voice", seconds, "sec"),
        metadata=_metadata(charge, seconds, last_known),
        key=charge.key,
    )
    return payer, change, twin


class Biller:
    """This process's per-minute bills, written many per transaction in the background (`GroupCommit`)."""

    def __init__(self, store: Store):
        self.store = store
        self._bills: GroupCommit[tuple[Charge, ledgers.Item], None] = GroupCommit(self._write, "per-minute bills")

    async def bill(self, charge: Charge, seconds: int) -> None:
        """Return once the call's bill is committed (or found written before); raises when its transaction
        failed (the database is away)."""
        item = ledger_item(charge, seconds)
        if item is not None:
            await self._bills.submit((charge, item))

    async def _write(self, bills: list[tuple[Charge, ledgers.Item]]) -> list[BaseException | None]:
        results = await ledgers.write_many(self.store, [item for _, item in bills])
        out: list[BaseException | None] = []
        for (charge, _), result in zip(bills, results, strict=True):
            if isinstance(result, Conflicting):
                _billed_before(charge)
            out.append(result if isinstance(result, Failure) and not isinstance(result, Conflicting) else None)
        return out


def _metadata(charge: Charge, seconds: int, last_known: bool) -> dict[str, object]:
    out: dict[str, object] = {
        "call_id": charge.call_id,
        "direction": charge.direction,
        "from": charge.caller,
        "to": charge.callee,
        "billing_seconds": seconds,
        **charge.channel_vars(),
    }
    if last_known:
        out["billed_to_last_known_time"] = True
    return out
