"""A transfer a phone asks for with REFER in an answered call: its stages, from the 202 to the final NOTIFY.

Blind (RFC 3515): the Refer-To number is routed through the transferor's account callflows as a call from the
transferor's device with the transferee's caller ID (`referred.ReferredCall`); the leg that answers takes the
transferor's place in the conversation, its relay sockets replacing the transferor's, so the transferee keeps its
ports and its SDP. Attended (Refer-To with Replaces, RFC 3891): the named dialog must be another live call of the
transferor's own device, placed by it; its callee takes the transferor's place the same way (re-offered the
transferee's codecs) and both of the transferor's legs are hung up. The transferor hears "100 Trying",
"180 Ringing" and the final status in NOTIFYs; on success it hangs up (or is hung up after GRACE_S).

A failed transfer changes nothing while the transferor is still there; if it hung up after the 202 its device is
rung back (RECALL_S) and, when it does not answer, the transferee is hung up. The stages form one machine:

    routing ──→ connected          recalling ──→ connected
       ├──────→ failed                 └──────→ failed
       └──────→ recalling
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from contextlib import suppress
from enum import Enum
from typing import Protocol

from cloudpbx.callflow.call import Target
from cloudpbx.callflow.caller_id import CallerId
from cloudpbx.media.codecs import CodecPolicy, Incompatible
from cloudpbx.media.handover import offer_for_target, retargeted
from cloudpbx.media.relay import RelaySession
from cloudpbx.media.sdp import SdpError
from cloudpbx.sip.message import Request, Response
from cloudpbx.sip.transaction import ServerTransaction
from cloudpbx.store import Doc
from cloudpbx.telephony import causes
from cloudpbx.telephony.context import CallContext
from cloudpbx.telephony.leg import Leg, LegState, gregorian
from cloudpbx.telephony.outbound import Origin, OutboundLeg
from cloudpbx.telephony.refer import Notifier, Referral, Replaces
from cloudpbx.telephony.referred import MAX_FORWARDS, ReferredCall

log = logging.getLogger(__name__)
GRACE_S = 2.0  # how long a transferor told "200 OK" may take to hang up before we do
RECALL_S = 30  # how long a transferor's device rings when its failed transfer comes back to it


class Stage(Enum):
    ROUTING = "routing"  # 202 sent: the target is routed and rung (blind) or looked up (attended)
    RECALLING = "recalling"  # the target failed after the transferor left: its device rings again
    CONNECTED = "connected"  # the transferee talks to the target (or to the transferor, called back)
    FAILED = "failed"  # nothing changed, or the transferee was hung up after an unanswered recall


STAGES: dict[Stage, frozenset[Stage]] = {
    Stage.ROUTING: frozenset((Stage.CONNECTED, Stage.FAILED, Stage.RECALLING)),
    Stage.RECALLING: frozenset((Stage.CONNECTED, Stage.FAILED)),
    Stage.CONNECTED: frozenset(),
    Stage.FAILED: frozenset(),
}


class Joint(Protocol):
    """The conversation a transfer happens in (or takes a leg from), as a transfer uses it."""

    a: Leg
    b: Leg
    session: RelaySession
    transfer: Transfer | None

    def other(self, leg: Leg) -> Leg: ...

    def join(self, old: Leg, new: Leg, media: RelaySession) -> None: ...

    def hand_over(self, leg: Leg) -> None: ...

    def hang_up(self, cause: str) -> None: ...

    async def resume(self, leg: Leg) -> None: ...

    async def reoffer(self, leg: Leg, offer: bytes) -> bool: ...


def identity(leg: Leg) -> tuple[str, str]:
    """The (name, number) of a leg's own phone: the caller of an inbound leg, the callee of an outbound one."""
    return leg.caller if leg.direction == "inbound" else leg.callee


def same_device(one: Leg, other: Leg) -> bool:
    """Both legs are calls of one device of one account (a transferor's two calls)."""
    first, second = one.device or {}, other.device or {}
    return one.account_id == other.account_id and bool(first.get("_id")) and first.get("_id") == second.get("_id")


class Transfer:
    def __init__(self, ctx: CallContext, conversation: Joint, transferor: Leg, referral: Referral):
        self.ctx = ctx
        self.conversation = conversation
        self.transferor = transferor
        self.transferee = conversation.other(transferor)
        self.referral = referral
        self.kind = "attended" if referral.replaces else "blind"
        self.cause = causes.ATTENDED_TRANSFER if referral.replaces else causes.BLIND_TRANSFER
        self.stage = Stage.ROUTING
        self.notifier = Notifier(transferor)
        self.gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()  # the transferee left
        self.transferee.when((LegState.TERMINATED,)).add_done_callback(self._transferee_left)

    def _transferee_left(self, _: object) -> None:
        if not self.gone.done():
            self.gone.set_result(None)

    def move(self, to: Stage) -> None:
        if to not in STAGES[self.stage]:
            raise ValueError(f"transfer of {self.transferee.call_id}: no move from {self.stage.value} to {to.value}")
        self.stage = to

    @property
    def routing(self) -> bool:
        """Still looking for the target: the transferor may hang up without ending the call."""
        return self.stage is Stage.ROUTING

    @property
    def over(self) -> bool:
        return self.stage in (Stage.CONNECTED, Stage.FAILED)

    async def run(self) -> None:
        """Carry the transfer out (the REFER was answered 202); whatever fails is reported, never raised."""
        self.notifier.progress(100)
        try:
            if self.referral.replaces is not None:
                await self._attended(self.referral.replaces)
            else:
                await self._blind()
        except Exception:
            log.exception("transfer of %s failed", self.transferee.call_id)
            if not self.over:
                self.move(Stage.FAILED)
                self.notifier.final(500)
                if self.transferor.ended:  # nobody is left to talk to the transferee
                    self.conversation.hang_up(causes.NORMAL_TEMPORARY_FAILURE)

    # blind -------------------------------------------------------------------------------------------------

    async def _blind(self) -> None:
        log.info("call %s: blind transfer to %s", self.transferee.call_id, self.referral.number)
        call = self._new_call(self.referral.number, self.transferor.device)
        await self.ctx.callflows.handle(call, identify=False)
        if not call.connected:
            await self._failed(call.status)

    def _new_call(self, dialed: str, device: Doc | None) -> ReferredCall:
        """The call to the target, offering the transferee's media as its call with the transferor settled it."""
        name, number = identity(self.transferee)
        caller_id = CallerId(name, number)
        transferee = self.transferee
        origin = Origin(
            transferee.bridge_id, transferee.interaction_id, self.transferor.realm, MAX_FORWARDS, caller_id.sip()
        )
        return ReferredCall(
            self.ctx,
            call_id=transferee.call_id,
            account_id=self.transferor.account_id,
            dialed=dialed,
            device=device,
            caller_id=caller_id,
            origin=origin,
            offer=offer_for_target(self.transferor.sent_sdp, transferee.sent_sdp, self.ctx.relay.announce),
            codecs=CodecPolicy.from_media((transferee.device or {}).get("media")),
            gone=self.gone,
            connect=self._connect,
            progress=self.notifier.progress,
        )

    async def _connect(self, leg: OutboundLeg, response: Response) -> bool:
        """The target answered: its sockets take the transferor's place; False (the leg hung up) when it cannot."""
        try:
            await leg.answer_body(response)  # aims the leg's sockets at its phone
        except (SdpError, Incompatible, RuntimeError) as exc:
            log.info("call %s: the transfer target's answer is unusable: %s", self.transferee.call_id, exc)
            leg.bye(causes.INCOMPATIBLE_DESTINATION)
            return False
        if self.transferee.ended or leg.ended or self.conversation.session.closed:
            leg.bye(causes.ORIGINATOR_CANCEL)  # the target hung up at once, or the transferee is gone
            return False
        try:
            self.conversation.join(self.transferor, leg, leg.media)
        except ValueError as exc:
            log.info("call %s: the transfer target's media cannot be joined: %s", self.transferee.call_id, exc)
            leg.bye(causes.INCOMPATIBLE_DESTINATION)
            return False
        self._replaced()
        if self.stage is Stage.ROUTING:
            self._record(self.transferee, self.transferor, leg)
        self.move(Stage.CONNECTED)
        self.ctx.spawn(self._release(self.transferee))
        return True

    async def _failed(self, status: int) -> None:
        """The target did not answer: the call stays as it was; a transferor that left is called back."""
        log.info("call %s: transfer failed with %d", self.transferee.call_id, status)
        if not self.transferor.ended:
            self.move(Stage.FAILED)
            self.notifier.final(status)
            return
        device = self.transferor.device
        if self.transferee.ended or device is None:
            self.move(Stage.FAILED)
            self.conversation.hang_up(causes.NORMAL_CLEARING)
            return
        self.move(Stage.RECALLING)
        call = self._new_call(self.transferor.callee[1], None)
        await call.bridge([Target(self.transferor.account_id, device, RECALL_S)], "simultaneous", RECALL_S)
        if not call.connected:
            self.move(Stage.FAILED)
            self.conversation.hang_up(causes.NO_ANSWER)

    # attended ----------------------------------------------------------------------------------------------

    async def _attended(self, replaces: Replaces) -> None:
        """Join the transferee with the far end of the dialog Replaces names, then hang up both of the
        transferor's legs; a dialog that is not the transferor's to give changes nothing."""
        refusal = self._refusal(replaces)
        if refusal:
            self.move(Stage.FAILED)
            self.notifier.final(refusal)
            return
        other: Joint = self.ctx.conversations[replaces.call_id]
        replaced = other.a
        target = other.b
        log.info("call %s: attended transfer to %s", self.transferee.call_id, target.call_id)
        try:
            self.conversation.join(self.transferor, target, other.session)
        except ValueError as exc:
            log.info("call %s: attended transfer refused: %s", self.transferee.call_id, exc)
            self.move(Stage.FAILED)
            self.notifier.final(488)
            return
        other.hand_over(target)
        self._replaced()
        self._record(self.transferee, self.transferor, target, replaced)
        self.move(Stage.CONNECTED)
        replaced.bye(self.cause)
        await self._settle(target)
        await self._release(self.transferee)

    async def _settle(self, target: Leg) -> None:
        """Re-offer the target, on its own ports, the codecs the transferee's call settled on: the two calls may
        have settled on different ones, and the relay does not transcode (the transferee is left untouched)."""
        settled = offer_for_target(self.transferor.sent_sdp, self.transferee.sent_sdp, self.ctx.relay.announce)
        offer = retargeted(settled, target.sent_sdp, self.ctx.relay.announce)
        if not await self.conversation.reoffer(target, offer):
            log.info("call %s: the transfer target kept its codec", self.transferee.call_id)

    def _refusal(self, replaces: Replaces) -> int | None:
        """Why the dialog named by Replaces cannot be joined (a NOTIFY status), None when it can: 481 it is not a
        live dialog of ours, 403 it is not the transferor's (another device's, or this very call), 501 the
        transferor was not its caller, 491 it is being transferred itself."""
        other: Joint | None = self.ctx.conversations.get(replaces.call_id)
        if other is None:
            return 481
        replaced = next((leg for leg in (other.a, other.b) if leg.call_id == replaces.call_id), None)
        if replaced is None or replaced.ended or replaced.dialog is None or replaced.dialog.id != replaces.dialog_id:
            return 481
        if other is self.conversation or not same_device(replaced, self.transferor):
            return 403
        if replaced is not other.a or not isinstance(other.b, OutboundLeg) or other.b.ended:
            return 501
        if other.transfer is not None and not other.transfer.over:
            return 491
        return None

    # the end -----------------------------------------------------------------------------------------------

    def _record(self, *legs: Leg) -> None:
        """KAZOO's `transfer_history` entry on every leg the transfer touched."""
        entry = {
            "call_id": self.transferor.call_id,
            "type": self.kind,
            "transferee": self.transferee.call_id,
            "transferer": self.transferor.call_id,
        }
        if self.referral.replaces is None:
            entry["extension"] = self.referral.number
        stamp = str(int(gregorian(time.time())))
        for leg in legs:
            leg.transfer_history[stamp] = dict(entry)

    def _replaced(self) -> None:
        """The transferor is out of the call: its dialog's requests come to `_departing` from now on."""
        if self.transferor.dialog is not None and not self.transferor.ended:
            self.transferor.dialog.handler = functools.partial(self._departing, self.transferor)

    async def _release(self, *joined: Leg) -> None:
        """Take the joined phones off hold if the transferor held them, tell the transferor it worked; it hangs
        up (or is hung up after GRACE_S) with the transfer's cause."""
        await asyncio.gather(*(self.conversation.resume(leg) for leg in joined))
        transferor = self.transferor
        if self.notifier.final(200) is not None:
            with suppress(TimeoutError):
                await asyncio.wait_for(transferor.when((LegState.TERMINATED,)), GRACE_S)
        transferor.bye(self.cause)

    def _departing(self, leg: Leg, request: Request, tx: ServerTransaction) -> None:
        """The transferor's dialog after it was replaced: its BYE ends it; nothing else is taken."""
        if request.method == "BYE":
            tx.reply(200)
            leg.end(self.cause, 200, "recv_bye")
        elif request.method != "ACK":
            tx.reply(481)
