"""What every call shares, in one small object handed down from the B2BUA to calls, bridges, legs and
conversations, so none of them reaches back into the B2BUA: the SIP core, the media relay, live channels and
registrations, the CDR queue, the callflow engine, the accounts service (an account's media settings), and the
background tasks the calls start.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from cloudpbx.accounts.accounts import Accounts
from cloudpbx.accounts.cdrs import CdrWriter
from cloudpbx.accounts.devices import bypass_media
from cloudpbx.callflow.engine import CallflowEngine
from cloudpbx.errors import Missing
from cloudpbx.media.relay import MediaRelay
from cloudpbx.sip.core import SipCore
from cloudpbx.state.channels import Channels
from cloudpbx.state.registrations import Registrations
from cloudpbx.store import Doc

log = logging.getLogger(__name__)

# what a call's dialogs take: PRACK and UPDATE (RFC 3262, 3311: telephony/early.py, update.py), REFER transfers
# the call (telephony/transfer.py), NOTIFY is answered 481 (we subscribe to nothing)
DIALOG_METHODS = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "PRACK", "UPDATE", "REFER", "NOTIFY")
EXTENSIONS = ("100rel",)  # the option tags call control implements: Supported, and what Require may ask
ALLOW = ", ".join(DIALOG_METHODS)
BYPASS_ON = (True, "true")


class Ended(Protocol):
    """A leg that ended, as its CDR is queued."""

    account_id: str
    call_id: str

    def cdr(self) -> dict: ...


@dataclass(eq=False)
class CallContext:
    core: SipCore
    relay: MediaRelay
    channels: Channels
    registrations: Registrations
    cdrs: CdrWriter
    callflows: CallflowEngine
    accounts: Accounts
    node: str
    tasks: set[asyncio.Task] = field(default_factory=set)
    # call id of each answered leg → its conversation, where an attended transfer finds the dialog it replaces
    # (typed there: this module sits below it); entries go with the conversation
    conversations: weakref.WeakValueDictionary[str, Any] = field(default_factory=weakref.WeakValueDictionary)

    async def bypass_media(self, account_id: str, device: Doc | None) -> bool:
        """The device's `media.bypass_media`, else its account's; "auto" and unset mean relayed."""
        value = bypass_media(device) if device else None
        if value is None:
            try:
                value = bypass_media(await self.accounts.get(account_id))
            except Missing:  # deleted while the call runs: relayed
                return False
        return value in BYPASS_ON

    def record(self, leg: Ended) -> None:
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
            log.error("call task failed", exc_info=task.exception())

    def stop(self) -> None:
        """Cancel the background work of every call (shutdown)."""
        for task in list(self.tasks):
            task.cancel()
