"""The new call a transfer makes: its target routed and rung as a call from the transferor's device.

`ReferredCall` is the `callflow.call.Call` the engine runs for a blind transfer (the transferor's account and
callflows, so ring groups and user callflows work; the transferee's caller ID, so the target sees who it will
talk to; the transferor's device is not rung) and the bridge's `Caller` for its B legs, which offer the
transferee's media. When a leg answers it hands it to `connect` (the transfer) instead of answering anyone; a
failure is kept as the status the transferor's NOTIFY reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

from cloudpbx.callflow.call import BridgeResult, Strategy, Target
from cloudpbx.callflow.caller_id import CallerId
from cloudpbx.limits.metering import Meter
from cloudpbx.media.codecs import CodecPolicy
from cloudpbx.routing.decision import Endpoint
from cloudpbx.sip.message import Response
from cloudpbx.store import Doc
from cloudpbx.telephony import causes
from cloudpbx.telephony.bridge import Bridging
from cloudpbx.telephony.carrier_out import CarrierBridging
from cloudpbx.telephony.context import CallContext
from cloudpbx.telephony.leg import LegState
from cloudpbx.telephony.outbound import Origin, OutboundLeg

MAX_FORWARDS = 70
Connect = Callable[[OutboundLeg, Response], Awaitable[bool]]  # True: the leg is now the transferee's partner
Progress = Callable[[int], None]


class ReferredCall:
    def __init__(
        self,
        ctx: CallContext,
        *,
        call_id: str,
        account_id: str,
        dialed: str,
        device: Doc | None,
        caller_id: CallerId,
        origin: Origin,
        offer: bytes,
        codecs: CodecPolicy,
        gone: asyncio.Future[None],
        connect: Connect,
        progress: Progress,
    ):
        self.ctx = ctx
        self.call_id = call_id  # for logs: the transferee's leg
        self.account_id = account_id
        self.dialed = dialed
        self._device = device
        self.caller_id = caller_id
        self._origin = origin
        self.offer = offer
        self.codecs = codecs
        self.bypass = False  # a transfer hands relayed sockets over: its legs are always relayed
        self.gone = gone
        self._connect = connect
        self._progress = progress
        self.connected = False
        self.failure: tuple[int, str] | None = None  # (status, cause) once it failed
        self._last: BridgeResult | None = None  # the last bridge that failed, whose status a hangup reports

    @property
    def caller_device(self) -> Doc | None:
        return self._device

    @property
    def ended(self) -> bool:
        return self.connected or self.failure is not None or self.gone.done()

    @property
    def status(self) -> int:
        """What the transferor is told: 200 once connected, else the failure's status (487: the transferee left)."""
        if self.connected:
            return 200
        return self.failure[0] if self.failure else 487

    # bridge.Caller -------------------------------------------------------------------------------------------

    def origin(self) -> Origin:
        """The B legs' origin, with the caller ID as the callflow left it."""
        base = self._origin
        return Origin(base.call_id, base.interaction_id, base.realm, base.max_forwards, self.caller_id.sip())

    async def ringing(self, leg: OutboundLeg, response: Response) -> None:
        self._progress(180)

    # callflow.call.Call --------------------------------------------------------------------------------------

    async def bridge(self, targets: Sequence[Target], strategy: Strategy, timeout_s: int) -> BridgeResult:
        if self.ended:
            return BridgeResult(False, causes.ORIGINATOR_CANCEL, 487)
        return await self._finish(await Bridging(self.ctx, self, targets, strategy, timeout_s).run())

    async def bridge_carriers(
        self,
        endpoints: Sequence[Endpoint],
        caller_id: CallerId,
        timeout_s: int,
        channel_vars: Mapping[str, object],
        meter: Meter | None = None,
    ) -> BridgeResult:
        if self.ended:
            return BridgeResult(False, causes.ORIGINATOR_CANCEL, 487)
        bridging = CarrierBridging(
            self.ctx, self, self.account_id, endpoints, caller_id, timeout_s, channel_vars, meter
        )
        outcome = await bridging.run()
        result = await self._finish(outcome)
        if result.answered and not isinstance(outcome, BridgeResult):
            await outcome[0].when({LegState.TERMINATED})  # as for any call: over when the carrier's leg is
        return result

    def note(self, **channel_vars: str) -> None:
        """The transfer's own legs keep their CDRs; a refusal reaches the transferor as the NOTIFY's status."""

    async def _finish(self, outcome: tuple[OutboundLeg, Response] | BridgeResult) -> BridgeResult:
        if isinstance(outcome, BridgeResult):
            self._last = outcome
            return outcome
        leg, response = outcome
        if await self._connect(leg, response):
            self.connected = True
            return BridgeResult(True, causes.NORMAL_CLEARING)
        if self.gone.done():
            return BridgeResult(False, causes.ORIGINATOR_CANCEL, 487)
        return BridgeResult(False, causes.INCOMPATIBLE_DESTINATION, 488)

    async def respond(self, code: int, reason: str) -> None:
        if code >= 300 and not self.ended:
            self.failure = (code, causes.cause_of(code))

    async def hangup(self, cause: str) -> None:
        if not self.ended:
            last = self._last
            self.failure = (last.code if last and last.code and last.cause == cause else causes.status_of(cause), cause)
