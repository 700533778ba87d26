"""Ledger balance benchmark: balance reads per second for an account with 1,000 ledger entries, then for one with
1,000,000, against a reference run in the same process and store: a point read of one row (the account's tree row,
as every API request reads it). A balance is one row kept by the writes, so reading it must not grow with the
entries: the goal is >= 5,000 reads/s and 1M/1k >= 0.8. For contrast it also times summing the 1M entries once.

Run with the project's interpreter: `.venv/bin/python bench/ledgers.py [--reads N] [--concurrency C] [--db URL]`
(SQLite in a temporary folder by default). Seeding the million rows is a few bulk inserts; the run stays under two
minutes on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent / "src"), str(BENCH)]

from sqlalchemy import case, func, insert, select  # noqa: E402
from trunks import rate  # noqa: E402  operations per second of a coroutine run by concurrent tasks

from cloudpbx.billing import ledgers  # noqa: E402
from cloudpbx.store import gregorian_now, new_id, open_store  # noqa: E402
from cloudpbx.store.tables import ledger_balances, ledger_entries  # noqa: E402

GOAL_RATE = 5_000
GOAL_FLAT = 0.8
CHUNK = 20_000


async def seed(store, account_id: str, count: int) -> int:
    """`count` entries (alternating credits and debits) in bulk inserts, the balance row set to their sum, then
    one credit through the real write path; returns the balance in units."""
    now = gregorian_now()
    total = 0
    for start in range(0, count, CHUNK):
        rows = []
        for i in range(start, min(count, start + CHUNK)):
            credit = i % 3 != 0
            amount = 100 + i % 1000
            total += amount if credit else -amount
            rows.append(_row(account_id, i, "credit" if credit else "debit", amount, now - count + i))
        async with store.write() as tx:
            await tx.conn.execute(insert(ledger_entries), rows)
    async with store.write() as tx:
        month = ledgers.month_of(now)
        await tx.conn.execute(insert(ledger_balances).values(account_id=account_id, balance=total, month=month))
    change = ledgers.Change(ledgers.PAYMENTS, new_id(), "credit", 10_000, usage=("credit", 1, "each"))
    await ledgers.write(store, account_id, change)
    return total + 10_000


def _row(account_id: str, i: int, ledger_type: str, amount: int, created: int) -> dict:
    return {
        "account_id": account_id,
        "id": f"{i:032x}",
        "source": ledgers.PER_MINUTE,
        "source_id": f"call-{i}",
        "ledger_type": ledger_type,
        "amount": amount,
        "description": "",
        "usage_type": "voice",
        "usage_quantity": 60,
        "usage_unit": "sec",
        "period_start": None,
        "period_end": None,
        "metadata": "{}",
        "created": created,
        "idem_key": f"call-{i}",
        "linked_account_id": None,
        "linked_id": None,
    }


async def summed(store, account_id: str) -> int:
    """The balance as history gives it: every entry summed (what the balance row saves each read)."""
    c = ledger_entries.c
    async with store.read() as tx:
        query = select(func.sum(c.amount * case((c.ledger_type == "credit", 1), else_=-1))).where(
            c.account_id == account_id, c.source != ledgers.ROLLOVERS
        )
        return int((await tx.conn.execute(query)).scalar_one())


async def main(url: str, reads: int, concurrency: int) -> None:
    store = await open_store(url)
    small, large = new_id(), new_id()
    started = time.perf_counter()
    expected = {small: await seed(store, small, 1_000), large: await seed(store, large, 1_000_000)}
    seeded = time.perf_counter() - started
    async with store.write() as tx:
        await tx.put_account_row(
            small,
            parent_id=None,
            path=small,
            name="bench",
            realm="bench",
            enabled=True,
            superduper=False,
            reseller=False,
        )

    async def reference() -> None:
        assert await store.account_row(small) is not None

    def balance_of(account_id: str):
        async def read() -> None:
            assert await ledgers.balance_units(store, account_id) == expected[account_id]

        return read

    for work in (reference, balance_of(small), balance_of(large)):  # warm connections
        await rate(work, 200, concurrency)
    ref = await rate(reference, reads, concurrency)
    few = await rate(balance_of(small), reads, concurrency)
    many = await rate(balance_of(large), reads, concurrency)
    t0 = time.perf_counter()
    history = await summed(store, large)
    sum_ms = (time.perf_counter() - t0) * 1000
    assert history == expected[large], "the balance row equals the sum of the entries"
    print(f"database       {url.split('://')[0]}; {reads} reads, {concurrency} at a time; seeding took {seeded:.1f} s")
    print(f"reference      {ref:9.0f} point reads/s (one account row)")
    print(f"balance 1k     {few:9.0f} reads/s  ratio {few / ref:6.3f} of the reference")
    print(f"balance 1M     {many:9.0f} reads/s  ratio {many / ref:6.3f} of the reference")
    print(f"summing 1M     {sum_ms:9.1f} ms for one read by summing history (what the balance row avoids)")
    verdict = "PASS" if min(few, many) >= GOAL_RATE else "MISS"
    print(f"rate           {min(few, many):9.0f} reads/s goal >= {GOAL_RATE}  {verdict}")
    verdict = "PASS" if many / few >= GOAL_FLAT else "MISS"
    print(
        f"1M / 1k        {many / few:9.3f} goal >= {GOAL_FLAT} (a balance read does not grow with entries)  {verdict}"
    )
    await store.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(main(args.db or f"sqlite:///{Path(folder) / 'bench.db'}", args.reads, args.concurrency))
