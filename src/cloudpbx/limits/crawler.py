"""The balance crawler (KAZOO's `ecallmgr_balance_crawler` with jonny5's balance check): every round, each process
hangs up ITS OWN answered per-minute calls of accounts whose money is exhausted: the balance less the running cost
of every process's calls of the account (the shared usage counters) is at or below zero, or for an account allowed
postpay at or below its `max_postpay_amount`. Each process only looks at its own calls, which only it can hang up,
so no cross-process lease is needed; the counters it reads are every process's. A round also bills the calls of
processes that died (`Trunks.renew`)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from cloudpbx.limits.metering import Metering
from cloudpbx.limits.trunks import Trunks
from cloudpbx.store import StoreError

log = logging.getLogger(__name__)

CUT_OFF = "INSUFFICIENT_BALANCE"  # the hangup cause in the cut-off calls' CDRs
DEFAULT_INTERVAL_S = 60.0


class BalanceCrawler:
    def __init__(self, trunks: Trunks, metering: Metering, interval_s: float = DEFAULT_INTERVAL_S):
        self.trunks, self.metering, self.interval_s = trunks, metering, interval_s
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.trunks.renew()
                await self.crawl()
            except (OSError, StoreError, SQLAlchemyError) as exc:  # the database is away: next round
                log.warning("balance crawler round failed: %s", exc)

    async def crawl(self) -> int:
        """Hang up this process's calls of exhausted accounts; how many were hung up."""
        meters = list(self.metering.live.values())
        exhausted = set()
        for account_id in sorted({acc for meter in meters for acc in meter.payers}):
            if await self._exhausted(account_id):
                exhausted.add(account_id)
        cut = [meter for meter in meters if exhausted.intersection(meter.payers) and meter.hang_up is not None]
        for meter in cut:
            log.info("call %s: %s has no money left, hanging up", meter.charge.call_id, meter.payers)
            assert meter.hang_up is not None
            meter.hang_up(CUT_OFF)
        return len(cut)

    async def _exhausted(self, account_id: str) -> bool:
        limits = await self.trunks.limits(account_id)
        floor = -limits.max_postpay_units if limits.allow_postpay else 0
        return await self.trunks.available(account_id) <= floor
