"""The B2BUA: an INVITE from a device or a carrier becomes an inbound call run through an account's callflows.

An INVITE from a carrier's gateway address is the carrier's (`telephony/carrier_in.py`): its number picks the
account. Any other is digest-challenged (407) like a REGISTER; the device that answers is the caller, its account the
one whose callflows route the Request-URI's number. Every call leg it then creates (the caller's, and one per
contact rung) is a live channel while it exists and a CDR when it ends. Media is anchored through the relay
unless the caller's or the callee's device (else account) sets `media.bypass_media`.
"""

from __future__ import annotations

from cloudpbx.media.sdp import SdpError, SessionDescription
from cloudpbx.sip.message import Request, Response
from cloudpbx.sip.transaction import PROCEEDING, InviteServerTransaction, ServerTransaction
from cloudpbx.sip.uri import unescape
from cloudpbx.telephony.auth import Authenticator
from cloudpbx.telephony.call import InboundCall
from cloudpbx.telephony.carrier_in import CarrierGate
from cloudpbx.telephony.context import DIALOG_METHODS, EXTENSIONS, CallContext
from cloudpbx.telephony.identity import CallerIdentity

INFO_BODIES = ("application/dtmf-relay", "application/dtmf", "application/media_control+xml")


def dialed_number(request: Request) -> str:
    """The Request-URI's user part (a tel: URI's number)."""
    uri = request.ruri
    if uri.is_sip:
        return unescape(uri.user or "")
    return (uri.opaque or "").split(";", 1)[0]


def refusal(request: Request) -> tuple[int, str] | None:
    """What is wrong with an authenticated INVITE before any callflow runs: no number, or a body that is not SDP."""
    if not dialed_number(request):
        return 484, "Address Incomplete"
    if request.body:
        try:
            SessionDescription.parse(request.body)
        except SdpError as exc:
            return 400, f"Bad Request (malformed SDP: {str(exc)[:60]})"
    return None


class B2BUA:
    """Takes out-of-dialog INVITEs on `ctx.core`; every call it starts shares `ctx`."""

    def __init__(self, ctx: CallContext, auth: Authenticator, carriers: CarrierGate):
        self.ctx = ctx
        self.auth = auth
        self.carriers = carriers
        ctx.core.on("INVITE", self.handle)
        ctx.core.dialog_methods.update(DIALOG_METHODS)
        ctx.core.supported.update(EXTENSIONS)
        ctx.core.accepts.setdefault("INFO", INFO_BODIES)

    async def handle(self, request: Request, tx: ServerTransaction) -> None:
        """An out-of-dialog INVITE (the core has sent 100 Trying)."""
        assert isinstance(tx, InviteServerTransaction)
        identity: CallerIdentity | Response | None = None
        if "proxy-authorization" not in request:  # a phone answering our challenge is no carrier: no index read
            identity = await self.carriers.identify(request, tx.peer)
        if identity is None:
            identity = await self.auth.authenticate_request(request, tx.peer, proxy=True)
        if isinstance(identity, Response):
            tx.respond(identity)
            return
        if tx.state != PROCEEDING:  # cancelled while we looked the device up
            return
        problem = refusal(request)
        if problem:
            tx.reply(*problem)
            return
        await InboundCall(self.ctx, request, tx, identity, dialed_number(request)).run()

    def stop(self) -> None:
        self.ctx.stop()
