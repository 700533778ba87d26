"""Trunk limits benchmark: carrier-call authorizations (decision + lease) and releases per second, against a
reference run in the same process: one bare write transaction through the store's pooled connections that bumps a
marker row. Then the same with thousands of calls in progress for the account and its reseller, which must cost
no more: a decision reads usage counters, never the calls themselves.

Run with the project's interpreter: `.venv/bin/python bench/trunks.py [--calls N] [--concurrency C] [--held H]
[--db URL]` (SQLite in a temporary folder by default). Prints each rate, the cost per call and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cloudpbx.accounts import limits  # noqa: E402
from cloudpbx.accounts.system_configs import SystemConfigs  # noqa: E402
from cloudpbx.accounts.tree import AccountDirectory  # noqa: E402
from cloudpbx.limits.decision import CarrierCall  # noqa: E402
from cloudpbx.limits.trunks import Trunks  # noqa: E402
from cloudpbx.store import new_id, open_store  # noqa: E402

CALL = CarrierCall("inbound", "+14155550100", "did_us")
GOAL_BUSY = 0.8  # the rate with thousands of calls up, over the rate with none


async def seed(store) -> str:
    """A master, a reseller and its customer with unlimited two-way trunks (so every call takes a lease)."""
    master, reseller, customer = new_id(), new_id(), new_id()
    async with store.write() as tx:
        for account, parent, path, is_reseller in (
            (master, None, master, False),
            (reseller, master, f"{master}/{reseller}", True),
            (customer, reseller, f"{master}/{reseller}/{customer}", False),
        ):
            await tx.put_account_row(
                account,
                parent_id=parent,
                path=path,
                name=account,
                realm=f"{account}.bench",
                enabled=True,
                superduper=parent is None,
                reseller=is_reseller,
            )
    for account in (reseller, customer):
        await limits.save(store, account, {"twoway_trunks": -1})
    return customer


async def rate(work, calls: int, concurrency: int) -> float:
    """Operations per second of `work()` run `calls` times by `concurrency` tasks."""
    per_task = calls // concurrency

    async def worker() -> None:
        for _ in range(per_task):
            await work()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return per_task * concurrency / (time.perf_counter() - started)


async def main(url: str, calls: int, concurrency: int, held: int) -> None:
    store = await open_store(url)
    customer = await seed(store)
    trunks = Trunks(store, AccountDirectory(store), SystemConfigs(store), "bench")

    async def reference() -> None:
        async with store.write() as tx:
            await tx.touch(customer, "bench_marker", "bench_marker")

    async def authorize_and_release() -> None:
        grant = await trunks.authorize(customer, new_id(), CALL)
        assert grant.allowed, grant
        await trunks.release(grant)

    for _ in range(50):  # warm caches and connections
        await authorize_and_release()
    bare = await rate(reference, calls, concurrency)
    real = await rate(authorize_and_release, calls, concurrency)
    for _ in range(held):  # calls that stay up while the next round runs
        assert (await trunks.authorize(customer, new_id(), CALL)).allowed
    busy = await rate(authorize_and_release, calls, concurrency)
    print(f"database      {url.split('://')[0]}; {calls} calls, {concurrency} at a time")
    print(f"reference     {bare:9.0f} write transactions/s")
    print(f"trunks        {real:9.0f} authorize+release/s ({1000 / real:.2f} ms per call, account and reseller)")
    print(f"  {held} held  {busy:9.0f} authorize+release/s ({1000 / busy:.2f} ms per call)")
    print(f"ratio         {real / bare:9.3f} of the reference (each call is two transactions: take and release)")
    verdict = "PASS" if busy / real >= GOAL_BUSY else "MISS"
    print(f"busy / idle   {busy / real:9.3f} goal >= {GOAL_BUSY} (calls in progress do not slow a decision)  {verdict}")
    await trunks.close()
    await store.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--held", type=int, default=5000, help="calls in progress during the busy round")
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(main(args.db or f"sqlite:///{Path(folder) / 'bench.db'}", args.calls, args.concurrency, args.held))
