"""Trunk leases: a carrier call is authorized against its account's limits and its reseller's in one database
transaction that locks both accounts' rows, reads their live usage and takes new leases, so the count is exact
whatever number of `cloudpbx serve` processes share the database. The process holding calls renews its usage
counters while it holds any; a process that dies stops renewing, and its calls stop counting when they expire."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from cloudpbx.accounts import limits as limits_doc
from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.accounts.tree import AccountDirectory, AccountNode
from cloudpbx.errors import Missing
from cloudpbx.limits import rules
from cloudpbx.limits.credit import available_credit_units, available_units
from cloudpbx.limits.decision import CarrierCall, Decision, decide
from cloudpbx.limits.recovery import bill_dead_calls
from cloudpbx.limits.turns import Turns
from cloudpbx.store import Store, StoreError, new_id
from cloudpbx.store import trunk_leases as leases

log = logging.getLogger(__name__)

LEASE_TTL_S = 30.0  # a lease not renewed for this long stops counting: a dead process frees its trunks within it
USAGE_KINDS = ("inbound", "outbound", "twoway", "burst", "per_minute", "limits_disabled", "soft_limit")


@dataclass(frozen=True)
class Grant:
    """The answer for one call: the account's decision and its reseller's (None when no reseller limits the account,
    or the account refused the call first)."""

    call_id: str
    account: Decision
    reseller: Decision | None
    charged: tuple[str, ...]  # the accounts whose leases the call holds

    @property
    def allowed(self) -> bool:
        return self.account.allowed and (self.reseller is None or self.reseller.allowed)

    @property
    def reason(self) -> str | None:
        """Why the call was refused (the first refusing account's reason), None when it was not."""
        for decision in (self.account, self.reseller):
            if decision is not None and not decision.allowed:
                return decision.billing
        return None


class Trunks:
    """Authorizes carrier calls and holds their leases for this process."""

    def __init__(
        self, store: Store, directory: AccountDirectory, configs: SystemConfigs, node: str, ttl_s: float = LEASE_TTL_S
    ):
        self.store, self.directory, self.configs = store, directory, configs
        self.node = f"{node}/{new_id()[:12]}"  # two processes on one host never renew each other's leases
        self.ttl_s = ttl_s
        self._held: dict[str, tuple[str, ...]] = {}
        self._renewer: asyncio.Task | None = None
        self._turns = Turns()

    async def authorize(self, account_id: str, call_id: str, call: CarrierCall) -> Grant:
        """Decide for the account, then its reseller; when both allow, the call holds a lease in each until
        `release` (or until this process stops renewing it)."""
        charged = await self._charged(account_id)
        limits = {acc: await self.limits(acc) for acc in charged}
        balance = {acc: await available_credit_units(self.store, acc) for acc in charged}
        key = lease_key(call_id)

        def choose(used: leases.Counts, running: leases.Running) -> tuple[Grant, list[leases.LeaseRow]]:
            credit = {acc: available_units(balance[acc], running[acc], now) for acc in charged}
            grant = _granted(key, call, charged, limits, used, credit)
            if not grant.allowed:
                return grant, []
            decided = zip(charged, (grant.account, grant.reseller)[: len(charged)], strict=True)
            return grant, self._rows(key, account_id, call, decided)

        async with self._turns.of(charged):
            now = time.time()
            grant = await leases.take(self.store, charged, key, now, now + self.ttl_s, choose)
        if grant.allowed:
            self._hold(key, charged)
        return grant

    async def preview(self, account_id: str, call: CarrierCall) -> Grant:
        """What `authorize` would answer now, over the same live counts and the same decision, taking no lease and
        no lock (route explanations): a call placed a moment later may find the last trunk taken meanwhile."""
        charged = await self._charged(account_id)
        limits = {acc: await self.limits(acc) for acc in charged}
        balance = {acc: await available_credit_units(self.store, acc) for acc in charged}
        now = time.time()
        async with self.store.read() as tx:
            used, running = await leases.in_use(tx, charged, now)
        credit = {acc: available_units(balance[acc], running[acc], now) for acc in charged}
        return _granted("", call, charged, limits, used, credit)

    async def release(self, grant: Grant) -> None:
        """The call ended: its trunks are free at once, for every process."""
        if self._held.pop(grant.call_id, None) is not None:
            await leases.give_back(self.store, grant.call_id, grant.charged)

    async def available(self, account_id: str) -> int:
        """The account's balance less the running cost of its answered per-minute calls in every process (units)."""
        balance = await available_credit_units(self.store, account_id)
        now = time.time()
        async with self.store.read() as tx:
            running = (await leases.in_use(tx, [account_id], now))[1][account_id]
        return available_units(balance, running, now)

    async def usage(self, account_id: str) -> dict[str, int]:
        """Live leases counted against the account's limits, by kind, and `calls` in all."""
        async with self.store.read() as tx:
            used = (await leases.in_use(tx, [account_id], time.time()))[0][account_id]
        out = {kind: used.get(kind, 0) for kind in USAGE_KINDS}
        out["calls"] = sum(used.values())
        return out

    async def limits(self, account_id: str) -> rules.Limits:
        """The account's effective limits (document over system defaults)."""
        return rules.merge(await limits_doc.stored(self.store, account_id), await rules.system_defaults(self.configs))

    async def close(self) -> None:
        """Stop renewing and give back every lease this process holds."""
        if self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None
        held, self._held = self._held, {}
        if held:
            async with self.store.write() as tx:
                await leases.drop_node(tx, self.node)

    async def _charged(self, account_id: str) -> tuple[str, ...]:
        """The accounts a call of this account is counted against: itself, and its limiting reseller if any."""
        reseller = await self._limiting_reseller(await self._node(account_id))
        return (account_id,) if reseller is None else (account_id, reseller)

    async def _node(self, account_id: str) -> AccountNode:
        node = await self.directory.get(account_id)
        if node is None:
            raise Missing(account_id)
        return node

    async def _limiting_reseller(self, node: AccountNode) -> str | None:
        """The closest reseller above the account, whose limits bind it too; the master (the platform itself) limits
        nobody. Read through the directory's cache, as every call asks."""
        for ancestor_id in reversed(node.tree[1:]):
            ancestor = await self.directory.get(ancestor_id)
            if ancestor is not None and ancestor.reseller:
                return ancestor.id
        return None

    def _rows(self, key: str, owner: str, call: CarrierCall, decided: Iterable) -> list[leases.LeaseRow]:
        return [
            leases.LeaseRow(acc, key, owner, call.direction, decision.lease_kind, self.node)
            for acc, decision in decided
        ]

    def _hold(self, key: str, charged: tuple[str, ...]) -> None:
        self._held[key] = charged
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_forever())

    async def _renew_forever(self) -> None:
        while self._held:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await self.renew()
            except (OSError, StoreError, SQLAlchemyError) as exc:  # the database is away: try again next round
                log.warning("trunk leases not renewed: %s", exc)

    async def renew(self) -> None:
        """Push back this process's counters, and forget those of processes that died (any living one does it),
        after billing their answered per-minute calls to their last known time."""
        now = time.time()
        await bill_dead_calls(self.store, now)
        async with self.store.write() as tx:
            await leases.renew(tx, self.node, now, now + self.ttl_s)


def _granted(
    key: str, call: CarrierCall, charged: tuple[str, ...], limits: Mapping, used: Mapping, credit: Mapping
) -> Grant:
    """The account decides first, then its reseller (not asked once the account refused)."""
    decisions = []
    for acc in charged:
        decisions.append(decide(limits[acc], call, used[acc], credit[acc]))
        if not decisions[-1].allowed:
            break
    return Grant(key, decisions[0], decisions[1] if len(decisions) > 1 else None, charged)


def lease_key(call_id: str) -> str:
    """Call-IDs longer than the column are kept as their digest."""
    return call_id if len(call_id) <= 255 else hashlib.sha256(call_id.encode()).hexdigest()
