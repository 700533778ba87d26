"""An answered call: the caller's and the callee's dialogs joined through one media session.

Both legs' in-dialog requests come here. BYE ends both legs; a re-INVITE (hold, resume, new media) goes on to
the other leg with its SDP rewritten by the relay session, and the answer comes back the same way; INFO is
relayed, OPTIONS answered; an UPDATE goes on like a re-INVITE (`telephony/update.py`). One offer at a time: while
either leg's `ReInvite` machine is busy another re-INVITE or UPDATE gets 491 (RFC 3261 14.2, RFC 3311 5.2). The
conversation is over when both legs are terminated.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from cloudpbx.media.codecs import Incompatible
from cloudpbx.media.relay import RelaySession
from cloudpbx.media.sdp import SdpError
from cloudpbx.sip.message import Request
from cloudpbx.sip.transaction import InviteClientTransaction, ServerTransaction
from cloudpbx.telephony import causes
from cloudpbx.telephony.context import ALLOW, CallContext
from cloudpbx.telephony.leg import Leg, LegState, ReInvite
from cloudpbx.telephony.outbound import OutboundLeg
from cloudpbx.telephony.update import relay_update

log = logging.getLogger(__name__)


class Conversation:
    """The `Controller` of both legs once the call is answered."""

    def __init__(self, ctx: CallContext, a: Leg, b: OutboundLeg, session: RelaySession):
        self.ctx = ctx
        self.a, self.b = a, b
        self.session = session

    @property
    def over(self) -> bool:
        return self.a.ended and self.b.ended

    async def finished(self) -> None:
        """Return once both legs are terminated."""
        await asyncio.gather(self.a.when((LegState.TERMINATED,)), self.b.when((LegState.TERMINATED,)))

    def other(self, leg: Leg) -> Leg:
        return self.b if leg is self.a else self.a

    async def on_request(self, leg: Leg, request: Request, tx: ServerTransaction) -> None:
        method = request.method
        if method == "ACK":
            await self._acknowledged(leg, request)
        elif self.over:
            tx.reply(481)
        elif method == "BYE":
            tx.reply(200)
            self._hung_up_by(leg)
        elif method == "INVITE":
            await self._reinvite(leg, request, tx)
        elif method == "OPTIONS":
            tx.reply(200, headers=[("Allow", ALLOW), ("Accept", "application/sdp")])
        elif method == "INFO":
            await self._relay_info(leg, request, tx)
        elif method == "UPDATE":
            await relay_update(self.session, leg, self.other(leg), request, tx)
        elif method == "PRACK":  # every reliable provisional response was PRACKed before the answer
            tx.reply(481)
        else:
            tx.reply(501)

    # ending -----------------------------------------------------------------------------------------------------

    def _hung_up_by(self, leg: Leg) -> None:
        leg.end(causes.NORMAL_CLEARING, 200, "recv_bye")
        self.other(leg).bye(causes.NORMAL_CLEARING)
        self.session.close()

    def hang_up(self, cause: str) -> None:
        """End the call from our side: BYE to both phones."""
        if self.over:
            return
        log.info("call %s: hanging up both legs (%s)", self.a.call_id, cause)
        self.b.bye(cause)
        self.a.bye(cause)
        self.session.close()

    # media changes ------------------------------------------------------------------------------------------------

    async def _acknowledged(self, leg: Leg, ack: Request) -> None:
        """An ACK: for a late offer the caller's carries the answer the callee's ACK still waits for; any other
        ACK with a body answers an offer we made in a 200 (a re-INVITE without SDP)."""
        owed = leg is self.a and self.b.state is LegState.ACCEPTED
        body = b""
        if ack.body and not self.session.closed:
            try:
                body = await self.session.update(leg.side, ack.body)
            except (SdpError, Incompatible) as exc:
                log.info("call %s: unusable SDP in an ACK: %s", self.a.call_id, exc)
        if owed:
            self.b.ack(body)

    async def _reinvite(self, leg: Leg, request: Request, tx: ServerTransaction) -> None:
        if self.a.reinvite is not ReInvite.IDLE or self.b.reinvite is not ReInvite.IDLE:
            tx.reply(491)
            return
        leg.renegotiate(ReInvite.RECEIVED)
        try:
            await self._renegotiate(leg, request, tx)
        finally:
            for each in (self.a, self.b):
                if each.reinvite is not ReInvite.IDLE:
                    each.renegotiate(ReInvite.IDLE)

    async def _renegotiate(self, leg: Leg, request: Request, tx: ServerTransaction) -> None:
        """Offer from `leg` → relay → the other leg's re-INVITE; its answer → relay → our 200 to `leg`."""
        contact = [("Contact", f"<{leg.up.local_contact}>"), ("Allow", ALLOW)]
        if not request.body:  # a refresh without an offer: offer what the leg has now, its ACK answers
            tx.reply(200, headers=contact, body=leg.sent_sdp)
            return
        try:
            offer = await self.session.update(leg.side, request.body)
        except (SdpError, Incompatible) as exc:
            log.info("call %s: re-INVITE refused: %s", self.a.call_id, exc)
            tx.reply(488)
            return
        other = self.other(leg)
        other.renegotiate(ReInvite.SENT)
        invite = other.up.new_request("INVITE", body=offer)
        sent = cast(InviteClientTransaction, self.ctx.core.send_request(invite, other.up.peer))
        response = await sent.final
        if self.over:
            tx.reply(481)
            return
        if response.status >= 300:
            tx.reply(response.status if response.status < 700 else 500)
            return
        other.up.refresh(response)
        self.ctx.core.ack(sent, other.up.ack(invite.cseq.number))
        other.sent_sdp = offer
        try:
            answer = await self.session.update(other.side, response.body)
        except (SdpError, Incompatible) as exc:
            log.info("call %s: re-INVITE answer unusable: %s", self.a.call_id, exc)
            tx.reply(488)
            return
        tx.reply(200, headers=contact, body=answer)
        leg.sent_sdp = answer
        held = self.session.on_hold()
        for each in (self.a, self.b):
            each.held(held)

    async def _relay_info(self, leg: Leg, request: Request, tx: ServerTransaction) -> None:
        """INFO (DTMF and the like) goes on to the other phone, its answer back."""
        sent = self.other(leg).send("INFO", body=request.body, content_type=request.get("content-type"))
        response = await sent.final
        tx.reply(response.status if response.status < 700 else 500)
