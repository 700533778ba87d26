"""The per-minute decision weighs the running cost of the account's answered calls in progress (jonny5's
`available = balance - estimated cost of active per-minute channels`), for the account and its reseller, from the
shared usage counters: a call answered in another process counts the same."""

from __future__ import annotations

import time

from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.accounts.tree import AccountDirectory
from cloudpbx.limits.credit import running_cost_units
from cloudpbx.limits.decision import CarrierCall
from cloudpbx.limits.trunks import Trunks
from cloudpbx.store import new_id, open_store
from cloudpbx.store import trunk_leases as leases
from tests.helpers import unique

CALL = CarrierCall("outbound", "+442071234567", "international")


def credit(client, account_id: str, dollars: float) -> None:
    body = {
        "amount": dollars,
        "source": {"service": "payments", "id": new_id()},
        "usage": {"type": "credit", "quantity": 1, "unit": "each"},
    }
    assert client.put(f"accounts/{account_id}/ledgers/credit", envelope={"data": body}).status_code == 201


def test_the_estimate_is_each_calls_surcharge_and_rate_for_the_whole_seconds_since_its_answer():
    now = 1_000_000.4
    calls = [(6000, 999_940, 500), (1200, 999_990, 0)]  # (rate a minute, answered second, surcharge), in units
    rate = sum(r for r, _, _ in calls)
    offset = sum(r * at - 60 * s for r, at, s in calls)
    assert running_cost_units(rate, offset, now) == (500 + 6000) + 1200 // 6  # 60 s and 10 s
    assert running_cost_units(0, 0, now) == 0
    assert running_cost_units(7, 7 * 1_000_001, now) == 0, "never below zero (answered within this second)"


async def test_an_answered_calls_running_cost_refuses_the_next_call_until_it_ends(master, server):
    reseller = master.create_account(master.account_id, unique("Running Reseller"))
    assert master.put(f"accounts/{reseller['id']}/reseller").status_code == 200
    sub = master.create_account(reseller["id"], unique("Running Sub"))
    credit(master, reseller["id"], 100)
    credit(master.admin_of(reseller["id"]), sub["id"], 1)  # $1 less the $0.50 reserve
    store = await open_store(server[2])
    here = Trunks(store, AccountDirectory(store), SystemConfigs(store), "running-a")
    there = Trunks(store, AccountDirectory(store), SystemConfigs(store), "running-b")  # another process's calls
    try:
        first = await there.authorize(sub["id"], new_id(), CALL)
        assert (first.account.billing, first.reseller and first.reseller.billing) == ("per_minute", "per_minute")
        assert (await here.authorize(sub["id"], new_id(), CALL)).allowed, "unanswered calls cost nothing yet"
        answered = int(time.time()) - 30  # 30 s at $1 a minute: $0.50 spent so far
        await leases.answer(
            store, [leases.Answer(first.call_id, first.charged, answered, 10_000, 10_000 * answered, "{}")]
        )
        refused = await here.authorize(sub["id"], new_id(), CALL)
        assert (refused.allowed, refused.reason) == (False, "insufficient_balance")
        assert await here.available(sub["id"]) <= 5_000
        assert 1_000_000 - 5_500 <= await here.available(reseller["id"]) <= 1_000_000 - 5_000, "the twin's too"
        await there.release(first)
        assert (await here.authorize(sub["id"], new_id(), CALL)).allowed, "its cost is off the counters at once"
    finally:
        await here.close()
        await there.close()
        await store.dispose()
