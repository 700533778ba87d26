"""Placing a call through carriers, for the `offnet` and `resources` actions (KAZOO's cf_offnet, cf_resources):
the number (`to_did`, else the capture of the pattern that routed the call, else as dialled) is planned by the one
route plan that route explain prints (`routing/plan.py`), and the call does what its outcome says:

- `barred` (restrictions) and `limits_denied` (trunk limits): ended at once with OUTGOING_CALL_BARRED (403), the
  limits' reason in the caller's CDR;
- `on_net`: delivered inside, to the callflow of the number's holder account (`on_net.py`), with no trunk taken;
- `no_route`: a failed bridge (NO_ROUTE_DESTINATION, 404) that a failure branch may catch;
- `carriers`: the gateways one after the other; an emergency call first gets its caller ID, CDR facts and alert
  (`emergency_dial.py`) or is refused 486. A call some charged account pays per minute is metered
  (`limits/metering.py`): rated before it rings, billed once when its carrier leg ends.

The trunks the plan took are released when the call ends, whichever way it ends, after its bill is written.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cloudpbx.accounts.tree import AccountDirectory
from cloudpbx.callflow.call import BridgeResult, Call
from cloudpbx.callflow.caller_id import CallerId, CallerIds
from cloudpbx.callflow.emergency_dial import EmergencyDialling, channel_vars
from cloudpbx.callflow.endpoints import DEFAULT_TIMEOUT_S, non_negative
from cloudpbx.callflow.execution import CONTINUE, STOP, Execution, Next, text
from cloudpbx.callflow.on_net import MAX_HOPS, OnNetCall, hops
from cloudpbx.limits.decision import OUTBOUND
from cloudpbx.limits.metering import Meter, Metering
from cloudpbx.limits.trunks import Grant
from cloudpbx.numbers.restrictions import BARRED
from cloudpbx.routing.decision import NO_ROUTE, Decision
from cloudpbx.routing.plan import CARRIERS, LIMITED, ON_NET, RESTRICTED, OnNet, Plan, Plans

log = logging.getLogger("cloudpbx.callflow")
NO_ROUTE_STATUS = 404


def lease_id(call: Call) -> str:
    """The id of the trunk lease a carrier attempt takes: the call's own id belongs to its inbound lease when it came
    from a carrier, and a call forwarded out holds both trunks (KAZOO counts both channels)."""
    return f"{call.call_id};outbound"


@dataclass(frozen=True)
class Dialout:
    """What the carrier actions use: the route plan, caller IDs, emergency handling, the account tree, and
    `deliver` (the engine running a call in another account, for on-net numbers)."""

    plans: Plans
    caller_ids: CallerIds
    emergency: EmergencyDialling
    directory: AccountDirectory
    deliver: Callable[[Call], Awaitable[object]]
    metering: Metering

    async def may_hunt(self, account_id: str, hunt_account_id: str) -> bool:
        """A `resources` action may use the carriers of the account itself or of one of its ancestors (KAZOO's
        hierarchy check), never a stranger's."""
        caller = await self.directory.get(account_id)
        return caller is not None and caller.is_within(hunt_account_id)

    async def caller_id(self, run: Execution, caller_id_type: str) -> CallerId:
        """What the call presents out of the platform: the device's caller ID of that type with the flow's edits;
        a call without a device keeps the caller ID it has."""
        call = run.call
        if call.caller_device is None:
            return call.caller_id
        found = await self.caller_ids.for_device(call.account_id, call.caller_device, caller_id_type, call.caller_id)
        return run.edits.apply(found)

    async def release(self, plan: Plan | None) -> None:
        if plan is not None and plan.limits is not None and plan.limits.allowed:
            await self.plans.trunks.release(plan.limits)


def billing_vars(grant: Grant | None) -> dict[str, str]:
    """The billing classification (or the refusal's reason) of the account and its reseller, as KAZOO's CDRs keep
    them."""
    if grant is None:
        return {}
    found = {"account_billing": grant.account.billing}
    if grant.reseller is not None:
        found["reseller_billing"] = grant.reseller.billing
    return found


def _flags(data: dict) -> tuple[str, ...]:
    flags = data.get("outbound_flags")
    return tuple(flag for flag in flags if isinstance(flag, str)) if isinstance(flags, list) else ()


async def dial_out(run: Execution, data: dict, local: bool, hunt: str | None = None) -> Next:
    """Plan and act on the plan: STOP once answered, refused or delivered inside, else the failure branch or `_`."""
    call, dialout = run.call, run.dialout
    caller_id = await dialout.caller_id(run, text(data.get("caller_id_type")) or "external")
    plan: Plan | None = None
    meter: list[Meter] = []  # the call's meter once opened, closed (billed) before its trunks go back
    try:
        plan = await dialout.plans.plan(
            call.account_id,
            text(data.get("to_did")) or run.route.capture_group or call.dialed,
            call.caller_device,
            use_local_resources=local,
            hunt_account_id=hunt,
            flags=_flags(data),
            bypass_e164=data.get("bypass_e164") is True or data.get("do_not_normalize") is True,
            caller_id_number=caller_id.number or None,
            call_id=lease_id(call),
        )
        return await _act(run, plan, caller_id, data, meter)
    finally:
        for opened in meter:
            await opened.close()
        await dialout.release(plan)


async def _act(run: Execution, plan: Plan, caller_id: CallerId, data: dict, meter: list[Meter]) -> Next:
    call, outcome = run.call, plan.outcome
    log.info("call %s: %s planned %s (%s)", call.call_id, plan.request.number, outcome, plan.number)
    if outcome in (RESTRICTED, LIMITED):
        call.note(**billing_vars(plan.limits))
        await call.hangup(BARRED)
        return STOP
    if outcome == ON_NET and plan.on_net is not None and await _delivered(run, plan.on_net, caller_id):
        return STOP
    if outcome != CARRIERS or plan.decision is None:
        return _failed(run, BridgeResult(False, NO_ROUTE, NO_ROUTE_STATUS))
    return await _to_carriers(run, plan, plan.decision, caller_id, data, meter)


async def _delivered(run: Execution, on_net: OnNet, caller_id: CallerId) -> bool:
    """Run the holder's callflow for the number, presenting `caller_id`; False for a call that has gone through
    too many such deliveries (a number routed back out to the platform)."""
    call = run.call
    if hops(call) >= MAX_HOPS:
        log.warning("call %s: %s loops through on-net deliveries, not delivered", call.call_id, on_net.number)
        return False
    call.caller_id = caller_id
    await run.dialout.deliver(OnNetCall(call, on_net.holder, on_net.number))
    return True


async def _to_carriers(
    run: Execution, plan: Plan, decision: Decision, caller_id: CallerId, data: dict, meter: list[Meter]
) -> Next:
    """Bridge the decision's gateways, metered when per-minute; an emergency call first takes its identity, or is
    refused."""
    call = run.call
    carried: dict[str, object] = dict(billing_vars(plan.limits))
    if decision.emergency:
        identity = await run.dialout.emergency.identify(call, plan, caller_id)
        if identity.refused:
            await call.respond(identity.code, identity.cause)
            return STOP
        caller_id = identity.caller_id
        carried |= channel_vars(identity)
    call.note(**billing_vars(plan.limits))
    timeout_s = non_negative(data.get("timeout"), 0) or DEFAULT_TIMEOUT_S
    if plan.limits is not None:
        opened = await run.dialout.metering.open(plan.limits, call.call_id, OUTBOUND, plan.number, caller_id.number)
        if opened is not None:
            meter.append(opened)
            carried |= opened.channel_vars()
    metered = meter[0] if meter else None
    result = await call.bridge_carriers(decision.endpoints, caller_id, timeout_s, carried, metered)
    if result.answered or call.ended:
        return STOP
    return _failed(run, result)


def _failed(run: Execution, result: BridgeResult) -> Next:
    run.last_failure = result
    return run.failure_branch(result) or CONTINUE
