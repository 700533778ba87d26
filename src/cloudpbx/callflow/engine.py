"""The callflow executor: route a call, then run its flow of `{module, data, children}` nodes.

After an action the flow continues with `children[key]`, else `_`, else it ends; `data.skip_module` skips a
node to `_`, and so does a module this engine does not run (logged). When the flow is over and nobody answered,
the call is hung up with the cause of the last failed bridge.
"""

from __future__ import annotations

import logging
from typing import TypeGuard

from cloudpbx.accounts.accounts import Accounts
from cloudpbx.accounts.callflows import Callflows
from cloudpbx.accounts.documents import Documents
from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.callflow.actions import ACTIONS
from cloudpbx.callflow.call import Call
from cloudpbx.callflow.caller_id import CallerIds
from cloudpbx.callflow.dialout import Dialout
from cloudpbx.callflow.emergency import EmergencyCallerIds
from cloudpbx.callflow.emergency_bridge import EmergencyBridge
from cloudpbx.callflow.emergency_dial import EmergencyDialling
from cloudpbx.callflow.endpoints import Endpoints
from cloudpbx.callflow.execution import CONTINUE, MAX_BRANCHES, Execution, Next
from cloudpbx.callflow.lookup import Route, Router
from cloudpbx.limits.metering import Metering
from cloudpbx.numbers.manager import Numbers
from cloudpbx.numbers.restrictions import BARRED, Restrictions
from cloudpbx.routing.plan import Plans

log = logging.getLogger("cloudpbx.callflow")


def _is_node(node: object) -> TypeGuard[dict]:
    return isinstance(node, dict) and isinstance(node.get("module"), str)


def _child(node: dict, key: Next) -> dict | None:
    if key is None:
        return None
    children = node.get("children") or {}
    found = children.get(key)
    return found if _is_node(found) else children.get(CONTINUE)


async def _step(run: Execution, node: dict) -> Next:
    module = node["module"]
    data = node.get("data")
    if not isinstance(data, dict):
        data = {}
    if data.get("skip_module") in (True, "true"):
        return CONTINUE
    action = ACTIONS.get(module)
    if action is None:
        log.info("call %s: callflow module %s is not run by this engine, continuing with _", run.call.call_id, module)
        return CONTINUE
    log.debug("call %s: running %s", run.call.call_id, module)
    return await action(run, data)


async def run_flow(run: Execution, node: dict | None) -> None:
    while _is_node(node) and not run.halted and not run.call.ended:
        run.node = node
        node = _child(node, await _step(run, node))


class CallflowEngine:
    """Routing and execution over the account services; shared by all calls (the pattern cache lives in its
    router)."""

    def __init__(
        self,
        callflows: Callflows,
        documents: Documents,
        accounts: Accounts,
        configs: SystemConfigs,
        restrictions: Restrictions,
        plans: Plans,
        numbers: Numbers,
        metering: Metering,
        max_branches: int = MAX_BRANCHES,
    ):
        self.callflows = callflows
        self.restrictions = restrictions
        self.router = Router(callflows)
        self.endpoints = Endpoints(documents)
        self.caller_ids = CallerIds(documents, accounts, configs)
        emergency = EmergencyDialling(
            EmergencyCallerIds(self.caller_ids, numbers, configs), EmergencyBridge(documents, accounts.directory)
        )
        self.dialout = Dialout(plans, self.caller_ids, emergency, accounts.directory, self.deliver, metering)
        self.max_branches = max_branches

    async def handle(self, call: Call, *, identify: bool = True) -> Route | None:
        """Route the call and run its flow; a number the calling device's restrictions refuse is answered 403
        (OUTGOING_CALL_BARRED), one that routes nowhere 404. `identify` False keeps the call's caller ID instead of
        the calling device's (a transfer presents the transferee)."""
        route = await self.router.lookup(call.account_id, call.dialed, authorized=call.caller_device is not None)
        if await self._barred(call, route):
            await call.hangup(BARRED)
            return None
        if route is None:
            await call.respond(404, "Not Found")
            return None
        await self.execute(call, route, identify=identify)
        return route

    async def deliver(self, call: Call) -> None:
        """Run a call the route plan delivers inside (on-net) as the number's holder account's: as a carrier call,
        with no device and the caller ID it brings."""
        await self.handle(call, identify=False)

    async def _barred(self, call: Call, route: Route | None) -> bool:
        """A calling device's restrictions refuse the number (the capture of the pattern that routed it, else as
        dialled) before anything rings; carrier calls carry no device and are not restricted here."""
        device = call.caller_device
        if device is None:
            return False
        number = (route.capture_group if route else None) or call.dialed
        flow = route.callflow.get("flow") if route else None
        verdict = await self.restrictions.check(call.account_id, device, number, flow)
        if verdict.barred:
            log.info("call %s: %s refused for device %s: %s", call.call_id, number, device["_id"], verdict.reason)
        return verdict.barred

    async def execute(self, call: Call, route: Route, *, identify: bool = True) -> None:
        if identify and call.caller_device is not None:
            call.caller_id = await self.caller_ids.for_device(
                call.account_id, call.caller_device, "internal", call.caller_id
            )
        run = Execution(call, route, self.endpoints, self.callflows, run_flow, self.max_branches, self.dialout)
        await run_flow(run, route.callflow.get("flow"))
        if not call.ended:
            await call.hangup(run.last_failure.cause if run.last_failure else "NORMAL_CLEARING")
