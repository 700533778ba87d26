"""The SIP side of a running platform: one endpoint on UDP and TCP, with the registrar serving REGISTER."""

from __future__ import annotations

from cloudpbx.accounts.tree import AccountDirectory
from cloudpbx.config import Settings
from cloudpbx.sip.auth import Authenticator, FailureThrottle
from cloudpbx.sip.core import SipCore
from cloudpbx.sip.digest import Digest
from cloudpbx.sip.registrar import Registrar
from cloudpbx.state.registrations import Registrations
from cloudpbx.store import Store


class SipService:
    def __init__(self, settings: Settings, store: Store, directory: AccountDirectory, registrations: Registrations):
        self.core = SipCore(settings.sip_host, settings.sip_port)
        limit, window_s, block_s = settings.sip_auth_failures
        self.auth = Authenticator(store, directory, Digest(nonce_ttl=settings.sip_nonce_ttl),
                                  FailureThrottle(limit, window_s, block_s))
        self.registrar = Registrar(self.auth, registrations, min_expires=settings.sip_min_expires,
                                   max_expires=settings.sip_max_expires)
        self.core.on("REGISTER", self.registrar.handle)

    async def start(self) -> None:
        await self.core.start()
        self.registrar.start()

    async def stop(self) -> None:
        self.registrar.stop()
        await self.core.stop()
