"""The caller's leg: the `callflow.call.Call` the engine drives, over the INVITE's server transaction.

The engine asks it to ring targets (`bridge`), to answer with a status (`respond`) or to end (`hangup`). A bridge
that connects answers the caller with the callee's SDP as the relay rewrote it and returns only when the
conversation is over. The caller cancelling (CANCEL, answered 487 by the core) ends the call wherever it is.
Where the call stands is its caller's leg's state: proceeding (INVITE taken), early (a provisional response with a
tag went out), confirmed (answered), terminated (refused, cancelled or hung up). Provisional responses and the early
dialog go through `CallerEarly` (`telephony/early.py`): reliably to a caller that takes 100rel, and then the 200
waits until they are PRACKed; one never PRACKed refuses the INVITE with 500.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping, Sequence

from cloudpbx.accounts.cdrs import new_interaction_id
from cloudpbx.callflow.call import BridgeResult, Strategy, Target
from cloudpbx.callflow.caller_id import CallerId
from cloudpbx.limits.metering import Meter
from cloudpbx.media.codecs import Incompatible
from cloudpbx.media.relay import SessionClosed
from cloudpbx.media.sdp import SdpError
from cloudpbx.routing.decision import Endpoint
from cloudpbx.sip.dialog import Dialog
from cloudpbx.sip.message import Request, Response
from cloudpbx.sip.transaction import PROCEEDING, InviteServerTransaction
from cloudpbx.telephony import causes
from cloudpbx.telephony.bridge import Bridging
from cloudpbx.telephony.carrier_out import CarrierBridging
from cloudpbx.telephony.context import ALLOW, CallContext
from cloudpbx.telephony.conversation import Conversation
from cloudpbx.telephony.early import CallerEarly
from cloudpbx.telephony.identity import CallerIdentity
from cloudpbx.telephony.leg import RINGING, Leg, LegState, gregorian
from cloudpbx.telephony.outbound import Origin, OutboundLeg

log = logging.getLogger(__name__)
MAX_FORWARDS = 70


class InboundCall:
    def __init__(
        self, ctx: CallContext, request: Request, tx: InviteServerTransaction, identity: CallerIdentity, dialed: str
    ):
        self.ctx = ctx
        self.request, self.tx = request, tx
        self.identity = identity  # a device or a carrier
        self.call_id = request.call_id
        self.account_id = identity.account.id
        self.realm = identity.account.realm or identity.realm
        self.dialed = identity.destination(dialed)
        self.caller_device = identity.device
        sender = request.from_
        self.caller_id: CallerId = identity.presented(request)
        self.offer = request.body  # empty: a late offer, the callee's 2xx will make it
        self.codecs = identity.codecs()
        self.bypass = False
        self.max_forwards = min(MAX_FORWARDS, (request.max_forwards or MAX_FORWARDS) - 1)
        self.gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()  # set when the caller leaves
        self.interaction_id = new_interaction_id(gregorian(time.time()))
        self.conversation: Conversation | None = None
        self.a = Leg(
            ctx,
            side="a",
            call_id=self.call_id,
            account_id=self.account_id,
            direction="inbound",
            device=identity.device,
            interaction_id=self.interaction_id,
            bridge_id=self.call_id,
            from_uri=str(sender.uri),
            to_uri=str(request.to.uri),
            request_uri=request.uri,
            realm=self.realm,
            user_agent=request.get("user-agent") or "",
            state=LegState.PROCEEDING,
        )
        self.a.caller = (self.caller_id.name, self.caller_id.number)
        self.a.callee = ("", self.dialed)
        self.a.channel_vars.update(identity.channel_vars())
        self.a.allows = frozenset(method.upper() for method in request.values("allow"))
        self.early = CallerEarly(self.a, request, tx, self._unacknowledged_provisional)
        tx.on_cancel(self._cancelled)
        tx.on_ack_timeout(self._unacknowledged)

    @property
    def ended(self) -> bool:
        """The caller is gone or got its final answer and the call is over."""
        return self.a.ended

    @property
    def unanswered(self) -> bool:
        return self.a.state in RINGING and self.tx.state == PROCEEDING

    async def run(self) -> None:
        """Run the callflow; whatever goes wrong ends this call cleanly, and only this call."""
        self.a.open_channel()
        try:
            if await self.identity.admit(self):  # a carrier call within its trunk limits, any device's call
                self.bypass = await self.ctx.bypass_media(self.account_id, self.caller_device)
                await self.ctx.callflows.handle(self)
            await self.hangup(causes.NORMAL_CLEARING)
        except Exception:
            log.exception("call %s failed", self.call_id)
            self._abort()
        finally:
            if not self.a.ended:  # cancelled (shutdown)
                self._abort()
            await self._finish()

    async def _finish(self) -> None:
        try:
            await self.identity.finish()
        except Exception:
            log.exception("call %s: what its admission took was not given back", self.call_id)

    def _abort(self) -> None:
        if self.conversation is not None:
            self.conversation.hang_up(causes.NORMAL_TEMPORARY_FAILURE)
        elif self.tx.state == PROCEEDING:
            self.tx.reply(500)
        self.a.end(causes.NORMAL_TEMPORARY_FAILURE, 500, "send_refuse")

    # the Call protocol ------------------------------------------------------------------------------------------

    async def respond(self, code: int, reason: str) -> None:
        if not self.unanswered:
            return
        if code < 200:
            if code > 100:  # it carries our tag: an early dialog
                self.a.move(LegState.EARLY)
            self.early.provisional(code, reason or None, self._contact())
        else:
            self._refuse(code, reason, causes.cause_of(code))

    async def hangup(self, cause: str) -> None:
        if self.ended:
            return
        if self.conversation is not None:
            self.conversation.hang_up(cause)
        elif self.unanswered:
            self._refuse(causes.status_of(cause), "", cause)
        else:
            self.a.end(cause, 0, "send_refuse")

    async def bridge(self, targets: Sequence[Target], strategy: Strategy, timeout_s: int) -> BridgeResult:
        if self.ended:
            return BridgeResult(False, causes.ORIGINATOR_CANCEL, 487)
        self.a.caller = (self.caller_id.name, self.caller_id.number)
        outcome = await Bridging(self.ctx, self, targets, strategy, timeout_s).run()
        if isinstance(outcome, BridgeResult):
            return outcome
        return await self._connect(*outcome)

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
        self.a.caller = (self.caller_id.name, self.caller_id.number)
        bridging = CarrierBridging(
            self.ctx, self, self.account_id, endpoints, caller_id, timeout_s, channel_vars, meter
        )
        outcome = await bridging.run()
        if isinstance(outcome, BridgeResult):
            return outcome
        return await self._connect(*outcome)

    def note(self, **channel_vars: str) -> None:
        self.a.channel_vars.update(channel_vars)

    # what a bridge needs --------------------------------------------------------------------------------------

    def origin(self) -> Origin:
        """What the B legs of a bridge take from this call (the caller ID as the callflow left it)."""
        return Origin(self.call_id, self.interaction_id, self.realm, self.max_forwards, self.caller_id.sip())

    # answering ----------------------------------------------------------------------------------------------

    def early_media(self, body: bytes) -> None:
        """Send the unanswered caller a 183 with `body`, media of our own (an announcement before a refusal)."""
        if not self.unanswered or self.a.sent_sdp:
            return
        self.a.move(LegState.EARLY)
        self.a.sent_sdp = body
        self.early.provisional(183, None, self._contact(), body)

    def _refuse(self, code: int, reason: str, cause: str) -> None:
        self.early.stop()
        self.tx.reply(code, reason or None)
        self.a.end(cause, code, "send_refuse")

    def _contact(self) -> str:
        return self.ctx.core.contact(self.tx.peer.transport)

    async def ringing(self, leg: OutboundLeg, response: Response) -> None:
        """A callee's 18x goes on to the caller once (proceeding → early); its early media (183 with SDP) once too,
        even when the caller is early already (then `a.sent_sdp` is what it got)."""
        if not self.unanswered:
            return
        if response.status == 183 and response.body and leg.sent_sdp and leg.session and not self.a.sent_sdp:
            try:
                body = await leg.session.answer_for_a(response.body)
            except (SdpError, Incompatible, RuntimeError):
                body = b""
            if body and self.unanswered:
                self.a.move(LegState.EARLY)
                self.a.sent_sdp = body
                self.early.hears(leg, leg.session)
                leg.early_peer = self.a
                self.early.provisional(183, None, self._contact(), body)
                return
        if self.a.state is LegState.PROCEEDING and self.unanswered:
            self.a.move(LegState.EARLY)
            self.early.provisional(response.status, None, self._contact())

    async def _connect(self, leg: OutboundLeg, response: Response) -> BridgeResult:
        """Answer the caller with what the callee answered, then wait for the conversation to end."""
        try:
            body = await leg.answer_body(response)
        except SessionClosed:  # the callee's BYE came right behind its answer and ended its leg
            return BridgeResult(False, causes.NORMAL_CLEARING)
        except (SdpError, Incompatible) as exc:
            log.info("call %s: the callee's answer is unusable: %s", self.call_id, exc)
            leg.bye(causes.INCOMPATIBLE_DESTINATION)
            return BridgeResult(False, causes.INCOMPATIBLE_DESTINATION, 488)
        if not await self.early.acknowledged():  # a 200 waits for the PRACKs its 18x are owed
            leg.bye(causes.RECOVERY_ON_TIMER_EXPIRE)
            return BridgeResult(False, causes.RECOVERY_ON_TIMER_EXPIRE, 500)
        if not self.unanswered or leg.ended:  # the caller cancelled, or the callee hung up at once
            leg.bye(causes.ORIGINATOR_CANCEL)
            return BridgeResult(False, causes.ORIGINATOR_CANCEL if self.ended else causes.NORMAL_CLEARING)
        conversation = self.conversation = leg.controller = Conversation(self.ctx, self.a, leg, leg.media)
        contact = self.ctx.core.contact(self.tx.peer.transport)
        self.early.stop()
        self.a.attach(
            self.a.dialog or Dialog.as_uas(self.request, self.tx.to_tag, contact, self.tx.peer),
            functools.partial(conversation.on_request, self.a),
        )
        self.tx.reply(200, headers=[("Contact", f"<{contact}>"), ("Allow", ALLOW)], body=body)
        self.a.move(LegState.CONFIRMED)
        self.a.sent_sdp = body
        self.a.callee = leg.callee
        self.a.mark_answered(leg.call_id)
        leg.mark_answered(self.call_id)
        await conversation.finished()
        self.conversation = None  # both legs ended (or went on in a transfer): no reference cycle outlives the call
        if leg.controller is conversation:
            leg.controller = None
        return BridgeResult(True, causes.NORMAL_CLEARING)

    # what the caller does -------------------------------------------------------------------------------------

    def _cancelled(self) -> None:
        self.early.stop()
        self.a.end(causes.ORIGINATOR_CANCEL, 487, "recv_cancel")
        self._left()

    def _left(self) -> None:
        if not self.gone.done():
            self.gone.set_result(None)

    def _unacknowledged_provisional(self) -> None:
        """A reliable 18x was never PRACKed (RFC 3262 3): the INVITE is refused with a 5xx."""
        log.info("call %s: the caller never PRACKed a reliable provisional response", self.call_id)
        if self.unanswered:
            self._refuse(500, "Provisional Response Not Acknowledged", causes.RECOVERY_ON_TIMER_EXPIRE)
        self._left()

    def _unacknowledged(self) -> None:
        if self.conversation is not None:
            log.info("call %s: the caller never acknowledged the answer", self.call_id)
            self.conversation.hang_up(causes.RECOVERY_ON_TIMER_EXPIRE)
