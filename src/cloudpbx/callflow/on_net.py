"""A call delivered inside the platform by the route plan (on-net): the number's holder account runs its callflow
for that number as it does for a call from a carrier, with no calling device, while the caller's own call is the
one that rings, answers and ends (KAZOO's stepswitch local extension)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cloudpbx.callflow.call import BridgeResult, Call, Strategy, Target
from cloudpbx.callflow.caller_id import CallerId
from cloudpbx.limits.metering import Meter
from cloudpbx.routing.decision import Endpoint
from cloudpbx.store import Doc

MAX_HOPS = 5  # on-net deliveries one call may go through: a number routed back out to itself is a loop


class OnNetCall:
    """`call` as the holder account `account_id` sees it: dialling `dialed` (its E.164 number) from no device."""

    def __init__(self, call: Call, account_id: str, dialed: str):
        self.call = call
        self.call_id = call.call_id
        self.account_id = account_id
        self.dialed = dialed
        self.hops: int = hops(call) + 1

    @property
    def caller_id(self) -> CallerId:
        return self.call.caller_id

    @caller_id.setter
    def caller_id(self, value: CallerId) -> None:
        self.call.caller_id = value

    @property
    def caller_device(self) -> Doc | None:
        return None

    @property
    def ended(self) -> bool:
        return self.call.ended

    async def bridge(self, targets: Sequence[Target], strategy: Strategy, timeout_s: int) -> BridgeResult:
        return await self.call.bridge(targets, strategy, timeout_s)

    async def bridge_carriers(
        self,
        endpoints: Sequence[Endpoint],
        caller_id: CallerId,
        timeout_s: int,
        channel_vars: Mapping[str, object],
        meter: Meter | None = None,
    ) -> BridgeResult:
        return await self.call.bridge_carriers(endpoints, caller_id, timeout_s, channel_vars, meter)

    def note(self, **channel_vars: str) -> None:
        self.call.note(**channel_vars)

    async def respond(self, code: int, reason: str) -> None:
        await self.call.respond(code, reason)

    async def hangup(self, cause: str) -> None:
        await self.call.hangup(cause)


def hops(call: Call) -> int:
    """How many on-net deliveries `call` has been through."""
    return call.hops if isinstance(call, OnNetCall) else 0
