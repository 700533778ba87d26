"""An answered call: the caller's and the callee's dialogs joined through one media session.

Both legs' in-dialog requests come here. BYE ends both legs; a re-INVITE (hold, resume, new media) goes on to
the other leg with its SDP rewritten by the relay session, and the answer comes back the same way; INFO is
relayed, OPTIONS answered; an UPDATE goes on like a re-INVITE (`telephony/update.py`). One offer at a time: while
either leg's `ReInvite` machine is busy another re-INVITE or UPDATE gets 491 (RFC 3261 14.2, RFC 3311 5.2).
REFER starts a `Transfer` (one at a time, else 491), which may `join` a new leg in place of the transferor or
take this conversation's callee into another (`hand_over`). The conversation is over when both its legs are
terminated or handed over.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import cast

from cloudpbx.media.codecs import Incompatible
from cloudpbx.media.handover import held, resumed
from cloudpbx.media.relay import RelaySession
from cloudpbx.media.sdp import SdpError
from cloudpbx.sip.message import Request, Response
from cloudpbx.sip.transaction import InviteClientTransaction, ServerTransaction
from cloudpbx.telephony import causes
from cloudpbx.telephony.context import ALLOW, CallContext
from cloudpbx.telephony.leg import Leg, LegState, ReInvite
from cloudpbx.telephony.outbound import OutboundLeg
from cloudpbx.telephony.refer import BadReferral, Referral
from cloudpbx.telephony.transfer import Transfer
from cloudpbx.telephony.update import relay_update

log = logging.getLogger(__name__)


class Conversation:
    """The `Controller` of both legs once the call is answered."""

    def __init__(self, ctx: CallContext, a: Leg, b: Leg, session: RelaySession):
        self.ctx = ctx
        self.a: Leg = a
        self.b: Leg = b
        self.session = session
        self.transfer: Transfer | None = None
        self.departed: Leg | None = None  # a leg handed over to another conversation by a transfer
        self._changed = asyncio.get_running_loop().create_future()  # a leg joined or departed
        ctx.conversations[a.call_id] = ctx.conversations[b.call_id] = self

    @property
    def over(self) -> bool:
        return all(leg.ended or leg is self.departed for leg in (self.a, self.b))

    async def finished(self) -> None:
        """Return once both legs are terminated or handed over (the legs may change on the way: transfers)."""
        while not self.over:
            ending = [leg.when((LegState.TERMINATED,)) for leg in (self.a, self.b) if not leg.ended]
            await asyncio.wait([*ending, self._changed], return_when=asyncio.FIRST_COMPLETED)
            if self._changed.done():
                self._changed = asyncio.get_running_loop().create_future()

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
        elif method == "REFER":
            await self.on_refer(leg, request, tx)
        elif method == "NOTIFY":
            tx.reply(481)  # we subscribe to nothing
        elif method == "UPDATE":
            await relay_update(self.session, leg, self.other(leg), request, tx)
        elif method == "PRACK":  # every reliable provisional response was PRACKed before the answer
            tx.reply(481)
        else:
            tx.reply(501)

    # ending -----------------------------------------------------------------------------------------------------

    def _hung_up_by(self, leg: Leg) -> None:
        transfer = self.transfer
        if transfer is not None and transfer.routing and leg is transfer.transferor:  # the transferee stays
            self._release_media(leg)
            leg.end(transfer.cause, 200, "recv_bye")
            return
        leg.end(causes.NORMAL_CLEARING, 200, "recv_bye")
        self.other(leg).bye(causes.NORMAL_CLEARING)
        self.session.close()

    def hang_up(self, cause: str) -> None:
        """End the call from our side: BYE to both phones (not to one handed over)."""
        if self.over:
            return
        log.info("call %s: hanging up both legs (%s)", self.a.call_id, cause)
        for leg in (self.b, self.a):
            if leg is not self.departed:
                leg.bye(cause)
        self.session.close()

    # transfers ----------------------------------------------------------------------------------------------------

    async def on_refer(self, leg: Leg, request: Request, tx: ServerTransaction) -> None:
        """REFER: 202 and carry the transfer out (its NOTIFYs report how it went); 400 for a Refer-To we cannot
        use, 491 while another transfer of this call is under way, 403 when media is not relayed."""
        if self.transfer is not None and not self.transfer.over:
            tx.reply(491)
            return
        try:
            referral = Referral.parse(request)
        except BadReferral as exc:
            tx.reply(400, f"Bad Request ({exc})")
            return
        if self.session.bypass:
            tx.reply(403, "Forbidden (transfer needs relayed media)")
            return
        transfer = self.transfer = Transfer(self.ctx, self, leg, referral)
        tx.reply(202, headers=[("Contact", f"<{leg.up.local_contact}>")])
        await transfer.run()

    def join(self, old: Leg, new: Leg, media: RelaySession) -> None:
        """`new` takes `old`'s place: its relay sockets (in `media`, which closes) replace `old`'s, so the phone
        that stays keeps its ports; `old` leaves the call. ValueError, nothing changed, when the media differ."""
        self.session.adopt(old.side, media, new.side)
        new.side = old.side
        self._release_media(old)
        if isinstance(new, OutboundLeg):
            new.session, new.controller = self.session, self
        else:
            new.up.handler = functools.partial(self.on_request, new)
        self.session.on_timeout = self._media_timeout
        if old is self.a:
            self.a = new
        else:
            self.b = new
        stays = self.other(new)
        for leg, partner in ((new, stays), (stays, new)):
            leg.other_call_id = partner.call_id
            if leg.channel:
                leg.channel.extra["other_leg"] = partner.call_id
        self.ctx.conversations[new.call_id] = self
        self._wake()

    def hand_over(self, leg: Leg) -> None:
        """`leg` now belongs to another conversation (an attended transfer took it): nothing here touches it."""
        self.departed = leg
        self._wake()

    async def resume(self, leg: Leg) -> None:
        """Take a phone the transferor left on hold off hold: its own body again, sendrecv (RFC 3264 8.4)."""
        if leg.sent_sdp and held(leg.sent_sdp):
            await self.reoffer(leg, resumed(leg.sent_sdp, self.ctx.relay.announce))

    async def reoffer(self, leg: Leg, offer: bytes) -> bool:
        """Our re-INVITE with `offer` to `leg`'s phone, its answer aimed at by the relay; False when it was not
        taken (the leg busy or gone, a refusal, an unusable answer)."""
        if self.over or leg.ended or leg.reinvite is not ReInvite.IDLE:
            return False
        leg.renegotiate(ReInvite.SENT)
        try:
            response = await self._offer(leg, offer)
            if response is None or response.status >= 300 or not response.body or self.session.closed:
                return False
            await self.session.answer(leg.side, response.body)
            for each in (self.a, self.b):
                each.held(self.session.on_hold())
            return True
        except (SdpError, Incompatible) as exc:
            log.info("call %s: re-offer to %s failed: %s", self.a.call_id, leg.call_id, exc)
            return False
        finally:
            if leg.reinvite is not ReInvite.IDLE:
                leg.renegotiate(ReInvite.IDLE)

    def _release_media(self, leg: Leg) -> None:
        """A leg that leaves the call no longer owns its media session (the call keeps it)."""
        if isinstance(leg, OutboundLeg) and leg.session is self.session:
            leg.session = None

    def _media_timeout(self, session: RelaySession) -> None:
        self.hang_up(causes.MEDIA_TIMEOUT)

    def _wake(self) -> None:
        if not self._changed.done():
            self._changed.set_result(None)

    # media changes ------------------------------------------------------------------------------------------------

    async def _acknowledged(self, leg: Leg, ack: Request) -> None:
        """An ACK: for a late offer the caller's carries the answer the callee's ACK still waits for; any other
        ACK with a body answers an offer we made in a 200 (a re-INVITE without SDP)."""
        owed = leg is self.a and self.b.state is LegState.ACCEPTED
        body = b""
        if ack.body and not self.session.closed:
            try:
                body = await self.session.answer(leg.side, ack.body)
            except (SdpError, Incompatible) as exc:
                log.info("call %s: unusable SDP in an ACK: %s", self.a.call_id, exc)
        if owed and isinstance(self.b, OutboundLeg):
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
        response = await self._offer(other, offer)
        if self.over:
            tx.reply(481)
            return
        if response is None:
            tx.reply(500)
            return
        if response.status >= 300:
            self.session.refused()
            tx.reply(response.status if response.status < 700 else 500)
            return
        try:
            answer = await self.session.answer(other.side, response.body)
        except (SdpError, Incompatible) as exc:
            log.info("call %s: re-INVITE answer unusable: %s", self.a.call_id, exc)
            tx.reply(488)
            return
        tx.reply(200, headers=contact, body=answer)
        leg.sent_sdp = answer
        held = self.session.on_hold()
        for each in (self.a, self.b):
            each.held(held)

    async def _offer(self, leg: Leg, offer: bytes) -> Response | None:
        """Our re-INVITE to `leg`'s phone: its final response, ACKed when a 2xx (then `offer` is what it has).
        None when the leg ended meanwhile."""
        invite = leg.up.new_request("INVITE", body=offer)
        sent = cast(InviteClientTransaction, self.ctx.core.send_request(invite, leg.up.peer))
        response = await sent.final
        if response.status >= 300:
            return response
        if leg.ended:
            return None
        leg.up.refresh(response)
        self.ctx.core.ack(sent, leg.up.ack(invite.cseq.number))
        leg.sent_sdp = offer
        return response

    async def _relay_info(self, leg: Leg, request: Request, tx: ServerTransaction) -> None:
        """INFO (DTMF and the like) goes on to the other phone, its answer back."""
        sent = self.other(leg).send("INFO", body=request.body, content_type=request.get("content-type"))
        response = await sent.final
        tx.reply(response.status if response.status < 700 else 500)
