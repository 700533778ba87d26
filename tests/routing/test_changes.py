"""A carrier created, changed, disabled or deleted through the API is seen by the next route decision of another
process sharing the database (here: routing in-process over the served database), with no restart."""

from __future__ import annotations

import random

import pytest

from cloudpbx.config import Settings
from cloudpbx.routing.decision import NO_ROUTE, Request
from cloudpbx.services import Services
from tests.helpers import unique


@pytest.fixture(scope="module")
async def services(server):
    opened = await Services.open(Settings(data_dir=server[1], db_url=server[2]))
    yield opened
    await opened.close()


def number() -> str:
    """A number in a range only this test's carriers take (+1 555 01X XXXX), so other tests' carriers stay out."""
    return f"+1555{random.randrange(100, 200)}{random.randrange(1000, 9999)}"


RULE = r"^\+1(555[01]\d{6})$"


def servers(decision, carrier_id: str | None = None) -> list[str]:
    """The gateways a decision tries (of one carrier: the global pool is shared with other tests)."""
    return [e.gateway.server for e in decision.endpoints if carrier_id in (None, e.carrier.id)]


async def test_a_global_carrier_takes_effect_changes_and_stops_at_the_next_decision(master, services):
    dialled = number()
    created = master.put(
        "resources", {"name": unique("Global"), "rules": [RULE], "gateways": [{"server": "192.0.2.50"}]}
    )
    assert created.status_code == 201, created.text
    rid = created.json()["data"]["id"]
    assert servers(await services.routes.decide(Request(dialled)), rid) == ["192.0.2.50"]
    changed = master.patch(f"resources/{rid}", {"gateways": [{"server": "192.0.2.51", "prefix": "77"}]})
    assert changed.status_code == 200
    decision = await services.routes.decide(Request(dialled))
    assert [e.dial_string for e in decision.endpoints if e.carrier.id == rid] == [f"sip:77{dialled[2:]}@192.0.2.51"]
    assert master.patch(f"resources/{rid}", {"enabled": False}).status_code == 200
    disabled = await services.routes.decide(Request(dialled))
    assert servers(disabled, rid) == []
    assert next(c for c in disabled.explain()["carriers"] if c["id"] == rid)["verdict"] == "disabled"
    assert master.patch(f"resources/{rid}", {"enabled": True}).status_code == 200
    assert servers(await services.routes.decide(Request(dialled)), rid) == ["192.0.2.51"]
    assert master.delete(f"resources/{rid}").status_code == 200
    gone = await services.routes.decide(Request(dialled))
    assert servers(gone, rid) == [] and rid not in {c["id"] for c in gone.explain()["carriers"]}


async def test_an_accounts_own_carriers_are_its_pool_apart_from_the_global_one(master, services):
    account = master.create_account(master.account_id)["id"]
    dialled = number()
    byoc = master.create(
        account, "resources", {"name": "BYOC", "rules": [RULE], "gateways": [{"server": "192.0.2.60"}]}
    )
    assert servers(await services.routes.decide(Request(dialled), local=account)) == ["192.0.2.60"]
    assert servers(await services.routes.decide(Request(dialled)), byoc["id"]) == []  # not in the global pool
    other = master.create_account(master.account_id)["id"]
    assert (await services.routes.decide(Request(dialled), local=other)).cause == NO_ROUTE
    assert master.delete(f"accounts/{account}/resources/{byoc['id']}").status_code == 200
    assert (await services.routes.decide(Request(dialled), local=account)).cause == NO_ROUTE
