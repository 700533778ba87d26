"""Per-minute carrier calls through real SIP: SIPp callers authenticated as a device of a sub-account call out
through a SIPp carrier, priced by a rate deck; the tests read the ledgers of the sub-account and its reseller and
the CDRs, which must agree to the unit with the cost formula on each call's billing seconds.

The calls go through a server of this module's own on the session's database, whose balance crawler runs every
0.3 s and whose leases expire 3 s after its last renewal, so a cut-off or a dead process is seen within seconds.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from contextlib import ExitStack
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from cloudpbx.billing.cost import Pricing, call_cost
from cloudpbx.store import open_store
from cloudpbx.store.tables import trunk_leases, trunk_usage
from tests.conftest import free_sip_port, start_server, stop_server
from tests.helpers import Client, unique
from tests.sip.phones import phones, pump, wait_until  # noqa: F401 - phones is a fixture
from tests.sip.sipp import Sipp
from tests.telephony.test_calls import new_device, phone_office, registered, ring_device
from tests.telephony.test_carrier_inbound import add_number, route
from tests.telephony.test_carrier_outbound import add_carrier, gateway, gateway_host

FAST = {"CLOUDPBX_BALANCE_CRAWLER_S": "0.3", "CLOUDPBX_TRUNK_LEASE_TTL_S": "3"}
UK = "442071234567"  # an international number: never a flat-rate trunk's
US = "4155550123"
# $0.60 a minute in 6 s increments after a 6 s minimum, plus $0.05 a call
RATE = {"rate_cost": 0.6, "rate_increment": 6, "rate_minimum": 6, "rate_surcharge": 0.05}
PRICING = Pricing(6000, 6, 6, 500, 0)


def start_node(tmp_path_factory, server) -> tuple:
    """A `cloudpbx serve` on the session's database with a fast crawler and short leases: (process, base, sip)."""
    sip_port = free_sip_port()
    proc, base = start_server(tmp_path_factory.mktemp("node"), server[2], extra_env=FAST, sip_port=sip_port)
    return proc, base, sip_port


@pytest.fixture(scope="module")
def node(tmp_path_factory, server, master):
    proc, base, sip_port = start_node(tmp_path_factory, server)
    yield SimpleNamespace(proc=proc, api=Client(base, master.token), sip_port=sip_port)
    stop_server(proc)


def credit(client, account_id: str, dollars: float) -> None:
    body = {
        "amount": dollars,
        "source": {"service": "payments", "id": unique("pay")},
        "usage": {"type": "credit", "quantity": 1, "unit": "each"},
    }
    resp = client.put(f"accounts/{account_id}/ledgers/credit", envelope={"data": body})
    assert resp.status_code == 201, resp.text


def balance(client, account_id: str) -> float:
    resp = client.get(f"accounts/{account_id}/ledgers/available")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["amount"]


def units(dollars: float) -> int:
    return round(dollars * 10_000)


def priced(
    master,
    node,
    *,
    sub_credit: float,
    reseller_credit: float = 100,
    rate: dict | None = None,
    reseller_limits: dict | None = None,
    **limits,
):
    """A reseller with its own money, a sub-account it credits (fake money) with a deck pricing +44 and +1, an
    account carrier (the SIPp gateway is added per test), and a SIPp caller device of the sub-account."""
    reseller = master.create_account(master.account_id, unique("PM Reseller"))
    assert master.put(f"accounts/{reseller['id']}/reseller").status_code == 200
    sub = master.create_account(reseller["id"], unique("PM Sub"))
    credit(master, reseller["id"], reseller_credit)
    credit(master.admin_of(reseller["id"]), sub["id"], sub_credit)
    if limits:
        assert master.post(f"accounts/{sub['id']}/limits", limits).status_code == 200
    if reseller_limits:
        assert master.post(f"accounts/{reseller['id']}/limits", reseller_limits).status_code == 200
    deck = f"pm-{secrets.token_hex(6)}"
    for prefix in ("44", "1"):
        resp = master.put(
            "rates", {"prefix": prefix, "ratedeck_id": deck, "rate_name": f"to-{prefix}", **(rate or RATE)}
        )
        assert resp.status_code == 201, resp.text
    assert master.post(f"accounts/{sub['id']}/ratedeck", {"ratedeck_id": deck}).status_code == 200
    office = phone_office(sub, SimpleNamespace(sip_port=node.sip_port), 7000)
    device = new_device(master, office, "pm")
    return SimpleNamespace(reseller=reseller["id"], sub=sub["id"], office=office, device=device)


def carrier(stack: ExitStack, calls: int = 1) -> Sipp:
    """A SIPp gateway answering `calls` calls, on a loopback address of its own."""
    return stack.enter_context(Sipp("uas_answer.xml", host=gateway_host(), calls=calls, tick=pump))


def route_out(master, world, gw: Sipp) -> str:
    """A carrier of the sub-account reaching every E.164 number through `gw`, and a callflow `<prefix>` + digits
    to it; returns the prefix."""
    add_carrier(master, world.office, [r"^\+(\d+)$"], [gateway(gw)])
    prefix = world.office.next_number()
    flow = {"module": "resources", "data": {}}
    resp = master.put(f"accounts/{world.sub}/callflows", {"patterns": [f"^{prefix}(\\d+)$"], "flow": flow})
    assert resp.status_code == 201, resp.text
    return prefix


def callers(world, number: str, scenario: str = "uac_call.xml", **options) -> Sipp:
    return Sipp(
        scenario,
        remote=world.office.server,
        service=number,
        keys={"caller": world.device.username, "domain": world.office.realm},
        auth=(world.device.username, world.device.password),
        tick=pump,
        **options,
    )


def entries(client, account_id: str) -> list[dict]:
    resp = client.get(f"accounts/{account_id}/ledgers/per-minute-voip?page_size=1000")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def carrier_legs(client, account_id: str) -> list[dict]:
    """The full CDRs of the account's legs to carriers."""
    rows = client.get(f"accounts/{account_id}/cdrs?paginate=false").json()["data"]
    found = []
    for row in rows:
        if row["direction"] == "outbound":
            resp = client.get(f"accounts/{account_id}/cdrs/{row['id']}")
            assert resp.status_code == 200, resp.text
            found.append({**resp.json()["data"], "cost": int(row["cost"]), "call_type": row["call_type"]})
    return found


def known_calls(url: str, account_id: str) -> tuple[int, float]:
    """How many of the account's leases say their call was answered, and how long after the last of those answers
    their process last renewed them (read in the database, a tenth of a second apart when polled)."""

    async def count() -> tuple[int, float]:
        store = await open_store(url)
        try:
            async with store.read() as tx:
                lease, usage = trunk_leases.c, trunk_usage.c
                query = (
                    select(func.count(), func.min(usage.renewed - lease.answered))
                    .select_from(
                        trunk_leases.join(
                            trunk_usage,
                            (usage.account_id == lease.account_id)
                            & (usage.node == lease.node)
                            & (usage.kind == lease.kind),
                        )
                    )
                    .where(lease.account_id == account_id, lease.answered.is_not(None))
                )
                answered, known = (await tx.conn.execute(query)).one()
                return int(answered), float(known or 0)
        finally:
            await store.dispose()

    time.sleep(0.1)
    return asyncio.run(count())


def settled(client, world, calls: int) -> tuple[list[dict], list[dict]]:
    """The sub-account's per-minute entries and carrier CDRs once `calls` of each are written."""
    found: dict[str, list[dict]] = {}

    def written() -> bool:
        found["entries"], found["legs"] = entries(client, world.sub), carrier_legs(client, world.sub)
        return len(found["entries"]) >= calls and len([leg for leg in found["legs"] if leg["cost"]]) >= calls

    wait_until(written, 30.0, f"{calls} per-minute bills and CDRs")
    return found["entries"], found["legs"]


def test_a_priced_call_debits_the_formulas_cost_on_both_ledgers_and_its_cdr(master, node):
    world = priced(master, node, sub_credit=20)
    with ExitStack() as stack:
        gw = carrier(stack)
        prefix = route_out(master, world, gw)
        result = callers(world, f"{prefix}{UK}", pause_ms=2500).run(timeout=30)
        assert result.ok, result.describe()
    [entry], [leg] = settled(node.api, world, 1)
    ccv = leg["custom_channel_vars"]
    expected = call_cost(PRICING, leg["billing_seconds"])
    assert leg["billing_seconds"] >= 2 and expected > 0
    assert (ccv["per_minute_cost"], leg["cost"], leg["call_type"]) == (expected, expected, "per_minute")
    assert (ccv["rate"], ccv["rate_name"], ccv["rate_increment"], ccv["surcharge"]) == (6000, "to-44", 6, 500)
    assert units(-entry["amount"]) == expected
    assert entry["usage"] == {"type": "voice", "quantity": leg["billing_seconds"], "unit": "sec"}
    assert entry["metadata"]["to"] == f"+{UK}" and entry["metadata"]["rate_name"] == "to-44"
    [twin] = entries(master, world.reseller)
    assert units(-twin["amount"]) == expected and twin["linked"] == {"account_id": world.sub, "id": entry["id"]}
    assert units(balance(master, world.sub)) == units(20) - expected
    assert units(balance(master, world.reseller)) == units(100) - expected
    wait_until(lambda: node.api.get(f"accounts/{world.sub}/limits/usage").json()["data"]["calls"] == 0, 5.0, "idle")


def test_per_minute_calls_overflow_a_full_trunk_and_only_they_are_billed(master, node):
    """The sub-account's one trunk carries the first call (flat rate); the others are per-minute for it alone (its
    reseller has trunks of its own): its ledger is debited, its reseller's is not."""
    world = priced(master, node, sub_credit=20, twoway_trunks=1, reseller_limits={"twoway_trunks": 5})
    with ExitStack() as stack:
        gw = carrier(stack, 3)
        prefix = route_out(master, world, gw)
        result = callers(world, f"{prefix}{US}", calls=3, rate=20, pause_ms=2500).run(timeout=30)
        assert result.ok, result.describe()
    billed, legs = settled(node.api, world, 2)
    assert sorted(leg["call_type"] for leg in legs) == ["flat_rate", "per_minute", "per_minute"]
    assert all(leg["cost"] == 0 for leg in legs if leg["call_type"] == "flat_rate")
    costs = sorted(call_cost(PRICING, leg["billing_seconds"]) for leg in legs if leg["call_type"] == "per_minute")
    assert sorted(units(-entry["amount"]) for entry in billed) == costs
    assert units(balance(master, world.sub)) == units(20) - sum(costs)
    assert entries(master, world.reseller) == [] and balance(master, world.reseller) == 100


def test_the_crawler_cuts_off_a_sub_account_at_its_own_zero_while_its_reseller_has_money(master, node):
    """The seed's fake money: the reseller's $1 to its customer runs out at $60 a minute; the call is hung up (a
    BYE to the caller and to the carrier), both ledgers are debited, and the next call is refused while the
    reseller still has most of its money."""
    world = priced(master, node, sub_credit=1, rate={"rate_cost": 60, "rate_increment": 1, "rate_minimum": 0})
    with ExitStack() as stack:
        gw = carrier(stack)
        prefix = route_out(master, world, gw)
        result = callers(world, f"{prefix}{UK}", "uac_hung_up.xml").run(timeout=40)
        assert result.ok, result.describe()
        assert (gw.stop().successful, gw.result().failed) == (1, 0), "the carrier got a BYE too"
    [entry], [leg] = settled(node.api, world, 1)
    assert leg["hangup_cause"] == "INSUFFICIENT_BALANCE"
    cost = call_cost(Pricing(600_000, 1), leg["billing_seconds"])
    assert units(-entry["amount"]) == leg["cost"] == cost
    assert units(balance(master, world.sub)) == units(1) - cost <= 0
    assert units(balance(master, world.reseller)) == units(100) - cost > units(90)
    with ExitStack() as stack:
        gw = carrier(stack)
        refused = callers(world, f"{prefix}{UK}", pause_ms=100).run(timeout=30)
        assert refused.failed == 1 and gw.result().successful == 0
    assert [row["call_type"] for row in carrier_legs(node.api, world.sub)] == ["per_minute"], "nothing went out"


def test_100_parallel_per_minute_calls_ledger_totals_match_the_cdrs_to_the_unit(master, node):
    world = priced(master, node, sub_credit=1000, reseller_credit=2000)
    with ExitStack() as stack:
        gw = carrier(stack, 100)
        prefix = route_out(master, world, gw)
        result = callers(world, f"{prefix}{UK}", calls=100, rate=50, pause_ms=3000).run(timeout=90)
        assert (result.successful, result.failed) == (100, 0), result.describe()
    billed, legs = settled(node.api, world, 100)
    assert len(billed) == len(legs) == 100
    total = sum(leg["cost"] for leg in legs)
    assert total == sum(call_cost(PRICING, leg["billing_seconds"]) for leg in legs)
    assert sum(units(-entry["amount"]) for entry in billed) == total
    assert sum(entry["usage"]["quantity"] for entry in billed) == sum(leg["billing_seconds"] for leg in legs)
    assert sum(units(-twin["amount"]) for twin in entries(master, world.reseller)) == total
    assert units(balance(master, world.sub)) == units(1000) - total
    assert units(balance(master, world.reseller)) == units(2000) - total


def test_a_killed_server_bills_each_of_its_20_calls_once_to_its_last_known_time(master, node, tmp_path_factory, server):
    """kill -9 during 20 answered per-minute calls; a restarted server (and the module's node) bill each call once,
    up to the dead process's last renewal, and write a CDR saying so."""
    world = priced(master, node, sub_credit=500)
    proc, base, sip_port = start_node(tmp_path_factory, server)
    world.office.server = f"127.0.0.1:{sip_port}"
    there = Client(base, master.token)
    with ExitStack() as stack:
        stack.callback(stop_server, proc)  # also when a step fails before the kill
        gw = carrier(stack, 20)
        prefix = route_out(master, world, gw)
        calls = stack.enter_context(callers(world, f"{prefix}{UK}", "uac_hung_up.xml", calls=20, rate=20))

        known = lambda: known_calls(server[2], world.sub)  # noqa: E731
        wait_until(lambda: known()[0] == 20, 30.0, "20 answered per-minute calls")
        wait_until(lambda: known()[1] >= 2, 30.0, "a renewal 2 s past the last answer")
        assert there.get(f"accounts/{world.sub}/limits/usage").json()["data"]["per_minute"] == 20
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        restarted, _, _ = start_node(tmp_path_factory, server)
        try:
            wait_until(
                lambda: master.get(f"accounts/{world.sub}/limits/usage").json()["data"]["calls"] == 0,
                30.0,
                "the dead process's leases to be billed and dropped",
            )
        finally:
            stop_server(restarted)
        calls.proc.kill()
    billed, legs = settled(master, world, 20)
    assert len(billed) == len(legs) == 20, "each call billed once"
    assert len({entry["source"]["id"] for entry in billed}) == 20, "one entry per call"
    assert all(entry["metadata"]["billed_to_last_known_time"] for entry in billed)
    assert all(leg["hangup_cause"] == "NODE_LOST" for leg in legs)
    assert all(leg["custom_channel_vars"]["billed_to_last_known_time"] for leg in legs)
    total = sum(leg["cost"] for leg in legs)
    assert total == sum(call_cost(PRICING, leg["billing_seconds"]) for leg in legs)
    assert sum(units(-entry["amount"]) for entry in billed) == total
    assert units(balance(master, world.sub)) == units(500) - total
    assert units(balance(master, world.reseller)) == units(100) - total


def test_an_inbound_per_minute_call_is_rated_by_the_number_called_and_billed_once(phones, master, node):
    """A call in from the sub-account's own carrier to its number, with no inbound trunk: per minute at the rate of
    the number called (inbound), debited on both ledgers when it ends."""
    world = priced(master, node, sub_credit=20)
    address = gateway_host()
    add_carrier(master, world.office, [r"^\+1(\d{10})$"], [{"server": address}])
    number = add_number(master, world.sub)
    device = new_device(master, world.office, "did")
    route(master, world.sub, number, ring_device(device))
    phone = registered(phones, world.office, device)
    keys = {"caller": "+12125550100", "caller_name": "Carrier Caller", "asserted": "+12125550100"}
    with Sipp("carrier_call.xml", remote=world.office.server, host=address, service=number, keys=keys, tick=pump):
        incoming = phone.wait_incoming(10.0)
        incoming.answer()
        pump(1.5)  # the call's length: what is billed is read back from its CDR
        incoming.hangup()
    wait_until(lambda: len(entries(node.api, world.sub)) == 1, 15.0, "the call's bill")
    [entry] = entries(node.api, world.sub)
    rows = node.api.get(f"accounts/{world.sub}/cdrs?paginate=false").json()["data"]
    [leg] = [row for row in rows if row["direction"] == "inbound" and row["call_type"] == "per_minute"]
    assert leg["billing_seconds"] >= 1 and int(leg["cost"]) == call_cost(PRICING, leg["billing_seconds"])
    assert (leg["rate_name"], entry["metadata"]["direction"]) == ("to-1", "inbound")
    assert units(-entry["amount"]) == int(leg["cost"])
    [twin] = entries(master, world.reseller)
    assert units(-twin["amount"]) == int(leg["cost"])
