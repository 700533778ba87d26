"""The SIP side of a running platform: one endpoint on UDP and TCP, with the registrar serving REGISTER and the
B2BUA carrying INVITEs through callflows, their media anchored by an RTP relay and their legs written as CDRs.
`platform.py` builds the parts; this starts and stops them together."""

from __future__ import annotations

from cloudpbx.accounts.cdrs import CdrWriter
from cloudpbx.media.relay import MediaRelay
from cloudpbx.sip.core import SipCore
from cloudpbx.telephony.b2bua import B2BUA
from cloudpbx.telephony.registrar import Registrar


class SipService:
    """Registrar and B2BUA on `core`, which already listens; stopping the service stops it."""

    def __init__(self, core: SipCore, registrar: Registrar, b2bua: B2BUA, relay: MediaRelay, cdrs: CdrWriter):
        self.core, self.registrar, self.b2bua, self.relay, self.cdrs = core, registrar, b2bua, relay, cdrs
        core.on("REGISTER", registrar.handle)

    async def start(self) -> None:
        self.cdrs.start()
        self.registrar.start()

    async def stop(self) -> None:
        self.b2bua.stop()
        self.registrar.stop()
        await self.core.stop()
        await self.relay.close()
        await self.cdrs.close()
