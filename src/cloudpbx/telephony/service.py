"""The SIP side of a running platform: one endpoint on UDP and TCP, with the registrar serving REGISTER and the
B2BUA carrying INVITEs through callflows, their media anchored by an RTP relay on the same host."""

from __future__ import annotations

from cloudpbx.accounts.cdrs import CdrWriter
from cloudpbx.accounts.tree import AccountDirectory
from cloudpbx.callflow.engine import CallflowEngine
from cloudpbx.config import Settings
from cloudpbx.connections import ConnectionGuard
from cloudpbx.media.relay import MediaRelay
from cloudpbx.sip.core import SipCore
from cloudpbx.sip.digest import Digest
from cloudpbx.sip.transport import StreamLimits
from cloudpbx.state.channels import Channels
from cloudpbx.state.registrations import Registrations
from cloudpbx.store import Store
from cloudpbx.telephony.auth import Authenticator, FailureThrottle
from cloudpbx.telephony.b2bua import B2BUA
from cloudpbx.telephony.context import CallContext
from cloudpbx.telephony.registrar import Registrar


def listener(settings: Settings, max_tcp_connections: int) -> SipCore:
    """The SIP endpoint `settings` describe, not listening yet: `serve` binds it before it opens the platform."""
    limits = StreamLimits(message_timeout_s=settings.sip_tcp_message_timeout_s, idle_s=settings.sip_tcp_idle_s)
    guard = ConnectionGuard(max_tcp_connections, settings.sip_tcp_max_per_address)
    return SipCore(settings.sip_host, settings.sip_port, announce=settings.sip_announce, stream_limits=limits,
                   admission=guard)


class SipService:
    """Registrar and B2BUA on `core`, which already listens; stopping the service stops it."""

    def __init__(self, settings: Settings, core: SipCore, store: Store, directory: AccountDirectory,
                 registrations: Registrations, channels: Channels, callflows: CallflowEngine):
        self.core = core
        limit, window_s, block_s = settings.sip_auth_failures
        self.auth = Authenticator(store, directory, Digest(nonce_ttl=settings.sip_nonce_ttl),
                                  FailureThrottle(limit, window_s, block_s))
        self.registrar = Registrar(self.auth, registrations, min_expires=settings.sip_min_expires,
                                   max_expires=settings.sip_max_expires)
        self.core.on("REGISTER", self.registrar.handle)
        self.relay = MediaRelay(settings.sip_host, settings.rtp_ports, announce=settings.sip_announce)
        self.cdrs = CdrWriter(store)
        context = CallContext(self.core, self.relay, channels, registrations, self.cdrs, callflows, store,
                              settings.node)
        self.b2bua = B2BUA(context, self.auth)

    async def start(self) -> None:
        self.cdrs.start()
        self.registrar.start()

    async def stop(self) -> None:
        self.b2bua.stop()
        self.registrar.stop()
        await self.core.stop()
        await self.relay.close()
        await self.cdrs.close()
