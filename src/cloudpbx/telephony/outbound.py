"""A B leg: one INVITE to one registered contact of a device the callflow rings.

The leg opens its own media session (so the forks of a ring group never share ports), offers the caller's SDP
narrowed to the codecs both devices allow, and reports its progress and answer to whoever rings it (`Ringing`: the
bridge), then its in-dialog requests to its `Controller` (the conversation). Each response moves its state (calling,
proceeding, early, accepted, confirmed, terminated) and the move decides what is reported. It can be cancelled while
it rings (cancelling: a 2xx that crosses the CANCEL is acknowledged and hung up, never reported) and hung up once it
answered; either way its end is recorded like any leg's.

An INVITE with an offer says `Supported: 100rel`: a reliable 18x is PRACKed in its early dialog (which then takes
the phone's UPDATEs), a copy of one is neither PRACKed again nor reported twice, and the 2xx confirms that dialog.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol, cast

from cloudpbx.accounts.devices import sip_username
from cloudpbx.callflow.call import Target
from cloudpbx.callflow.caller_id import SipIdentity
from cloudpbx.media.codecs import CodecPolicy
from cloudpbx.media.relay import RelaySession
from cloudpbx.media.sdp import SdpError
from cloudpbx.sip.core import new_call_id
from cloudpbx.sip.dialog import Dialog
from cloudpbx.sip.headers import HeaderError, quote
from cloudpbx.sip.message import Request, Response
from cloudpbx.sip.reliable import OPTION, Acknowledgements, is_reliable
from cloudpbx.sip.transaction import ClientTransaction, InviteClientTransaction, ServerTransaction
from cloudpbx.sip.transport import Peer
from cloudpbx.sip.uri import split_hostport
from cloudpbx.state.registrations import Registration
from cloudpbx.telephony import causes
from cloudpbx.telephony.context import ALLOW, CallContext
from cloudpbx.telephony.leg import ANSWERED, RINGING, SETTLED, Controller, Leg, LegState
from cloudpbx.telephony.reliability import Prack
from cloudpbx.telephony.update import relay_update

log = logging.getLogger(__name__)
_NOT_USER_CHARS = re.compile(r"[^A-Za-z0-9\-_.!~*'()&=+$,;?/]")


def reach_of(registration: Registration) -> Peer:
    """Where requests to a registered contact go: the address the registrar chose (source behind NAT)."""
    host, port = split_hostport(registration.reach)
    return Peer(registration.transport, host.strip("[]"), port or 5060)


def name_addr(display: str, uri: str) -> str:
    return f"{quote(display)} <{uri}>" if display else f"<{uri}>"


def uri_user(text: str) -> str:
    """Caller ID text made safe for the user part of a URI (%-escaped), "anonymous" when empty."""
    return _NOT_USER_CHARS.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text) or "anonymous"


@dataclass(frozen=True)
class Origin:
    """What a B leg takes from the call it rings for."""

    call_id: str
    interaction_id: str
    realm: str
    max_forwards: int
    identity: SipIdentity  # the caller as the callee is to see it


class Ringing(Protocol):
    """Who rings a B leg (the bridge): hears its progress and its answer."""

    async def progress(self, leg: OutboundLeg, response: Response) -> None: ...

    def answered(self, leg: OutboundLeg, response: Response) -> None: ...


class OutboundLeg(Leg):
    def __init__(self, ctx: CallContext, origin: Origin, target: Target, registration: Registration):
        identity = origin.identity
        username = sip_username(target.device) or target.device_id
        super().__init__(
            ctx,
            side="b",
            call_id=new_call_id(ctx.core.address),
            account_id=target.account_id,
            direction="outbound",
            device=target.device,
            interaction_id=origin.interaction_id,
            bridge_id=origin.call_id,
            from_uri=f"sip:{uri_user(identity.user)}@{origin.realm}",
            to_uri=f"sip:{uri_user(username)}@{registration.realm}",
            request_uri=registration.contact,
            realm=registration.realm,
            user_agent=registration.user_agent,
            state=LegState.CALLING,
        )
        self.target = target
        self.registration = registration
        self.callee = (target.device.get("name", ""), username)
        self._signalling(origin, reach_of(registration))

    def _signalling(self, origin: Origin, peer: Peer) -> None:
        """The INVITE usage's starting point, shared with carrier legs (`telephony/carrier_out.py`)."""
        self.origin = origin
        self.peer = peer
        self.caller = (origin.identity.display, origin.identity.user)
        self.session: RelaySession | None = None
        self.invite: Request | None = None
        self.tx: InviteClientTransaction | None = None
        self.controller: Controller | None = None  # the conversation, once connected
        self.early_peer: Leg | None = None  # the caller's leg while it hears this leg's early media
        self.acks = Acknowledgements()
        self.early_answer = b""  # the answer to our offer from a reliable 18x
        self._prack_tx: ClientTransaction | None = None  # our latest PRACK's

    @property
    def media(self) -> RelaySession:
        """The media session of a prepared leg: anything else asking for it is a bug."""
        if self.session is None:
            raise RuntimeError(f"leg {self.call_id} has no media session")
        return self.session

    @property
    def reachable(self) -> bool:
        return self.peer.transport in self.ctx.core.transports

    async def prepare(self, offer: bytes, a_codecs: CodecPolicy, bypass: bool) -> bytes:
        """Open the leg's media session and compute its offer (empty for a late offer). Raises
        codecs.Incompatible before anything is sent when the devices share no audio codec."""
        b_codecs = self.codecs()
        self.session = self.ctx.relay.open(self.call_id, bypass=bypass, on_timeout=self._media_timeout)
        try:
            if not offer:
                self.session.codecs = (a_codecs, b_codecs)
                return b""
            return await self.session.offer_for_b(offer, a_codecs, b_codecs)
        except BaseException:
            self.session.close()
            raise

    def codecs(self) -> CodecPolicy:
        """What the callee may use: the device's media settings."""
        return CodecPolicy.from_media(self.target.device.get("media"))

    def ring(self, body: bytes, ringing: Ringing) -> None:
        """Send the INVITE; responses go to `ringing` (progress, answer) until the final one."""
        self.invite = self._invite(body)
        self.sent_sdp = body
        self.open_channel()
        tx = cast(InviteClientTransaction, self.ctx.core.send_request(self.invite, self.peer))  # an INVITE's
        self.tx = tx
        self.ctx.spawn(self._read(tx, ringing))

    def settled(self) -> asyncio.Future[LegState]:
        """Done when the INVITE got its final response (answered or refused) or the leg ended."""
        return self.when(SETTLED)

    def _invite(self, body: bytes) -> Request:
        core, origin = self.ctx.core, self.origin
        identity = origin.identity
        headers = [("Allow", ALLOW)]
        if body:  # with a late offer a reliable 18x would carry an offer our PRACK could not answer
            headers.append(("Supported", OPTION))
        headers += self.identity_headers()
        request = core.new_request(
            "INVITE",
            self.request_uri,
            from_=name_addr(identity.display, self.from_uri),
            to=f"<{self.to_uri}>",
            call_id=self.call_id,
            contact=core.contact(self.peer.transport),
            headers=headers,
            body=body,
        )
        request.set("Max-Forwards", str(origin.max_forwards))
        return request

    def identity_headers(self) -> list[tuple[str, str]]:
        """A phone sees the caller's true identity only when the caller does not ask for privacy."""
        identity = self.origin.identity
        if identity.privacy:
            return [("Privacy", identity.privacy)]
        if identity.asserted_number:
            asserted = f"sip:{uri_user(identity.asserted_number)}@{self.origin.realm}"
            return [("P-Asserted-Identity", name_addr(identity.asserted_name, asserted))]
        return []

    async def _read(self, tx: InviteClientTransaction, ringing: Ringing) -> None:
        try:
            async for response in tx.responses():
                await self._received(response, ringing)
        except Exception:  # a response we cannot handle ends this leg, never the whole call
            log.exception("leg %s: response handling failed", self.call_id)
            self.cancel(causes.NORMAL_TEMPORARY_FAILURE)
            self.end(causes.NORMAL_TEMPORARY_FAILURE, 500, "send_cancel")

    async def _received(self, response: Response, ringing: Ringing) -> None:
        """Move on a response, then tell `ringing` what the move means: progress, an answer, or nothing."""
        status = response.status
        if status > 100 and "allow" in response:
            self.allows = frozenset(method.upper() for method in response.values("allow"))
        if status < 200:
            if self._provisional(response):
                await ringing.progress(self, response)
        elif status < 300:
            if self._accept(response) is LegState.CANCELLING:
                self.bye(self.cause)  # the 2xx crossed our CANCEL: ACK and BYE, the caller never hears of it
            else:
                ringing.answered(self, response)
        else:
            self._refused(response)

    def _provisional(self, response: Response) -> bool:
        """A 1xx: proceeding, or early once one carries a To tag; True when it is progress to report."""
        if self.state not in RINGING:  # cancelling: nobody listens any more
            return False
        if is_reliable(response) and response.to.tag and not self._prack(response):
            return False  # a copy of one PRACKed already, or out of order
        early = self.state is LegState.EARLY or (response.status > 100 and bool(response.to.tag))
        self.move(LegState.EARLY if early else LegState.PROCEEDING)
        return response.status > 100

    def _prack(self, response: Response) -> bool:
        """PRACK a reliable provisional response in its early dialog; False when it is not to be processed."""
        assert self.invite is not None
        try:
            rack = self.acks.rack(response, self.invite.cseq)
        except HeaderError as exc:
            log.info("leg %s: reliable provisional response dropped: %s", self.call_id, exc)
            return False
        if rack is None:
            return False
        dialog = self._early_dialog(response)
        if response.body and self.sent_sdp and not self.early_answer:
            self.early_answer = response.body
        self.acknowledging(Prack.AWAITING)
        tx = self.ctx.core.send_request(dialog.new_request("PRACK", headers=[("RAck", str(rack))]), dialog.peer)
        self._prack_tx = tx
        self.ctx.spawn(self._pracked(tx))
        return True

    async def _pracked(self, tx: ClientTransaction) -> None:
        """The 200 to our latest PRACK completes the early offer/answer (an UPDATE may then go to the phone)."""
        response = await tx.final
        if tx is self._prack_tx and response.status < 300 and self.prack is Prack.AWAITING:
            self.acknowledging(Prack.IDLE)

    def _early_dialog(self, response: Response) -> Dialog:
        """The early dialog of a tagged 1xx; the leg's first one takes the phone's requests."""
        dialog = self.dialog
        if dialog is not None and dialog.remote_tag == response.to.tag:
            return dialog
        if not response.contacts:
            response.set("Contact", f"<{self.request_uri}>")
        assert self.invite is not None
        dialog = Dialog.as_uac(self.invite, response, self.peer, self.ctx.core.contact(self.peer.transport))
        if self.dialog is None:
            self.attach(dialog, self.on_request)
        return dialog

    def _accept(self, response: Response) -> LegState:
        """A 2xx: the leg's dialog starts; it is acknowledged now unless it carries a late offer (then the
        caller's ACK brings the answer). Returns the state it left."""
        if not response.contacts:
            response.set("Contact", f"<{self.request_uri}>")
        assert self.invite is not None
        was = self.move(LegState.ACCEPTED)
        dialog = self.dialog
        if dialog is not None and dialog.remote_tag == response.to.tag:
            dialog.refresh(response)  # the early dialog confirmed: its CSeq (PRACKs) goes on
        else:
            if dialog is not None:
                self.ctx.core.remove_dialog(dialog)
            dialog = Dialog.as_uac(self.invite, response, self.peer, self.ctx.core.contact(self.peer.transport))
        self.attach(dialog, self.on_request)
        if self.sent_sdp:
            self.ack()
        return was

    def ack(self, body: bytes = b"") -> None:
        """Acknowledge the 2xx (accepted → confirmed); nothing when no ACK is owed."""
        if self.state is not LegState.ACCEPTED or self.dialog is None or self.tx is None or self.invite is None:
            return
        self.move(LegState.CONFIRMED)
        self.ctx.core.ack(self.tx, self.dialog.ack(self.invite.cseq.number, body=body))

    def _refused(self, response: Response) -> None:
        if self.state is LegState.CANCELLING:
            self.end(self.cause, response.status, "send_cancel")
        else:
            self.end(causes.cause_of(response.status), response.status, "recv_refuse")

    async def answer_body(self, response: Response) -> bytes:
        """The body the caller's 200 carries, from this leg's 2xx (an answer, or a late offer); a 2xx without one
        after the answer came in a reliable 18x (RFC 3262 5) takes that."""
        if self.sent_sdp and (response.body or self.early_answer):
            return await self.media.answer_for_a(response.body or self.early_answer)
        if not response.body:
            raise SdpError("a 2xx without SDP")
        return await self.media.update("b", response.body)

    # ending ------------------------------------------------------------------------------------------------

    def cancel(self, cause: str) -> None:
        """Stop ringing (CANCEL; `cause` is what the leg will end with); a leg that answered meanwhile is hung up."""
        if self.tx is None:
            return
        if self.state in ANSWERED:
            self.bye(cause)
        elif self.state in RINGING:
            self.move(LegState.CANCELLING)
            self.cause = cause
            self.ctx.spawn(self.ctx.core.cancel(self.tx))

    def bye(self, cause: str) -> None:
        """Hang up an answered leg, acknowledging its 2xx first if that was still owed."""
        self.ack()
        super().bye(cause)

    def end(self, cause: str, code: int, disposition: str) -> bool:
        ended = super().end(cause, code, disposition)
        self.early_peer = None
        if ended and self.session is not None:
            self.session.close()
        return ended

    def on_request(self, request: Request, tx: ServerTransaction) -> Awaitable[None] | None:
        """In-dialog requests from the callee: the controller's once connected; before that BYE, and UPDATE in an
        early dialog (passed to the caller hearing its early media)."""
        if self.controller is not None:
            return self.controller.on_request(self, request, tx)
        if request.method == "UPDATE" and self.state is LegState.EARLY:
            return relay_update(self.session, self, self.early_peer, request, tx)
        if request.method == "PRACK":  # we send no reliable provisional response to a callee
            tx.reply(481)
        elif request.method == "BYE":
            tx.reply(200)
            self.end(causes.NORMAL_CLEARING, 200, "recv_bye")
        elif request.method != "ACK":
            tx.reply(491)
        return None

    def _media_timeout(self, session: RelaySession) -> None:
        if self.controller is not None:
            self.controller.hang_up(causes.MEDIA_TIMEOUT)
        else:
            session.close()
