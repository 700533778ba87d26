"""The composition root: the shared services (`services.py`) and, when it serves SIP, the SIP side over them.

The CLI binds the SIP endpoint (`sip_endpoint`) before it opens the database, hands it to `Platform.open`, then
only starts and stops what was built here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cloudpbx.accounts.cdrs import CdrWriter
from cloudpbx.billing import ledgers, low_balance, monthly
from cloudpbx.callflow import emergency_email
from cloudpbx.config import Settings
from cloudpbx.connections import ConnectionGuard
from cloudpbx.media.relay import MediaRelay
from cloudpbx.notify import outbox
from cloudpbx.numbers.inbound import InboundNumbers
from cloudpbx.routing.gateways import GatewayIndex
from cloudpbx.scheduler import Every, Job, Monthly, Run, Scheduler
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
    scheduler: Scheduler = field(init=False)  # periodic jobs, run once per period by the processes on the database

    @classmethod
    async def open(cls, settings: Settings, sip_core: SipCore | None = None) -> Platform:
        platform = await super().open(settings)
        if sip_core is not None:
            platform.sip = platform._sip_service(sip_core)
        platform.scheduler = platform._scheduler()
        platform.emergency_bridge.subscribe(emergency_email.subscriber(platform.store))
        return platform

    def _scheduler(self) -> Scheduler:
        """The periodic jobs (`cloudpbx sup tasks list` shows their runs); started only by `serve`."""
        store = self.store
        scheduler = Scheduler(store, self.trunks.node)

        async def rollover(run: Run) -> None:
            await ledgers.roll_over_all(store, now=run.now)

        async def threshold_alerts(run: Run) -> None:
            await low_balance.check(store, run)

        async def services_bill(run: Run) -> None:
            await monthly.bill_all(store, run)

        async def notify_retry(run: Run) -> None:
            await outbox.deliver_due(store, run.now)

        for job in (
            Job("ledger_rollover", Monthly(), rollover, "each account's monthly rollovers entry"),
            Job(
                "low_balance", Every(900), threshold_alerts, "auto-recharge, then threshold alerts (low_balance email)"
            ),
            Job("services_bill", Monthly(), services_bill, "each account's monthly bill, paid as its mode says"),
            Job("notify_retry", Every(30), notify_retry, "deliver the notifications whose retry is due"),
        ):
            scheduler.register(job)
        return scheduler

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
        crawler; the scheduler)."""
        self.crawler.start()
        if self.sip is not None:
            await self.sip.start()
        await self.scheduler.start()

    async def close(self) -> None:
        await self.scheduler.stop()
        if self.sip is not None:
            await self.sip.stop()
        await super().close()
