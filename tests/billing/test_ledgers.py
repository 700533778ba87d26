"""Ledgers and balances through a real server: credit and debit by the account's provider only, exact dollars,
summaries, entries (range, paging, CSV), the available balance, impact_reseller twins written together or not at
all, idempotent retries, monthly rollovers, per-minute credit, and concurrent credits from two processes."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import orjson
import pytest
from sqlalchemy import func, select

from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.accounts.tree import AccountDirectory
from cloudpbx.billing import ledgers
from cloudpbx.errors import Invalid
from cloudpbx.limits.decision import CarrierCall
from cloudpbx.limits.trunks import Trunks
from cloudpbx.store import gregorian_now, new_id, open_store
from cloudpbx.store import ledgers as ledger_rows
from cloudpbx.store.tables import ledger_balances, ledger_entries, metadata
from tests.conftest import ROOT, sup_argv
from tests.helpers import Client, unique


@pytest.fixture(scope="module")
def world(master):
    """master → direct D; master → reseller R → customer C → sub S; R → sibling X."""
    d = master.create_account(master.account_id, unique("Ledger Direct"))
    r = master.create_account(master.account_id, unique("Ledger Reseller"))
    assert master.put(f"accounts/{r['id']}/reseller").status_code == 200
    c = master.create_account(r["id"], unique("Ledger Customer"))
    s = master.create_account(c["id"], unique("Ledger Sub"))
    x = master.create_account(r["id"], unique("Ledger Sibling"))
    admins = {f"{n}_admin": master.admin_of(a["id"]) for n, a in (("d", d), ("r", r), ("c", c), ("s", s), ("x", x))}
    return SimpleNamespace(master=master, d=d, r=r, c=c, s=s, x=x, **admins)


def entry(amount, source="payments", source_id=None, **extra) -> dict:
    return {
        "source": {"service": source, "id": source_id or new_id()},
        "usage": {"type": "credit", "quantity": 1, "unit": "each"},
        "amount": amount,
        **extra,
    }


def put(client, account: dict, kind: str, body: dict, **envelope):
    return client.put(f"accounts/{account['id']}/ledgers/{kind}", envelope={"data": body, **envelope})


def balance(client, account: dict):
    resp = client.get(f"accounts/{account['id']}/ledgers/available")
    assert resp.status_code == 200, resp.text
    total = client.get(f"accounts/{account['id']}/ledgers/total")
    assert total.json()["data"] == resp.json()["data"], "available and total read the same balance"
    return resp.json()["data"]["amount"]


def fresh_account(master, parent_id=None) -> dict:
    return master.create_account(parent_id or master.account_id, unique("Ledger Account"))


def test_credit_debit_balance_summary_and_entries(world):
    acc, r_admin = fresh_account(world.master, world.r["id"]), world.r_admin
    credit = put(r_admin, acc, "credit", entry(20, description="Prepaid credit", metadata={"order": "A-1"}))
    assert credit.status_code == 201, credit.text
    data = credit.json()["data"]
    assert data["amount"] == 20 and data["ledger_type"] == "credit" and data["source"]["service"] == "payments"
    assert data["account"] == {"id": acc["id"], "name": acc["name"]} and data["metadata"] == {"order": "A-1"}
    debit = put(r_admin, acc, "debit", entry(2.5, "adjustments", usage={"type": "fix", "quantity": 3, "unit": "x"}))
    assert debit.status_code == 201, debit.text
    assert debit.json()["data"]["amount"] == -2.5
    assert balance(r_admin, acc) == 17.5

    summary = r_admin.get(f"accounts/{acc['id']}/ledgers").json()["data"]
    assert summary == {
        "payments": {"amount": 20, "usage": {"type": "credit", "quantity": 1, "unit": "each"}},
        "adjustments": {"amount": -2.5, "usage": {"type": "fix", "quantity": 3, "unit": "x"}},
    }
    rows = r_admin.get(f"accounts/{acc['id']}/ledgers/payments").json()["data"]
    assert [row["id"] for row in rows] == [data["id"]]
    one = r_admin.get(f"accounts/{acc['id']}/ledgers/payments/{data['id']}")
    assert one.status_code == 200 and one.json()["data"] == data
    assert r_admin.get(f"accounts/{acc['id']}/ledgers/adjustments/{data['id']}").status_code == 404
    assert r_admin.get(f"accounts/{acc['id']}/ledgers/payments/{new_id()}").status_code == 404
    assert r_admin.get(f"accounts/{acc['id']}/ledgers/nonsense").status_code == 404
    past = r_admin.get(f"accounts/{acc['id']}/ledgers?created_from=63000000000&created_to=63000086400")
    assert past.status_code == 200 and past.json()["data"] == {}


def test_amounts_are_dollars_converted_exactly_and_bad_ones_change_nothing(world):
    acc, r_admin = fresh_account(world.master, world.r["id"]), world.r_admin
    for amount in (0.1, 0.2, 0.0001):
        assert put(r_admin, acc, "credit", entry(amount)).status_code == 201
    assert balance(r_admin, acc) == 0.3001, "0.1 + 0.2 + 0.0001 dollars, exactly"
    for body, field, rule in (
        (entry(0.00001), "amount", "multipleOf"),
        (entry(0), "amount", "exclusiveMinimum"),
        (entry(-5), "amount", "exclusiveMinimum"),
        (entry("five"), "amount", "type"),
        (entry(True), "amount", "type"),
        (entry(1e10), "amount", "maximum"),
        (entry(5, "rollovers"), "source.service", "enum"),
        ({"source": {"service": "payments", "id": "x"}, "amount": 5}, "usage", "required"),
        (entry(5, usage={"type": "t", "quantity": -1, "unit": "u"}), "usage.quantity", "minimum"),
        (entry(5, period={"start": 100, "end": 50}), "period.end", "minimum"),
    ):
        resp = put(r_admin, acc, "credit", body)
        assert resp.status_code == 400, (body.get("amount"), body.get("period"), resp.text[-300:])
        assert resp.json()["message"] == "validation error" and rule in resp.json()["data"][field], resp.text
    assert r_admin.put(f"accounts/{acc['id']}/ledgers/credit", ["not", "an", "object"]).status_code == 400
    assert balance(r_admin, acc) == 0.3001
    assert len(r_admin.get(f"accounts/{acc['id']}/ledgers/payments").json()["data"]) == 3


def test_only_an_ancestor_or_a_system_admin_credits_an_account(world, master):
    """Who may credit or debit C (and S below it): never the account itself, its descendants or its siblings."""
    refused = [
        (world.c_admin, world.c),
        (world.s_admin, world.c),
        (world.x_admin, world.c),
        (world.d_admin, world.c),
        (world.r_admin, world.r),
        (world.s_admin, world.s),
    ]
    before = {a["id"]: balance(master, a) for a in (world.c, world.r, world.s)}
    for client, account in refused:
        for kind in ("credit", "debit"):
            resp = put(client, account, kind, entry(1))
            assert resp.status_code == 403, (client.account_id, account["name"], resp.text)
    assert {a["id"]: balance(master, a) for a in (world.c, world.r, world.s)} == before

    user = world.master.create(
        world.r["id"], "users", {"first_name": "U", "last_name": "Ser", "username": "ledger-user", "password": "pw-1"}
    )
    assert user["priv_level"] == "user"
    plain = Client(master.base)
    plain.login("ledger-user", "pw-1", account_realm=master.get(f"accounts/{world.r['id']}").json()["data"]["realm"])
    assert put(plain, world.c, "credit", entry(1)).status_code == 403, "a reseller's non-admin user"

    for client, account, expected in (
        (world.r_admin, world.c, 1),
        (master, world.c, 2),
        (world.c_admin, world.s, 1),
        (world.r_admin, world.s, 2),
    ):
        assert put(client, account, "credit", entry(1)).status_code == 201
        assert balance(master, account) == before[account["id"]] + expected


def test_each_account_sees_its_own_and_its_descendants_ledgers_only(world, master):
    sub_entry = put(world.r_admin, world.s, "credit", entry(3), impact_reseller=True)
    assert sub_entry.status_code == 201, sub_entry.text
    twin = sub_entry.json()["reseller_entry"]
    assert twin["account_id"] == world.r["id"]
    for client, account, allowed in (
        (world.s_admin, world.s, True),
        (world.c_admin, world.s, True),
        (world.r_admin, world.s, True),
        (master, world.s, True),
        (world.x_admin, world.s, False),
        (world.d_admin, world.s, False),
        (world.s_admin, world.c, False),
        (world.s_admin, world.r, False),
        (world.c_admin, world.r, False),
        (world.x_admin, world.c, False),
        (world.r_admin, world.r, True),
    ):
        for tail in ("", "/payments", "/available", "/total"):
            resp = client.get(f"accounts/{account['id']}/ledgers{tail}")
            assert resp.status_code == (200 if allowed else 403), (client.account_id, account["name"], tail)
    assert world.s_admin.get(f"accounts/{world.s['id']}/ledgers/payments/{twin['id']}").status_code == 404
    sub_view = world.s_admin.get(f"accounts/{world.s['id']}/ledgers/payments/{sub_entry.json()['data']['id']}")
    assert "linked" not in sub_view.json()["data"], "a sub-account's entry never names its reseller's twin"
    reseller_view = world.r_admin.get(f"accounts/{world.r['id']}/ledgers/payments/{twin['id']}").json()["data"]
    assert reseller_view["linked"] == {"account_id": world.s["id"], "id": sub_entry.json()["data"]["id"]}
    assert reseller_view["amount"] == 3


async def test_impact_reseller_writes_both_entries_or_neither(world, master, server):
    reseller = fresh_account(master)
    assert master.put(f"accounts/{reseller['id']}/reseller").status_code == 200
    sub = fresh_account(master, reseller["id"])
    r_admin = master.admin_of(reseller["id"])
    resp = put(r_admin, sub, "debit", entry(4.25, "per-minute-voip"), impact_reseller=True)
    assert resp.status_code == 201, resp.text
    assert (balance(master, sub), balance(master, reseller)) == (-4.25, -4.25)
    assert put(r_admin, sub, "credit", entry(1), impact_reseller="false").status_code == 201
    assert (balance(master, sub), balance(master, reseller)) == (-3.25, -4.25), "impact_reseller false: sub only"

    store = await open_store(server[2])
    try:  # the reseller's balance at the ceiling: its twin of any further credit cannot be written
        while (room := ledgers.MAX_BALANCE_UNITS - await ledgers.balance_units(store, reseller["id"])) > 0:
            change = ledgers.Change(
                "payments", new_id(), "credit", min(room, ledgers.MAX_ENTRY_UNITS), usage=("c", 1, "u")
            )
            await ledgers.write(store, reseller["id"], change)
    finally:
        await store.dispose()
    reseller_before = balance(master, reseller)
    assert reseller_before == ledgers.MAX_BALANCE_UNITS / ledgers.UNITS_PER_DOLLAR
    refused = put(r_admin, sub, "credit", entry(0.0001), impact_reseller=True)
    assert refused.status_code == 400 and "maximum" in refused.json()["data"]["amount"], refused.text
    assert balance(master, sub) == -3.25 and balance(master, reseller) == reseller_before
    rows = master.get(f"accounts/{sub['id']}/ledgers/payments").json()["data"]
    assert [row["amount"] for row in rows] == [1], "the sub-account's entry was not written either"
    c = fresh_account(master, reseller["id"])
    s = fresh_account(master, c["id"])
    c_admin = master.admin_of(c["id"])
    assert put(c_admin, s, "credit", entry(1), impact_reseller=True).status_code == 403, "C is below the reseller"
    assert put(c_admin, s, "credit", entry(1)).status_code == 201
    top = put(master, {"id": master.account_id}, "credit", entry(1), impact_reseller=True)
    assert top.status_code == 400 and "impact_reseller" in top.json()["data"], "the master has no reseller"


def test_a_retry_writes_nothing_twice(world, master):
    acc = fresh_account(master, world.r["id"])
    body = entry(7, source_id="invoice-17", period={"start": 63900000000, "end": 63902592000})
    first = put(world.r_admin, acc, "credit", body)
    again = put(world.r_admin, acc, "credit", body)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    assert balance(master, acc) == 7
    clash = put(world.r_admin, acc, "credit", {**body, "amount": 8})
    assert clash.status_code == 409, clash.text
    other_period = put(world.r_admin, acc, "credit", {**body, "period": {"start": 63902592000}})
    assert other_period.status_code == 201, "the same source id for another period is another entry"
    assert balance(master, acc) == 14


async def test_a_call_id_debit_is_written_once(world, master, server):
    acc = fresh_account(master, world.r["id"])
    store = await open_store(server[2])
    try:
        call_id = f"{new_id()}@127.0.0.1"
        change = ledgers.Change(ledgers.PER_MINUTE, call_id, "debit", 1234, usage=("voice", 61, "sec"), key=call_id)
        written = await asyncio.gather(*(ledgers.write(store, acc["id"], change) for _ in range(3)))
        assert sorted(w.new for w in written) == [False, False, True]
        assert len({w.entry.id for w in written}) == 1
    finally:
        await store.dispose()
    assert balance(master, acc) == -0.1234
    assert len(master.get(f"accounts/{acc['id']}/ledgers/per-minute-voip").json()["data"]) == 1


async def test_a_batch_answers_each_bill_and_a_balance_read_sees_it_at_once(world, master, server):
    """Bills committed together (the per-minute biller's batches): new ones written with their twins, a key repeated
    in the batch written once, one out of bounds refused alone; a later batch holding a key written before writes
    only its new bill. A balance read through the hot path right after sees each batch."""
    reseller = master.create_account(master.account_id, unique("Batch Reseller"))
    acc = fresh_account(master, reseller["id"])
    for account in (acc, reseller):  # both have this month's balance row: the batches take the quick path
        assert put(master, account, "credit", entry(5)).status_code == 201
    store = await open_store(server[2])

    def bill(key: str, units: int) -> ledgers.Item:
        return acc["id"], ledgers.Change(ledgers.PER_MINUTE, key, "debit", units, key=key), reseller["id"]

    async def balances() -> tuple[int, int]:
        return await ledgers.balance_units(store, acc["id"]), await ledgers.balance_units(store, reseller["id"])

    try:
        assert await balances() == (50_000, 50_000)
        first = await ledgers.write_many(
            store, [bill("call-1", 100), bill("call-2", 200), bill("call-1", 100), bill("call-3", 10**16)]
        )
        assert [getattr(w, "new", None) for w in first] == [True, True, False, None]
        assert isinstance(first[3], Invalid), first[3]
        assert first[2].entry == first[0].entry and first[0].twin.account_id == reseller["id"]
        assert await balances() == (49_700, 49_700)

        again = await ledgers.write_many(store, [bill("call-2", 200), bill("call-4", 400)])
        assert [w.new for w in again] == [False, True]
        assert again[0].entry == first[1].entry and again[0].twin == first[1].twin
        assert await balances() == (49_300, 49_300)

        assert [w.new for w in await ledgers.write_many(store, [bill("call-5", 1)])] == [True]
        assert await balances() == (49_299, 49_299)
    finally:
        await store.dispose()
    assert balance(master, acc) == balance(master, reseller) == 4.9299
    debits = master.get(f"accounts/{acc['id']}/ledgers/per-minute-voip").json()["data"]
    assert sorted(d["source"]["id"] for d in debits) == ["call-1", "call-2", "call-4", "call-5"]


def next_month_second(months: int = 1) -> int:
    month = ledgers.month_of(gregorian_now())
    for _ in range(months):
        month = ledgers.month_of(ledgers.month_bounds(month)[1] + 1)
    return ledgers.month_bounds(month)[0]


async def test_the_monthly_rollover_is_written_once_and_leaves_the_balance(world, master, server):
    acc = fresh_account(master, world.r["id"])
    assert put(world.r_admin, acc, "credit", entry(12.34)).status_code == 201
    start = next_month_second()
    store = await open_store(server[2])
    try:
        first = await ledgers.roll_over(store, acc["id"], now=start + 5)
        second = await ledgers.roll_over(store, acc["id"], now=start + 9)
        assert first is not None and second is None
        assert (first.amount, first.ledger_type, first.created) == (123_400, "credit", start)
        later = ledgers.Change("payments", new_id(), "debit", 10_000, usage=("d", 1, "u"))
        await ledgers.write(store, acc["id"], later, now=start + 60)
    finally:
        await store.dispose()
    assert balance(master, acc) == 11.34, "the rollover records the balance, the debit moves it"
    span = f"created_from={start}&created_to={start + 86400}"
    rolled = master.get(f"accounts/{acc['id']}/ledgers/rollovers?{span}").json()["data"]
    assert [(row["amount"], row["period"]["start"]) for row in rolled] == [(12.34, start)]
    summary = master.get(f"accounts/{acc['id']}/ledgers?{span}").json()["data"]
    assert {k: v["amount"] for k, v in summary.items()} == {"rollovers": 12.34, "payments": -1}
    assert sum(v["amount"] for v in summary.values()) == balance(master, acc), "the month's sources sum to it"


async def test_the_first_write_of_a_month_carries_the_balance_first(world, master, server):
    acc = fresh_account(master, world.r["id"])
    store = await open_store(server[2])
    try:
        past = ledgers.month_bounds(ledgers.month_of(gregorian_now() - 40 * 86400))[0] + 100
        change = ledgers.Change("payments", new_id(), "credit", 50_000, usage=("c", 1, "u"))
        await ledgers.write(store, acc["id"], change, now=past)
    finally:
        await store.dispose()
    assert put(world.r_admin, acc, "debit", entry(1, "adjustments")).status_code == 201
    summary = master.get(f"accounts/{acc['id']}/ledgers").json()["data"]
    assert {k: v["amount"] for k, v in summary.items()} == {"rollovers": 5, "adjustments": -1}
    assert balance(master, acc) == 4


def test_entries_page_and_download_as_csv(world, master):
    acc = fresh_account(master, world.r["id"])
    ids = {put(world.r_admin, acc, "credit", entry(n)).json()["data"]["id"] for n in range(1, 6)}
    seen, key = [], None
    while True:
        query = "page_size=2" + (f"&start_key={key}" if key else "")
        body = master.get(f"accounts/{acc['id']}/ledgers/payments?{query}").json()
        seen += [row["id"] for row in body["data"]]
        key = body.get("next_start_key")
        if key is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    assert master.get(f"accounts/{acc['id']}/ledgers/payments?start_key=nonsense").status_code == 400
    resp = master.get(f"accounts/{acc['id']}/ledgers/payments", headers={"Accept": "text/csv"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert sorted(float(row["amount"]) for row in rows) == [1, 2, 3, 4, 5]
    assert {row["source_service"] for row in rows} == {"payments"}


async def test_per_minute_calls_weigh_the_balance(master, server):
    """A direct account (limited by nobody above it) with no trunks: a per-minute call needs credit above the
    reserve ($0.50 by default)."""
    acc = fresh_account(master)
    store = await open_store(server[2])
    trunks = Trunks(store, AccountDirectory(store), SystemConfigs(store), "ledger-test")
    call = CarrierCall("outbound", "+442071234567", "international")
    try:
        refused = await trunks.authorize(acc["id"], new_id(), call)
        assert (refused.allowed, refused.reason) == (False, "insufficient_balance")
        assert put(master, acc, "credit", entry(0.5)).status_code == 201
        assert not (await trunks.authorize(acc["id"], new_id(), call)).allowed, "the reserve is not spendable"
        assert put(master, acc, "credit", entry(0.01)).status_code == 201
        granted = await trunks.authorize(acc["id"], new_id(), call)
        assert granted.allowed and granted.account.billing == "per_minute"
        await trunks.release(granted)
    finally:
        await trunks.close()
        await store.dispose()


async def test_concurrent_credits_from_two_processes_sum_exactly(world, master, server):
    acc = fresh_account(master, world.r["id"])
    other = subprocess.Popen(  # noqa: ASYNC220 (started once; the test then talks to it over pipes)
        [sys.executable, "-m", "tests.billing.crediter", server[2], acc["id"], "60"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdin is not None and other.stdout is not None
        other.stdin.write("go\n")
        other.stdin.flush()
        with ThreadPoolExecutor(6) as pool:
            codes = list(pool.map(lambda _: put(world.r_admin, acc, "credit", entry(0.0001)).status_code, range(60)))
        assert codes == [201] * 60
        assert orjson.loads(other.stdout.readline()) == 60
        assert other.wait(timeout=60) == 0
    finally:
        if other.poll() is None:
            other.kill()
    assert balance(master, acc) == 0.012, "120 credits of one unit, none lost"
    store = await open_store(server[2])
    try:
        async with store.read() as tx:
            summed = await tx.conn.execute(
                select(func.count(), func.sum(ledger_entries.c.amount)).where(ledger_entries.c.account_id == acc["id"])
            )
            count, units = summed.one()
            row = (
                await tx.conn.execute(
                    select(ledger_balances.c.balance).where(ledger_balances.c.account_id == acc["id"])
                )
            ).one()
        assert (count, units, row.balance) == (120, 120, 120)
    finally:
        await store.dispose()


async def credit_last_month(url: str, account_id: str, units: int) -> None:
    store = await open_store(url)
    try:
        past = ledgers.month_bounds(ledgers.month_of(gregorian_now() - 40 * 86400))[0] + 100
        change = ledgers.Change("payments", new_id(), "credit", units, usage=("c", 1, "u"))
        await ledgers.write(store, account_id, change, now=past)
    finally:
        await store.dispose()


def test_the_rollover_command_carries_each_balance_once(world, master, server):
    acc = fresh_account(master, world.r["id"])
    asyncio.run(credit_last_month(server[2], acc["id"], 70_000))
    first = subprocess.run(sup_argv(server, "kazoo_ledgers", "rollover"), capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert int(first.stdout.split()[0]) >= 1, first.stdout
    again = subprocess.run(sup_argv(server, "kazoo_ledgers", "rollover"), capture_output=True, text=True, timeout=60)
    assert (again.returncode, again.stdout.strip()) == (0, "0 accounts rolled over")
    rolled = master.get(f"accounts/{acc['id']}/ledgers/rollovers").json()["data"]
    month_start = ledgers.month_bounds(ledgers.month_of(gregorian_now()))[0]
    assert [(row["amount"], row["created"], row["source"]["id"]) for row in rolled] == [
        (7, month_start, ledgers.month_of(month_start))
    ]
    assert balance(master, acc) == 7


async def test_fake_money_limits_the_sub_account_and_real_money_the_reseller(master, server):
    """A sub-account spends the credit its reseller gave it (fake money) and is cut off at its own reserve while the
    reseller still has money; a reseller without money of its own stops its sub-accounts' per-minute calls."""
    reseller = fresh_account(master)
    assert master.put(f"accounts/{reseller['id']}/reseller").status_code == 200
    sub = fresh_account(master, reseller["id"])
    r_admin = master.admin_of(reseller["id"])
    store = await open_store(server[2])
    trunks = Trunks(store, AccountDirectory(store), SystemConfigs(store), "ledger-test")
    call = CarrierCall("outbound", "+442071234567", "international")

    async def outcome() -> tuple[bool, str | None, str | None]:
        grant = await trunks.authorize(sub["id"], new_id(), call)
        await trunks.release(grant)
        return grant.allowed, grant.reason, grant.reseller.billing if grant.reseller else None

    try:
        assert put(r_admin, sub, "credit", entry(20)).status_code == 201
        assert await outcome() == (False, "insufficient_balance", "insufficient_balance"), "the reseller has none"
        assert put(master, reseller, "credit", entry(100)).status_code == 201
        assert await outcome() == (True, None, "per_minute")
        assert put(r_admin, sub, "debit", entry(19.6, "per-minute-voip"), impact_reseller=True).status_code == 201
        assert (balance(master, sub), balance(master, reseller)) == (0.4, 80.4)
        assert await outcome() == (False, "insufficient_balance", None), "cut off at its own reserve"
    finally:
        await trunks.close()
        await store.dispose()


KEPT_BY_THEIR_PROCESS = {"trunk_leases", "trunk_usage", "task_runs"}  # calls in progress end and expire on their own


async def _rows_of(url: str, account_id: str) -> dict[str, int]:
    """Rows per table holding `account_id`, over every table with an account column but those above."""
    store = await open_store(url)
    try:
        async with store.read() as tx:
            return {
                table.name: (
                    await tx.conn.execute(
                        select(func.count()).select_from(table).where(table.c.account_id == account_id)
                    )
                ).scalar_one()
                for table in metadata.sorted_tables
                if "account_id" in table.c and table.name not in KEPT_BY_THEIR_PROCESS
            }
    finally:
        await store.dispose()


async def test_deleting_an_account_deletes_its_books_and_leaves_its_resellers(world, master, server):
    acc = fresh_account(master, world.r["id"])
    master.admin_of(acc["id"])  # a billable user: the account's service quantities are recorded
    reseller_before = balance(master, world.r)
    assert put(world.r_admin, acc, "credit", entry(8), impact_reseller=True).status_code == 201
    assert balance(master, world.r) == reseller_before + 8
    held = await _rows_of(server[2], acc["id"])
    assert all(held[name] for name in ("ledger_entries", "ledger_balances", "services_state", "docs")), held
    assert master.delete(f"accounts/{acc['id']}").status_code == 200
    assert {name: n for name, n in (await _rows_of(server[2], acc["id"])).items() if n} == {}
    assert balance(master, world.r) == reseller_before + 8, "the reseller's own entry stays in its books"
    store = await open_store(server[2])
    try:
        async with store.read() as tx:
            assert acc["id"] not in await ledger_rows.not_rolled_over(tx, "209912"), "no rollover for it, ever"
    finally:
        await store.dispose()
