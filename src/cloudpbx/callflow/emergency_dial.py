"""An emergency call on its way to a carrier (KAZOO's stepswitch emergency bridge): the route plan decided it is one
(an emergency number, 911/933/988, or an emergency carrier); here it gets its caller ID (`emergency.py`: the
account's E911 number, privacy ignored) or its refusal, its CDR facts, and the `emergency_bridge` alert
(`emergency_bridge.py`), raised for every attempt, refused ones included."""

from __future__ import annotations

import logging

from cloudpbx.callflow.call import Call
from cloudpbx.callflow.caller_id import CallerId
from cloudpbx.callflow.emergency import EmergencyCallerIds, EmergencyIdentity
from cloudpbx.callflow.emergency_bridge import EmergencyBridge
from cloudpbx.routing.plan import LOCAL, Plan

log = logging.getLogger("cloudpbx.emergency")


def channel_vars(identity: EmergencyIdentity) -> dict[str, str]:
    """The identity's CDR facts as channel variables (booleans as KAZOO writes them)."""
    return {
        key: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for key, value in identity.cdr_vars().items()
    }


class EmergencyDialling:
    def __init__(self, caller_ids: EmergencyCallerIds, bridge: EmergencyBridge):
        self.caller_ids = caller_ids
        self.bridge = bridge

    async def identify(self, call: Call, plan: Plan, presented: CallerId) -> EmergencyIdentity:
        """The identity `call` presents on its emergency call planned by `plan` (`presented`: the caller ID it
        would show otherwise); the facts go into the caller's CDR and the alert is raised before anything rings."""
        local = plan.pool == LOCAL
        identity = await self.caller_ids.choose(call.account_id, call.caller_device, presented, local=local)
        call.note(**channel_vars(identity))
        await self._alert(call, plan, identity)
        return identity

    async def _alert(self, call: Call, plan: Plan, identity: EmergencyIdentity) -> None:
        """Raise the alert; failing to store it is logged and never keeps an emergency call from going out."""
        try:
            event = await self.bridge.event(
                call.account_id,
                call.caller_device,
                call.call_id,
                plan.request.number,
                caller_id_name=identity.caller_id.name,
                caller_id_number=identity.caller_id.number,
                address=identity.address,
                test=plan.decision is not None and plan.decision.test,
                refused=identity.refused,
            )
            await self.bridge.raised(event)
        except Exception:
            log.exception("emergency call %s: the emergency_bridge alert was not raised", call.call_id)
