"""What is decided before a call goes out through carriers, in one place: the route decision over the pool (the
global carriers or an account's own), the trunk authorization of that decision, and the caller ID to present.

The `offnet` and `resources` actions ask `Predial.prepare` and then place the call (`callflow/dialout.py`); the
shared outbound plan that route explanations also print is meant to take this module's place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cloudpbx.accounts import devices
from cloudpbx.accounts.accounts import Accounts
from cloudpbx.accounts.documents import Documents
from cloudpbx.accounts.kinds import USER
from cloudpbx.callflow.call import Call
from cloudpbx.callflow.caller_id import CallerId, CallerIds
from cloudpbx.limits.decision import OUTBOUND, CarrierCall
from cloudpbx.limits.trunks import Grant, Trunks
from cloudpbx.numbers.restrictions import BARRED  # OUTGOING_CALL_BARRED (403), as for restricted numbers
from cloudpbx.routing.decision import Decision, Request
from cloudpbx.routing.service import Routes
from cloudpbx.store import Doc


@dataclass(frozen=True)
class Dial:
    """What a carrier call is to do: the endpoints (in the decision), the caller ID, and its trunk grant."""

    decision: Decision
    caller_id: CallerId
    grant: Grant | None  # None when the decision found no route (nothing was authorized)

    @property
    def cause(self) -> str | None:
        """Why the call cannot go out: no route (NO_ROUTE_DESTINATION), or the limits (OUTGOING_CALL_BARRED)."""
        if self.decision.cause:
            return self.decision.cause
        return None if self.grant is None or self.grant.allowed else BARRED

    @property
    def channel_vars(self) -> dict[str, str]:
        """The billing classification (or the refusal's reason) of the call's account and its reseller, as KAZOO's
        CDRs keep them."""
        grant = self.grant
        if grant is None:
            return {}
        found = {"account_billing": grant.account.billing}
        if grant.reseller is not None:
            found["reseller_billing"] = grant.reseller.billing
        return found


@dataclass(frozen=True)
class Options:
    """The action's data that the decision reads."""

    number: str
    local: str | None = None  # the account whose own carriers route the call; None for the global ones
    flags: tuple[str, ...] = ()
    caller_id_type: str = "external"
    bypass_e164: bool = False


class Predial:
    def __init__(self, routes: Routes, trunks: Trunks, documents: Documents, accounts: Accounts, ids: CallerIds):
        self.routes, self.trunks = routes, trunks
        self.documents, self.accounts, self.caller_ids = documents, accounts, ids

    async def prepare(self, call: Call, options: Options, edit: Callable[[CallerId], CallerId] | None = None) -> Dial:
        """Decide the route, present the caller ID (the device's, with the flow's caller ID edits `edit` applied)
        and, when there is a route, take a trunk; the caller releases the grant (`release`) when the call ends."""
        device = call.caller_device
        owner = await self._owner(call.account_id, device)
        caller_id = call.caller_id
        if device is not None:
            caller_id = await self.caller_ids.for_device(call.account_id, device, options.caller_id_type, caller_id)
            caller_id = edit(caller_id) if edit else caller_id
        account = await self.accounts.get(call.account_id)
        request = Request(
            number=options.number,
            dial_plans=tuple(plan for plan in map(_plan, (device, owner, account)) if plan is not None),
            flags=options.flags + _flags(device) + _flags(owner),
            caller_id_number=caller_id.number or None,
            bypass_e164=options.bypass_e164,
        )
        decision = await self.routes.decide(request, options.local)
        if decision.cause:
            return Dial(decision, caller_id, None)
        carrier_call = CarrierCall(OUTBOUND, decision.number, decision.classification)
        return Dial(decision, caller_id, await self.trunks.authorize(call.account_id, call.call_id, carrier_call))

    async def release(self, dial: Dial) -> None:
        if dial.grant is not None and dial.grant.allowed:
            await self.trunks.release(dial.grant)

    async def may_hunt(self, account_id: str, hunt_account_id: str) -> bool:
        """A `resources` action may use the carriers of the account itself or of one of its ancestors (KAZOO's
        hierarchy check), never a stranger's."""
        caller = await self.accounts.directory.get(account_id)
        return caller is not None and caller.is_within(hunt_account_id)

    async def _owner(self, account_id: str, device: Doc | None) -> Doc | None:
        owner_id = devices.owner_id(device) if device else None
        return await self.documents.find(USER, account_id, owner_id) if owner_id else None


def _plan(doc: Doc | None) -> Mapping[str, Any] | None:
    plan = doc.get("dial_plan") if doc else None
    return plan if isinstance(plan, Mapping) and plan else None


def _flags(doc: Doc | None) -> tuple[str, ...]:
    """`outbound_flags`: a list, or KAZOO's newer `{static: [...]}`."""
    flags = doc.get("outbound_flags") if doc else None
    if isinstance(flags, Mapping):
        flags = flags.get("static")
    return tuple(flag for flag in flags if isinstance(flag, str)) if isinstance(flags, list) else ()
