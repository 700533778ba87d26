"""What every call shares, in one small object handed down from the B2BUA to calls, bridges, legs and
conversations, so none of them reaches back into the B2BUA: the SIP core, the media relay, live channels and
registrations, the CDR queue, the callflow engine, and the background tasks the calls start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Protocol

from cloudpbx.accounts.cdrs import CdrWriter
from cloudpbx.callflow.engine import CallflowEngine
from cloudpbx.media.relay import MediaRelay
from cloudpbx.sip.core import SipCore
from cloudpbx.state.channels import Channels
from cloudpbx.state.registrations import Registrations
from cloudpbx.store import Doc, Store

log = logging.getLogger(__name__)

# what a call's dialogs take (REFER is not implemented: 501, never advertised)
DIALOG_METHODS = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "PRACK", "UPDATE")
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
    store: Store
    node: str
    tasks: set[asyncio.Task] = field(default_factory=set)

    async def bypass_media(self, account_id: str, device: Doc | None) -> bool:
        """The device's `media.bypass_media`, else its account's; "auto" and unset mean relayed."""
        value = ((device or {}).get("media") or {}).get("bypass_media")
        if value is None:
            account = await self.store.find(account_id, account_id)
            value = ((account or {}).get("media") or {}).get("bypass_media")
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
