"""The caller's side of a call before its answer: the provisional responses it gets, reliable ones (RFC 3262) when
its INVITE supports or requires 100rel, and the requests it sends in the early dialog they create.

A caller that requires 100rel gets every 18x reliably; one that only supports it, the 18x that carry SDP (early
media). A reliable 18x opens the early dialog (registered as the caller's leg's dialog, so its PRACKs, UPDATEs and
BYE reach us) and is resent until PRACKed (`sip.reliable`); the caller's leg moves its `Prack` machine as they
go out and are acknowledged. A PRACK that matches none is answered 481; one with an offer is answered like an
UPDATE. An UPDATE goes on to the callee whose early media the caller hears (`telephony/update.py`); a BYE in the
early dialog ends the INVITE with 487 as a CANCEL would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from cloudpbx.media.relay import RelaySession
from cloudpbx.sip.dialog import Dialog
from cloudpbx.sip.headers import HeaderError, RAck
from cloudpbx.sip.message import Request
from cloudpbx.sip.reliable import ReliableProvisionals, offers_100rel, requires_100rel
from cloudpbx.sip.transaction import InviteServerTransaction, ServerTransaction, make_response
from cloudpbx.telephony.context import ALLOW
from cloudpbx.telephony.leg import Leg
from cloudpbx.telephony.reliability import Prack
from cloudpbx.telephony.update import relay_update

EARLY_ALLOW = "ACK, BYE, CANCEL, OPTIONS, PRACK, UPDATE"


class CallerEarly:
    """Provisional responses to the caller's INVITE `tx` and its early dialog; `on_failure` is called when a
    reliable one was never PRACKed (the INVITE is then to be refused with a 5xx)."""

    def __init__(self, leg: Leg, request: Request, tx: InviteServerTransaction, on_failure: Callable[[], None]):
        self.leg = leg
        self.request, self.tx = request, tx
        self.required = requires_100rel(request)
        self.reliable = ReliableProvisionals(tx, self._failed) if offers_100rel(request) else None
        self.on_failure: Callable[[], None] | None = on_failure
        self.callee: Leg | None = None  # the leg whose early media the caller hears
        self.session: RelaySession | None = None  # that leg's media session

    def provisional(self, status: int, reason: str | None, contact: str, body: bytes = b"") -> None:
        """Send a 18x (reliably when the caller takes them and it carries SDP or the caller requires it)."""
        headers = [("Contact", f"<{contact}>")]
        if self.reliable is None or not (body or self.required):
            self.tx.reply(status, reason, headers=headers, body=body)
            return
        assert self.tx.request is not None
        headers.append(("Allow", ALLOW))
        response = make_response(self.tx.request, status, reason, to_tag=self.tx.to_tag, headers=headers, body=body)
        if self.leg.dialog is None:
            self.leg.attach(Dialog.as_uas(self.request, self.tx.to_tag, contact, self.tx.peer), self.on_request)
        self.reliable.send(response)
        if self.leg.prack is not Prack.AWAITING and self.reliable.outstanding:
            self.leg.acknowledging(Prack.AWAITING)

    def hears(self, callee: Leg, session: RelaySession | None) -> None:
        """The caller now hears `callee`'s early media: its early UPDATEs go there."""
        self.callee, self.session = callee, session

    async def acknowledged(self) -> bool:
        """Wait until every reliable 18x is PRACKed: False when one never was (the INVITE failed)."""
        return True if self.reliable is None else await self.reliable.acknowledged()

    def stop(self) -> None:
        """The INVITE got its final response or the caller left: no more retransmissions, no failure to report."""
        self.on_failure = None
        self.callee = self.session = None
        if self.reliable is not None:
            self.reliable.stop()

    # the caller's requests in the early dialog ------------------------------------------------------------------

    def on_request(self, request: Request, tx: ServerTransaction) -> Awaitable[None] | None:
        method = request.method
        if method == "PRACK":
            return self._prack(request, tx)
        if method == "UPDATE":
            return relay_update(self.session, self.leg, self.callee, request, tx)
        if method == "BYE":  # the caller gives up on the early dialog: as a CANCEL (RFC 3261 15)
            tx.reply(200)
            self.tx.cancel()
        elif method == "OPTIONS":
            tx.reply(200, headers=[("Allow", ALLOW), ("Accept", "application/sdp")])
        elif method != "ACK":
            tx.reply(405, headers=[("Allow", EARLY_ALLOW)])
        return None

    def _prack(self, request: Request, tx: ServerTransaction) -> Awaitable[None] | None:
        try:
            rack = RAck.parse(request.header("rack"))
        except HeaderError as exc:
            tx.reply(400, f"Bad Request ({str(exc)[:60]})")
            return None
        if self.reliable is None or not self.reliable.prack(rack):
            tx.reply(481)
            return None
        self.leg.acknowledging(Prack.AWAITING if self.reliable.outstanding else Prack.IDLE)
        if request.body:  # a new offer after the early answer (RFC 3262 5): answered as an UPDATE's
            return relay_update(self.session, self.leg, self.callee, request, tx)
        tx.reply(200)
        return None

    def _failed(self) -> None:
        if self.leg.prack is Prack.AWAITING:
            self.leg.acknowledging(Prack.FAILED)
        on_failure, self.on_failure = self.on_failure, None
        if on_failure is not None:
            on_failure()
