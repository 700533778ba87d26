"""The composition root: the shared services (`services.py`) and, when it serves SIP, the SIP side over them.

The CLI binds the SIP endpoint (`sip_endpoint`) before it opens the database, hands it to `Platform.open`, then
only starts and stops what was built here.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudpbx.accounts.cdrs import CdrWriter
from cloudpbx.config import Settings
from cloudpbx.connections import ConnectionGuard
from cloudpbx.media.relay import MediaRelay
from cloudpbx.numbers.inbound import InboundNumbers
from cloudpbx.routing.gateways import GatewayIndex
from cloudpbx.services import Services
from cloudpbx.sip.core import SipCore
from cloudpbx.sip.digest import Digest
from cloudpbx.sip.transport import StreamLimits
from cloudpbx.telephony.auth import Authenticator, FailureThrottle
from cloudpbx.telephony.b2bua import B2BUA
from cloudpbx.telephony.carrier_in import Admission, CarrierGate
from cloudpbx.telephony.context import CallContext
from cloudpbx.telephony.registrar import Registrar
from cloudpbx.telephony.service import SipService


def sip_endpoint(settings: Settings, max_tcp_connections: int) -> SipCore:
    """The SIP endpoint `settings` describe, not listening yet: `serve` binds it before it opens the platform."""
    limits = StreamLimits(message_timeout_s=settings.sip_tcp_message_timeout_s, idle_s=settings.sip_tcp_idle_s)
    guard = ConnectionGuard(max_tcp_connections, settings.sip_tcp_max_per_address)
    return SipCore(
        settings.sip_host, settings.sip_port, announce=settings.sip_announce, stream_limits=limits, admission=guard
    )


@dataclass
class Platform(Services):
    sip: SipService | None = None  # built when the platform is opened on a SIP endpoint

    @classmethod
    async def open(cls, settings: Settings, sip_core: SipCore | None = None) -> Platform:
        platform = await super().open(settings)
        if sip_core is not None:
            platform.sip = platform._sip_service(sip_core)
        return platform

    def _sip_service(self, core: SipCore) -> SipService:
        """Registrar and B2BUA on `core`, sharing this platform's registrations, channels and callflows."""
        settings = self.settings
        limit, window_s, block_s = settings.sip_auth_failures
        auth = Authenticator(
            self.accounts,
            self.devices,
            self.directory,
            Digest(nonce_ttl=settings.sip_nonce_ttl),
            FailureThrottle(limit, window_s, block_s),
        )
        registrar = Registrar(
            auth, self.registrations, min_expires=settings.sip_min_expires, max_expires=settings.sip_max_expires
        )
        relay = MediaRelay(settings.sip_host, settings.rtp_ports, announce=settings.sip_announce)
        cdrs = CdrWriter(self.store)
        context = CallContext(
            core, relay, self.channels, self.registrations, cdrs, self.callflows, self.accounts, settings.node
        )
        carriers = CarrierGate(
            GatewayIndex(self.routes.resources),
            InboundNumbers(self.store),
            self.directory,
            self.classifiers,
            Admission(self.trunks, self.metering, relay),
        )
        return SipService(core, registrar, B2BUA(context, auth, carriers), relay, cdrs)

    async def start(self) -> None:
        """Start the background work of what was built (the SIP side's registrar expiry and CDR writer; the balance
        crawler)."""
        self.crawler.start()
        if self.sip is not None:
            await self.sip.start()

    async def close(self) -> None:
        if self.sip is not None:
            await self.sip.stop()
        await super().close()
