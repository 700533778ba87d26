"""Carrier recognition benchmark: what telling a carrier's INVITE from a phone's costs, against a reference run in
the same process: the one point read of the platform-wide carrier marker that every lookup makes.

Run with the project's interpreter: `.venv/bin/python bench/gateways.py [--carriers N] [--lookups N] [--db URL]`
(SQLite in a temporary folder by default). Carriers (one to three gateways each, IP literals) are saved through the
documents service as the API saves them, half global and half spread over 100 accounts' own partitions. It prints
the time to build the index, lookups per second for random source addresses (a fifth of them gateways), the cost
per lookup, and the ratio to the reference.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cloudpbx.accounts.documents import Documents  # noqa: E402
from cloudpbx.accounts.resources import RESOURCE, Resources  # noqa: E402
from cloudpbx.routing.gateways import GatewayIndex  # noqa: E402
from cloudpbx.store import SYSTEM, new_id, open_store  # noqa: E402

ACCOUNTS = 100


async def seed(documents: Documents, carriers: int, rng: random.Random) -> list[str]:
    """Save the carriers; the addresses of their gateways."""
    accounts = [new_id() for _ in range(ACCOUNTS)]
    addresses = []
    for i in range(carriers):
        gateways = [{"server": f"10.{i // 250}.{i % 250}.{g + 1}"} for g in range(1 + i % 3)]
        addresses += [gateway["server"] for gateway in gateways]
        partition = SYSTEM if i % 2 else rng.choice(accounts)
        await documents.create(RESOURCE, partition, {"name": f"Carrier {i}", "rules": [], "gateways": gateways})
    return addresses


async def rate(work, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        await work()
    return count / (time.perf_counter() - started)


async def main(url: str, carriers: int, lookups: int) -> None:
    store = await open_store(url)
    rng = random.Random(7)
    addresses = await seed(Documents(store), carriers, rng)
    resources = Resources(store)
    index = GatewayIndex(resources)
    started = time.perf_counter()
    await index.carriers_at("192.0.2.1", 5060)
    built = time.perf_counter() - started
    sources = [rng.choice(addresses) if rng.random() < 0.2 else f"192.0.2.{rng.randrange(256)}" for _ in range(lookups)]
    turn = itertools.count()

    async def reference() -> None:
        await resources.any_revision()

    async def lookup() -> None:
        await index.carriers_at(sources[next(turn) % lookups], 5060)

    bare = await rate(reference, lookups)
    real = await rate(lookup, lookups)
    print(f"database      {url.split('://')[0]}; {carriers} carriers, {len(addresses)} gateways")
    print(f"build         {built * 1000:9.1f} ms for the whole index")
    print(f"reference     {bare:9.0f} marker reads/s")
    print(f"lookups       {real:9.0f} /s ({1_000_000 / real:.1f} us per INVITE)")
    print(f"ratio         {real / bare:9.3f} of the reference")
    await store.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--carriers", type=int, default=1000)
    parser.add_argument("--lookups", type=int, default=20000)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(main(args.db or f"sqlite:///{folder}/bench.db", args.carriers, args.lookups))
