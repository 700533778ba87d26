"""The outbound route plan: everything decided for a call to a number before a carrier is tried, in the order a
call meets it, each step kept for explaining. Route explain and the `offnet`/`resources` actions call the same
`Plans.plan`, so an explanation is the decision a call makes, not a copy of it.

Steps: the caller's dial plans (device, owner, account) and the E.164 converters; the call restrictions of the
number's class per level (`numbers.restrictions`, the check calls make); on-net (a number an account of the
platform holds is delivered inside unless forced outbound; another tenant's holder is never named); the carrier
decision over the pool (global, or the account's own for `use_local_resources`); the trunk limits decision over
the live counts (`Trunks.authorize` for a call, which takes its trunks; `Trunks.preview` for an explanation, which
takes nothing). The first step that ends the call decides the outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from cloudpbx.accounts.accounts import Accounts
from cloudpbx.accounts.inheritance import resolve
from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.accounts.tree import AccountDirectory
from cloudpbx.limits.decision import OUTBOUND, CarrierCall
from cloudpbx.limits.trunks import Grant, Trunks
from cloudpbx.numbers.manager import Numbers
from cloudpbx.numbers.restrictions import BARRED, Restrictions, Verdict
from cloudpbx.routing.decision import NO_ROUTE, Decision, Request, normalised
from cloudpbx.routing.service import Routes
from cloudpbx.store import SYSTEM, Doc

GLOBAL, LOCAL = "global", "local"
# Outcomes, in the order the steps can end a call.
RESTRICTED, ON_NET, NO_ROUTE_OUTCOME, LIMITED, CARRIERS = "barred", "on_net", "no_route", "limits_denied", "carriers"
ON_NET_STATES = ("in_service", "port_in")  # numbers a call is delivered to inside the platform


@dataclass(frozen=True)
class OnNet:
    """A number held by an account of the platform. `account_id` names the holder only when it is the calling
    account or one of its descendants; `delivered` is False when the call goes out anyway, for `reason`."""

    number: str
    account_id: str | None
    same_account: bool
    delivered: bool
    reason: str
    holder: str = field(default="", repr=False)  # the holder, for delivering the call; never explained


@dataclass(frozen=True)
class Plan:
    account_id: str
    device_id: str | None
    request: Request
    number: str  # after the dial plans and the E.164 converters
    steps: tuple[tuple[str, str, str | None], ...]
    pool: str  # GLOBAL or LOCAL
    local: str | None  # the account whose own carriers a LOCAL plan uses (the caller's, or its hunt account)
    restriction: Verdict
    on_net: OnNet | None = None  # None: not asked (barred first) or held by nobody
    decision: Decision | None = None  # None: the call ended before carriers were looked at
    limits: Grant | None = None  # None: no carrier to charge

    @property
    def outcome(self) -> str:
        if self.restriction.barred:
            return RESTRICTED
        if self.on_net is not None and self.on_net.delivered:
            return ON_NET
        if self.decision is None or not self.decision.endpoints:
            return NO_ROUTE_OUTCOME
        return CARRIERS if self.limits is None or self.limits.allowed else LIMITED

    @property
    def cause(self) -> str | None:
        """The hangup cause when the plan ends the call (OUTGOING_CALL_BARRED is SIP 403, NO_ROUTE_DESTINATION
        404), None when it goes on inside or to the carriers."""
        return {RESTRICTED: BARRED, LIMITED: BARRED, NO_ROUTE_OUTCOME: NO_ROUTE}.get(self.outcome)

    def explain(self, platform_view: bool = True) -> dict[str, Any]:
        """The plan as data, in the order of its steps (see `api/endpoints/route_explain.py` for the schema);
        without `platform_view` (callers other than the platform's own admins) global gateways are redacted."""
        verdict = self.restriction
        route = self.decision.explain(platform_view) if self.decision is not None else None
        return {
            "account_id": self.account_id,
            "device_id": self.device_id,
            "dialled": self.request.number,
            "number": route["number"] if route else self.number,
            "steps": route["steps"] if route else [{"step": s, "number": n, "rule": r} for s, n, r in self.steps],
            "caller_id_number": self.request.caller_id_number,
            "flags": list(self.request.flags),
            "pool": self.pool,
            "restrictions": {
                "classifier": verdict.classifier,
                "levels": dict(verdict.levels),
                "closed_groups": verdict.closed_groups,
                "barred": verdict.barred,
                "reason": verdict.reason,
            },
            "on_net": _on_net(self.on_net),
            "route": route,
            "limits": _limits(self.limits),
            "outcome": self.outcome,
            "cause": self.cause,
        }


def _on_net(found: OnNet | None) -> dict[str, Any] | None:
    if found is None:
        return None
    keys = ("number", "account_id", "same_account", "delivered", "reason")
    return {key: getattr(found, key) for key in keys}


def _limits(grant: Grant | None) -> dict[str, Any] | None:
    if grant is None:
        return None

    def one(decision) -> dict[str, Any] | None:
        return (
            None
            if decision is None
            else {
                "allowed": decision.allowed,
                "billing": decision.billing,
                "trunk": decision.trunk,
                "soft_limit": decision.soft_limit,
            }
        )

    return {
        "allowed": grant.allowed,
        "reason": grant.reason,
        "account": one(grant.account),
        "reseller": one(grant.reseller),
    }


def outbound_flags(docs: Iterable[Doc | None]) -> list[str]:
    """The `outbound_flags` of the device and its owner: a list, or KAZOO's `{static: [...]}` form."""
    found: list[str] = []
    for doc in docs:
        value = (doc or {}).get("outbound_flags")
        if isinstance(value, dict):
            value = value.get("static")
        found.extend(flag for flag in value or () if isinstance(flag, str) and flag and flag not in found)
    return found


class Plans:
    """Plans outbound calls over the stored accounts, numbers, carriers and limits, as they are now."""

    def __init__(
        self,
        routes: Routes,
        restrictions: Restrictions,
        numbers: Numbers,
        trunks: Trunks,
        accounts: Accounts,
        directory: AccountDirectory,
        configs: SystemConfigs,
    ):
        self.routes, self.restrictions, self.numbers, self.trunks = routes, restrictions, numbers, trunks
        self.accounts, self.directory, self.configs = accounts, directory, configs

    async def plan(
        self,
        account_id: str,
        number: str,
        device: Doc | None = None,
        *,
        use_local_resources: bool = False,
        hunt_account_id: str | None = None,
        flags: Iterable[str] = (),
        force_outbound: bool = False,
        bypass_e164: bool = False,
        caller_id_number: str | None = None,
        call_id: str | None = None,
    ) -> Plan:
        """Plan a call of `device` (None: of the account itself) to `number` as dialled. `use_local_resources`
        routes over the account's own carriers (or those of `hunt_account_id`, which the caller checked is in its
        hierarchy); `flags` are the callflow's outbound flags (the device's and its owner's are added);
        `caller_id_number` is what the call presents (None: the device's external caller ID), for carriers'
        cid_rules and short-dial correction. With a `call_id` (a call being placed) the limits step takes the
        call's trunks (`Trunks.authorize`; the caller releases `plan.limits` when the call ends); without one it
        only previews them."""
        caller = await self.restrictions.caller(account_id, device)
        account, owner, device = caller.account, caller.owner, caller.device
        request = Request(
            number,
            dial_plans=tuple(p for p in (_plan(device), _plan(owner), _plan(account)) if p),
            flags=tuple(dict.fromkeys([*(f for f in flags if f), *outbound_flags((device, owner))])),
            caller_id_number=caller_id_number or await self._caller_number(account_id, device, owner),
            bypass_e164=bypass_e164,
            denied_classes=await self.restrictions.denied_classes(caller),
        )
        local = (hunt_account_id or account_id) if use_local_resources else None
        dialled, steps = normalised(request, await self.routes.pool(local or SYSTEM))  # emergency numbers as is
        plan = Plan(
            account_id,
            device["_id"] if device else None,
            request,
            dialled,
            steps,
            LOCAL if use_local_resources else GLOBAL,
            local,
            await self.restrictions.judge(caller, number),
        )
        return await self._onward(plan, force_outbound, call_id)

    async def _onward(self, plan: Plan, force_outbound: bool, call_id: str | None) -> Plan:
        """The steps after the restrictions, each taken only when the call is still going."""
        if plan.restriction.barred:
            return plan
        on_net = await self._on_net(plan.account_id, plan.number, force_outbound)
        if on_net is not None and on_net.delivered:
            return replace(plan, on_net=on_net)
        decision = await self.routes.decide(plan.request, local=plan.local)
        if not decision.endpoints:
            return replace(plan, on_net=on_net, decision=decision)
        call = CarrierCall(OUTBOUND, decision.number, decision.classification, decision.emergency)
        if call_id is None:
            grant = await self.trunks.preview(plan.account_id, call)
        else:
            grant = await self.trunks.authorize(plan.account_id, call_id, call)
        return replace(plan, on_net=on_net, decision=decision, limits=grant)

    async def _on_net(self, account_id: str, number: str, force_outbound: bool) -> OnNet | None:
        """KAZOO's on-net check with `knm_lib:is_force_outbound`: a number held by an account and in service is
        delivered inside, unless the request, a port-in, or the number's `force_outbound` sends it out."""
        doc = await self.numbers.holder(number) if number.startswith("+") else None
        holder = doc.get("pvt_assigned_to") if doc else None
        if doc is None or not holder or doc.get("pvt_state") not in ON_NET_STATES:
            return None
        node = await self.directory.get(holder)
        visible = node is not None and node.is_within(account_id)
        forced = await self._forced(doc, force_outbound)
        reason = forced or ("held by this account" if holder == account_id else "held by an account of the platform")
        return OnNet(number, holder if visible else None, holder == account_id, forced is None, reason, holder)

    async def _forced(self, doc: Doc, force_outbound: bool) -> str | None:
        """Why a number held on the platform is still called through a carrier, None when it is not."""
        if force_outbound:
            return "the call forces outbound"
        if doc.get("pvt_state") == "port_in":
            forced = await self.configs.value("number_manager", "force_port_in_outbound", True)
            return "a number being ported in (number_manager.force_port_in_outbound)" if forced is True else None
        if doc.get("force_outbound") is True:
            return "the number's force_outbound feature"
        if await self.configs.value("number_manager", "default_force_outbound", False) is True:
            return "number_manager.default_force_outbound"
        return None

    async def _caller_number(self, account_id: str, device: Doc | None, owner: Doc | None) -> str | None:
        """The external caller ID number the call would present: device, owner, account chain, system."""
        endpoints = [doc for doc in (device, owner) if doc]
        merged = await resolve(self.configs, "caller_id", endpoints, await self.accounts.chain(account_id))
        entry = merged.get("external") if isinstance(merged, dict) else None
        number = entry.get("number") if isinstance(entry, dict) else None
        return number if isinstance(number, str) and number else None


def _plan(doc: Doc | None) -> dict | None:
    value = (doc or {}).get("dial_plan")
    return value if isinstance(value, dict) and value else None
