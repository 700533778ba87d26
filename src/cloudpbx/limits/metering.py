"""The money path of one per-minute carrier call: rated before it rings, its leases marked when it is answered (so
every process's decisions count its running cost, and another process can bill it if this one dies), billed once
when it ends, then its leases go back.

`Metering` (one per process) opens a `Meter` for a call whose limits decision was `per_minute` for the account or
its reseller, and keeps the meters of this process's answered calls for the balance crawler (`crawler.py`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import replace

from cloudpbx.billing.decks import RateDecks
from cloudpbx.billing.rating import NoRate, Rates
from cloudpbx.limits.decision import PER_MINUTE
from cloudpbx.limits.group_commit import GroupCommit
from cloudpbx.limits.per_minute import Biller, Charge, cost_of
from cloudpbx.limits.trunks import Grant
from cloudpbx.store import Store
from cloudpbx.store import trunk_leases as leases

log = logging.getLogger(__name__)

BILL_ATTEMPTS, BILL_RETRY_S = 5, 2.0  # a bill the database refuses is tried again, then logged as not billed


class Meter:
    """One per-minute call: `answered` when its carrier leg is, `settle` when that leg ends (the CDR's values),
    `close` when the call is over (the ledger entry, before the leases go back)."""

    def __init__(self, metering: Metering, charge: Charge, charged: tuple[str, ...]):
        self.metering, self.charge, self.charged = metering, charge, charged
        self.hang_up: Callable[[str], None] | None = None
        self.seconds: int | None = None
        self._marking: asyncio.Task | None = None
        self._ended: asyncio.Future[None] | None = None

    @property
    def payers(self) -> tuple[str, ...]:
        """The accounts whose balance this call spends."""
        charge = self.charge
        return tuple(
            acc
            for acc, pays in ((charge.account_id, charge.account_pays), (charge.reseller_id, charge.reseller_pays))
            if pays and acc is not None
        )

    def channel_vars(self) -> dict[str, object]:
        return self.charge.channel_vars()

    def answered(self, at: float, leg_call_id: str, hang_up: Callable[[str], None]) -> None:
        """The carrier answered at `at` (Unix seconds): the leases say so, in the background and together with the
        answers of other calls (the call never waits for the database); `hang_up` ends the call (the crawler's
        cut-off)."""
        self.charge = replace(self.charge, leg_call_id=leg_call_id)
        self.hang_up = hang_up
        self.metering.live[self.charge.key] = self
        self._ended = asyncio.get_running_loop().create_future()
        charge = self.charge
        offset = charge.rate_cost * math.ceil(at) - 60 * charge.rate_surcharge  # whole seconds, never ahead
        answer = leases.Answer(charge.key, self.charged, at, charge.rate_cost, offset, charge.dumps())
        self._marking = asyncio.ensure_future(self.metering.answers.submit(answer))

    def settle(self, answer_timestamp: float, end_timestamp: float) -> dict[str, object]:
        """The billable seconds (as the CDR counts them) and their cost, for the carrier leg's CDR."""
        if self.seconds is None:
            self.seconds = max(0, round(end_timestamp - answer_timestamp))
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)
        return {"per_minute_cost": cost_of(self.charge, self.seconds)}

    async def close(self) -> None:
        """Bill the call if it was answered, once its carrier leg ended (a transfer may have kept it up past the
        caller's part), and forget it."""
        if self._marking is None or self._ended is None:
            return
        await self._ended
        self.metering.live.pop(self.charge.key, None)
        self.hang_up = None  # the leg holds this meter: holding the leg back would make every call cyclic garbage
        try:
            await self._marking
        except Exception:  # billing does not need the mark; only recovery after a crash would
            log.exception("call %s: its answer was not marked on its leases", self.charge.call_id)
        for attempt in range(BILL_ATTEMPTS):
            try:
                await self.metering.biller.bill(self.charge, self.seconds or 0)
                return
            except Exception:
                log.exception("call %s: bill not written (attempt %d)", self.charge.call_id, attempt + 1)
                await asyncio.sleep(BILL_RETRY_S)
        log.error("call %s: NOT BILLED (%s s at %s)", self.charge.call_id, self.seconds, self.charge.rate_name)


class Metering:
    def __init__(self, store: Store, rates: Rates, decks: RateDecks):
        self.store, self.rates, self.decks = store, rates, decks
        self.biller = Biller(store)
        self.answers: GroupCommit[leases.Answer, None] = GroupCommit(self._mark, "answers of per-minute calls")
        self.live: dict[str, Meter] = {}  # lease key → meter of this process's answered per-minute calls

    async def _mark(self, answers: list[leases.Answer]) -> list[BaseException | None]:
        await leases.answer(self.store, answers)
        return [None] * len(answers)

    async def deck_of(self, account_id: str) -> str:
        """The deck an account's calls are rated by (its own, else its service plans', else the default)."""
        return await self.decks.deck_of(account_id)

    async def open(self, grant: Grant, call_id: str, direction: str, number: str, caller: str) -> Meter | None:
        """A meter for a call that some charged account pays per minute, rated by its account's deck; None for a
        call nobody pays per minute. A number the deck does not rate costs nothing (as KAZOO), and is logged."""
        account = grant.account.billing == PER_MINUTE
        reseller = grant.reseller is not None and grant.reseller.billing == PER_MINUTE
        if not (grant.allowed and (account or reseller)):
            return None
        owner = grant.charged[0]
        deck = await self.deck_of(owner)
        try:
            rate = await self.rates.rate(deck, number, direction)
            fields = (rate.rate_name, rate.rate_cost, rate.rate_increment, rate.rate_minimum)
            extra = (rate.rate_surcharge, rate.rate_nocharge_time)
        except NoRate:
            log.warning("call %s: deck %s rates no %s call to %s; it costs nothing", call_id, deck, direction, number)
            fields, extra = ("", 0, 60, 0), (0, 0)
        reseller_id = grant.charged[1] if len(grant.charged) > 1 else None
        charge = Charge(
            call_id, grant.call_id, owner, reseller_id, account, reseller, direction, caller, number, *fields, *extra
        )
        return Meter(self, charge, grant.charged)
