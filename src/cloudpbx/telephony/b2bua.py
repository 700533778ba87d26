"""The B2BUA: an INVITE from a device becomes an inbound call run through its account's callflows.

The INVITE is digest-challenged (407) like a REGISTER; the device that answers is the caller, its account the
one whose callflows route the Request-URI's number. Every call leg it then creates (the caller's, and one per
contact rung) is a live channel while it exists and a CDR when it ends. Media is anchored through the relay
unless the caller's or the callee's device (else account) sets `media.bypass_media`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine

from cloudpbx.accounts.cdrs import CdrWriter
from cloudpbx.callflow.engine import CallflowEngine
from cloudpbx.media.relay import MediaRelay
from cloudpbx.sip.auth import Authenticator
from cloudpbx.sip.call import InboundCall
from cloudpbx.sip.core import SipCore
from cloudpbx.sip.leg import Leg
from cloudpbx.sip.message import Request, Response
from cloudpbx.media.sdp import SdpError, SessionDescription
from cloudpbx.sip.transaction import PROCEEDING, InviteServerTransaction
from cloudpbx.sip.uri import unescape
from cloudpbx.state.channels import Channels
from cloudpbx.state.registrations import Registrations
from cloudpbx.store import Doc, Store

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO"
INFO_BODIES = ("application/dtmf-relay", "application/dtmf", "application/media_control+xml")
BYPASS_ON = (True, "true")


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
    def __init__(self, core: SipCore, auth: Authenticator, relay: MediaRelay, *, store: Store,
                 callflows: CallflowEngine, registrations: Registrations, channels: Channels, cdrs: CdrWriter,
                 node: str):
        self.core = core
        self.auth = auth
        self.relay = relay
        self.store = store
        self.callflows = callflows
        self.registrations = registrations
        self.channels = channels
        self.cdrs = cdrs
        self.node = node
        self.allow = ALLOW
        self.tasks: set[asyncio.Task] = set()
        core.on("INVITE", self.handle)
        core.accepts.setdefault("INFO", INFO_BODIES)

    async def handle(self, request: Request, tx: InviteServerTransaction) -> None:
        """An out-of-dialog INVITE (the core has sent 100 Trying)."""
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
        await InboundCall(self, request, tx, identity, dialed_number(request)).run()

    async def bypass_media(self, account_id: str, device: Doc | None) -> bool:
        """The device's `media.bypass_media`, else its account's; "auto" and unset mean relayed."""
        value = ((device or {}).get("media") or {}).get("bypass_media")
        if value is None:
            account = await self.store.find(account_id, account_id)
            value = ((account or {}).get("media") or {}).get("bypass_media")
        return value in BYPASS_ON

    def record(self, leg: Leg) -> None:
        """Queue an ended leg's CDR for its account; a failure is logged, never raised into the call."""
        try:
            self.cdrs.record(leg.account_id, leg.cdr())
        except Exception:
            log.exception("CDR of leg %s not recorded", leg.call_id)

    def spawn(self, work: Coroutine) -> asyncio.Task:
        """Run `work` in the background, kept alive until done; its failure is logged."""
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("B2BUA task failed", exc_info=task.exception())

    def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
