"""Trunk leases against a real database (a SQLite file, and PostgreSQL when CLOUDPBX_TEST_DB_URL is set): exact
counts under concurrent calls from one and from two processes, release, expiry of a dead process's leases, renewal
by a living one, and a reseller's limits binding its sub-accounts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
from sqlalchemy import select

from cloudpbx.accounts import limits
from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.accounts.tree import AccountDirectory
from cloudpbx.errors import Missing
from cloudpbx.limits.decision import CarrierCall
from cloudpbx.limits.trunks import Trunks
from cloudpbx.store import new_id, open_store
from cloudpbx.store.tables import trunk_leases, trunk_usage

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("CLOUDPBX_TEST_DB_URL") else [])
INBOUND = CarrierCall("inbound", "+14155550100", "did_us")
OUTBOUND = CarrierCall("outbound", "+14155550199", "did_us")
EMERGENCY = CarrierCall("outbound", "911", "emergency")


@pytest.fixture(params=BACKENDS)
async def db(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'trunks.db'}" if request.param == "sqlite" else os.environ["CLOUDPBX_TEST_DB_URL"]
    store = await open_store(url)
    async with store.read() as tx:
        roots = await tx.child_rows(None)  # a shared PostgreSQL database may hold the session's master already
    master = (roots[0].account_id, roots[0].path) if roots else await add_account(store, None)
    yield SimpleNamespace(url=url, store=store, master=master)
    await store.dispose()


async def add_account(store, parent: tuple[str, str] | None, *, reseller: bool = False) -> tuple[str, str]:
    """(id, path) of a new account under `parent` (None: a new master)."""
    account_id = new_id()
    path = f"{parent[1]}/{account_id}" if parent else account_id
    async with store.write() as tx:
        await tx.put_account_row(
            account_id,
            parent_id=parent[0] if parent else None,
            path=path,
            name=f"trunks {account_id}",
            realm=f"{account_id}.test",
            enabled=True,
            superduper=parent is None,
            reseller=reseller,
        )
    return account_id, path


def trunks_of(store, ttl_s: float = 30.0) -> Trunks:
    return Trunks(store, AccountDirectory(store), SystemConfigs(store), "test", ttl_s=ttl_s)


async def wait_for(condition, timeout_s: float = 30.0) -> None:
    """Until `condition()` (a coroutine function) holds, at most `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


def acquirer(db, account_id: str, count: int, ttl_s: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.limits.acquirer", db.url, account_id, str(count), str(ttl_s)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


async def tell(proc: subprocess.Popen, line: str) -> None:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


async def outcomes(proc: subprocess.Popen) -> list[str]:
    line = await asyncio.get_running_loop().run_in_executor(None, proc.stdout.readline)
    assert line, "the other process ended without answering"
    return orjson.loads(line)


async def test_twenty_simultaneous_calls_on_two_inbound_and_two_twoway_trunks_get_exactly_four(db):
    account, _ = await add_account(db.store, db.master)
    await limits.save(db.store, account, {"inbound_trunks": 2, "twoway_trunks": 2})
    trunks = trunks_of(db.store)
    grants = await asyncio.gather(*(trunks.authorize(account, new_id(), INBOUND) for _ in range(20)))
    allowed = [g for g in grants if g.allowed]
    assert sorted(g.account.trunk for g in allowed) == ["inbound", "inbound", "twoway", "twoway"]
    assert {g.reason for g in grants if not g.allowed} == {"trunks_exhausted"} and len(grants) - len(allowed) == 16
    usage = await trunks.usage(account)
    assert (usage["inbound"], usage["twoway"], usage["calls"]) == (2, 2, 4)
    await asyncio.gather(*(trunks.release(g) for g in allowed))
    assert (await trunks.usage(account))["calls"] == 0
    again = await trunks.authorize(account, new_id(), INBOUND)
    assert again.allowed and again.account.trunk == "inbound", "released trunks are free again"
    await trunks.close()
    assert (await trunks.usage(account))["calls"] == 0, "closing gives back what the process holds"


def quick_writes_of(store) -> list[tuple[list[str], list[tuple[str, int]]]]:
    """Each quick write the store runs: the first word and table of its queries, and of its writes with the number
    of rows each ran for (the store's own method, wrapped to record what passes through it)."""
    seen: list[tuple[list[str], list[tuple[str, int]]]] = []
    run = store.quick_write

    def name(sql: str) -> str:
        words = sql.lower().replace("(", " ").split()
        table = next(w for w in words if w in ("accounts", "trunk_leases", "trunk_usage"))
        return f"{'lock' if 'for update' in sql.lower() else words[0]} {table}"

    async def recorded(queries, then):
        def then_recorded(results):
            answer, writes = then(results)
            seen.append(([name(sql) for sql, _ in queries], [(name(sql), len(rows)) for sql, rows in writes if rows]))
            return answer, writes

        return await run(queries, then_recorded)

    store.quick_write = recorded
    return seen


async def test_a_call_takes_its_trunk_in_one_transaction_that_reads_counters_and_gives_it_back_in_another(db):
    """What a carrier call costs the database: taking reads the call's own leases (none, unless an attempt whose
    commit was in doubt left one) and the accounts' usage counters, a few rows whatever the number of calls, then
    adds a lease and counts it; giving back deletes it and counts it down. PostgreSQL also locks the charged
    accounts' rows so processes decide one after another; SQLite's writer holds the whole database from BEGIN
    IMMEDIATE, so a lock query there would only cost time."""
    account, _ = await add_account(db.store, db.master)
    await limits.save(db.store, account, {"outbound_trunks": 1})
    trunks = trunks_of(db.store)
    seen = quick_writes_of(db.store)
    grant = await trunks.authorize(account, new_id(), OUTBOUND)
    assert grant.allowed
    lock = ["lock accounts"] if db.store.dialect == "postgresql" else []
    assert seen == [
        ([*lock, "select trunk_leases", "select trunk_usage"], [("insert trunk_leases", 1), ("insert trunk_usage", 1)])
    ]
    seen.clear()
    await trunks.release(grant)
    assert seen == [(["delete trunk_leases"], [("update trunk_usage", 1)])]
    assert (await trunks.usage(account))["calls"] == 0
    await trunks.close()


async def test_taking_a_trunk_again_for_the_same_call_counts_it_once(db):
    """An attempt whose commit was in doubt (the connection broke) is run again: the call's earlier lease is
    replaced, not counted twice."""
    account, _ = await add_account(db.store, db.master)
    await limits.save(db.store, account, {"outbound_trunks": 1})
    trunks = trunks_of(db.store)
    call_id = new_id()
    first = await trunks.authorize(account, call_id, OUTBOUND)
    again = await trunks.authorize(account, call_id, OUTBOUND)
    assert first.allowed and again.allowed, "the only trunk is this call's own"
    assert (await trunks.usage(account))["outbound"] == 1
    assert not (await trunks.authorize(account, new_id(), OUTBOUND)).allowed
    await trunks.release(again)
    assert (await trunks.usage(account))["calls"] == 0
    await trunks.close()
    await trunks.close()


async def test_two_processes_sharing_the_database_get_exactly_four_between_them(db):
    account, _ = await add_account(db.store, db.master)
    await limits.save(db.store, account, {"inbound_trunks": 2, "twoway_trunks": 2})
    other = acquirer(db, account, 10, 30.0)
    trunks = trunks_of(db.store)
    try:
        await tell(other, "go")
        mine = await asyncio.gather(*(trunks.authorize(account, new_id(), INBOUND) for _ in range(10)))
        theirs = await outcomes(other)
        granted = [g.account.billing for g in mine if g.allowed] + [b for b in theirs if b == "flat_rate"]
        assert len(granted) == 4 and theirs.count("trunks_exhausted") + sum(not g.allowed for g in mine) == 16
        assert (await trunks.usage(account))["calls"] == 4
        await tell(other, "release")
        assert other.wait(timeout=30) == 0
        await asyncio.gather(*(trunks.release(g) for g in mine if g.allowed))
        assert (await trunks.usage(account))["calls"] == 0
    finally:
        other.kill()
        await trunks.close()


async def test_the_leases_of_a_process_that_died_stop_counting_once_expired(db):
    account, _ = await add_account(db.store, db.master)
    await limits.save(db.store, account, {"twoway_trunks": 2})
    other = acquirer(db, account, 2, 2.0)
    try:
        await tell(other, "go")
        assert await outcomes(other) == ["flat_rate", "flat_rate"]
    finally:
        other.kill()
        other.wait(timeout=30)
    async with db.store.read() as tx:
        rows = list(await tx.conn.execute(select(trunk_leases.c.node).where(trunk_leases.c.account_id == account)))
    assert len(rows) == 2 and all(row.node.startswith("acquirer/") for row in rows), "killed: nobody released them"
    trunks = trunks_of(db.store)

    async def freed() -> bool:
        return (await trunks.usage(account))["calls"] == 0

    await wait_for(freed)
    grants = [await trunks.authorize(account, new_id(), OUTBOUND) for _ in range(3)]
    assert [g.allowed for g in grants] == [True, True, False], "both trunks are free again, and only those"
    await trunks.close()


async def test_a_living_process_renews_its_leases(db):
    account, _ = await add_account(db.store, db.master)
    await limits.save(db.store, account, {"outbound_trunks": 1})
    trunks = trunks_of(db.store, ttl_s=1.5)
    grant = await trunks.authorize(account, new_id(), OUTBOUND)
    assert grant.allowed

    async def expiry() -> float:
        async with db.store.read() as tx:
            query = select(trunk_usage.c.expires).where(trunk_usage.c.account_id == account)
            return (await tx.conn.execute(query)).scalar_one()

    first = await expiry()

    async def renewed_twice() -> bool:
        return await expiry() > first + 1.5

    await wait_for(renewed_twice)
    assert (await trunks.usage(account))["outbound"] == 1
    assert not (await trunks.authorize(account, new_id(), OUTBOUND)).allowed, "the renewed lease still holds"
    await trunks.release(grant)
    assert (await trunks.authorize(account, new_id(), OUTBOUND)).allowed
    await trunks.close()


async def test_a_resellers_limits_bind_its_sub_accounts(db):
    reseller = await add_account(db.store, db.master, reseller=True)
    first, second = await add_account(db.store, reseller), await add_account(db.store, reseller)
    await limits.save(db.store, reseller[0], {"twoway_trunks": 2})
    for sub in (first, second):
        await limits.save(db.store, sub[0], {"twoway_trunks": -1})
    trunks = trunks_of(db.store)
    a, b = await trunks.authorize(first[0], new_id(), OUTBOUND), await trunks.authorize(second[0], new_id(), INBOUND)
    assert a.allowed and b.allowed and a.reseller is not None and a.reseller.trunk == "twoway"
    refused = await trunks.authorize(first[0], new_id(), OUTBOUND)
    assert not refused.allowed and refused.account.allowed and refused.reason == "trunks_exhausted"
    assert refused.reseller is not None and not refused.reseller.allowed
    assert (await trunks.usage(reseller[0]))["twoway"] == 2, "the reseller counts its sub-accounts' calls"
    assert (await trunks.usage(first[0]))["twoway"] == 1 and (await trunks.usage(second[0]))["twoway"] == 1
    own = await trunks.authorize(reseller[0], new_id(), OUTBOUND)
    assert not own.allowed and own.reseller is None, "the reseller's own calls meet its own limits only"
    await trunks.release(a)
    assert (await trunks.authorize(second[0], new_id(), OUTBOUND)).allowed
    await trunks.close()


async def test_the_master_limits_nobody_and_a_direct_account_meets_its_own_limits(db):
    direct = await add_account(db.store, db.master)
    await limits.save(db.store, direct[0], {"outbound_trunks": 1})
    trunks = trunks_of(db.store)
    grant = await trunks.authorize(direct[0], new_id(), OUTBOUND)
    assert grant.allowed and grant.reseller is None and grant.charged == (direct[0],)
    assert not (await trunks.authorize(direct[0], new_id(), OUTBOUND)).allowed
    await trunks.close()


async def test_emergency_calls_pass_full_trunks_and_hard_limits_count_every_call(db):
    account, _ = await add_account(db.store, db.master)
    await limits.save(db.store, account, {"outbound_trunks": 1, "calls": 2})
    trunks = trunks_of(db.store)
    assert (await trunks.authorize(account, new_id(), OUTBOUND)).account.trunk == "outbound"
    emergency = await trunks.authorize(account, new_id(), EMERGENCY)
    assert emergency.allowed and emergency.account.billing == "limits_disabled"
    usage = await trunks.usage(account)
    assert (usage["outbound"], usage["limits_disabled"], usage["calls"]) == (1, 1, 2)
    await limits.save(db.store, account, {"outbound_trunks": 5, "calls": 2})
    refused = await trunks.authorize(account, new_id(), OUTBOUND)
    assert refused.reason == "hard_limit", "an emergency call counts towards `calls`"
    assert (await trunks.authorize(account, new_id(), EMERGENCY)).allowed, "and is never refused itself"
    await trunks.close()


async def test_an_unknown_account_is_refused_and_nothing_is_held(db):
    trunks = trunks_of(db.store)
    with pytest.raises(Missing):
        await trunks.authorize(new_id(), new_id(), OUTBOUND)
    await trunks.close()
