"""The services over one store that the API, the callflow engine and call control share: what the API sees of the
platform. `platform.py` builds them and the SIP side on top; the API imports this module, never the composition
root, so it stays independent of call control."""

from __future__ import annotations

from dataclasses import dataclass

from cloudpbx.accounts.accounts import Accounts
from cloudpbx.accounts.auth_keys import AuthKeys
from cloudpbx.accounts.callflows import Callflows
from cloudpbx.accounts.devices import Devices
from cloudpbx.accounts.documents import Documents
from cloudpbx.accounts.resources import Resources
from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.accounts.tree import AccountDirectory
from cloudpbx.billing.decks import RateDecks
from cloudpbx.billing.payments import charges
from cloudpbx.billing.rating import Rates
from cloudpbx.billing.services import ServicePlans
from cloudpbx.callflow.emergency import EmergencyCallerIds
from cloudpbx.callflow.emergency_bridge import EmergencyBridge
from cloudpbx.callflow.engine import CallflowEngine
from cloudpbx.config import Settings
from cloudpbx.limits.crawler import BalanceCrawler
from cloudpbx.limits.metering import Metering
from cloudpbx.limits.trunks import Trunks
from cloudpbx.numbers.classification import Classifiers
from cloudpbx.numbers.manager import Numbers
from cloudpbx.numbers.restrictions import Restrictions
from cloudpbx.routing.plan import Plans
from cloudpbx.routing.service import Routes
from cloudpbx.state.channels import Channels
from cloudpbx.state.registrations import Registrations
from cloudpbx.store import Store, open_store


@dataclass
class Services:
    settings: Settings
    store: Store
    directory: AccountDirectory
    accounts: Accounts
    documents: Documents
    devices: Devices
    auth_keys: AuthKeys
    configs: SystemConfigs
    numbers: Numbers
    classifiers: Classifiers
    restrictions: Restrictions
    registrations: Registrations
    channels: Channels
    callflows: CallflowEngine
    routes: Routes  # outbound route decisions over the stored carriers
    trunks: Trunks
    emergency_caller_ids: EmergencyCallerIds  # who an emergency call presents, or why it is refused
    emergency_bridge: EmergencyBridge  # the alert (and later deliveries) of every emergency call
    plans: Plans  # outbound route plans: route explain and carrier calls
    ratedecks: RateDecks  # rate decks: who manages them, their rates, each account's deck
    rates: Rates  # rating a number by a deck
    service_plans: ServicePlans  # plans, quantities, invoices, the 402 handshake's prices, the services audit
    metering: Metering  # per-minute calls: rated, marked when answered, billed at hangup
    crawler: BalanceCrawler  # hangs up this process's calls of accounts out of money; bills dead processes' calls

    @classmethod
    async def open(cls, settings: Settings):
        store = await open_store(settings.db_url)
        directory = AccountDirectory(store)
        configs = SystemConfigs(store)
        accounts, documents = Accounts(store, directory, settings.realm_suffix), Documents(store)
        classifiers = Classifiers(configs)
        restrictions = Restrictions(documents, accounts, classifiers)
        routes, numbers = Routes(Resources(store), classifiers), Numbers(store)
        trunks = Trunks(store, directory, configs, settings.node, ttl_s=settings.trunk_lease_ttl_s)
        plans = Plans(routes, restrictions, numbers, trunks, accounts, directory, configs)
        ratedecks, rates = RateDecks(store, directory, configs), Rates(store)
        metering = Metering(store, rates, ratedecks)
        callflows = CallflowEngine(
            Callflows(store), documents, accounts, configs, restrictions, plans, numbers, metering
        )
        return cls(
            settings=settings,
            store=store,
            directory=directory,
            accounts=accounts,
            documents=documents,
            devices=Devices(store),
            auth_keys=AuthKeys(store),
            configs=configs,
            numbers=numbers,
            classifiers=classifiers,
            restrictions=restrictions,
            registrations=Registrations(),
            channels=Channels(),
            callflows=callflows,
            routes=routes,
            trunks=trunks,
            emergency_caller_ids=callflows.dialout.emergency.caller_ids,
            emergency_bridge=callflows.dialout.emergency.bridge,
            plans=plans,
            ratedecks=ratedecks,
            rates=rates,
            service_plans=ServicePlans(store, directory, documents, classifiers),
            metering=metering,
            crawler=BalanceCrawler(trunks, metering, settings.balance_crawler_s),
        )

    async def close(self) -> None:
        await self.crawler.close()
        await self.trunks.close()
        charges.close(self.store)
        await self.store.dispose()
