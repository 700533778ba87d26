"""Money benchmark, first part: rating decisions per second against a 100,000-rate deck, and the time to upload it.

Run with the project's interpreter: `.venv/bin/python bench/money.py [--decisions N] [--rates N] [--db URL]`.
A store is opened (a fresh SQLite file in a temporary folder, or `--db`, whose rate decks it leaves alone but for
the one it names `bench-<random>` and removes) and a deck of 100,000 rates (prefixes of 1 to 8 digits spread over
the E.164 space, a third per direction) is uploaded as the API uploads it: the CSV parsed and checked, then
stored in one transaction. Rating decisions are `Rates.rate` as the API and per-minute billing call it: the deck's
marker read by primary key, then the longest prefix for the direction, `--concurrency` of them in flight at once
as calls arrive together (on PostgreSQL each marker read is a round trip). The reference, in the same process, is a
dictionary lookup of each number's exact 4-digit prefix. It prints the upload time, the cost per decision,
decisions/s, the ratio to the reference and PASS/MISS against the goal of 20,000 decisions/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

GOAL_PER_S = 20_000


def deck_csv(rng: random.Random, count: int) -> str:
    """`count` distinct prefixes of 1 to 8 digits, most of them long as real decks' are."""
    prefixes: set[str] = set()
    while len(prefixes) < count:
        length = rng.choice((1, 2, 3, 4, 5, 5, 6, 6, 7, 7, 8, 8))
        prefixes.add(str(rng.randrange(1, 10)) + "".join(rng.choices("0123456789", k=length - 1)))
    lines = ["prefix,iso_country_code,description,rate_cost,rate_increment,rate_minimum,direction,weight"]
    for i, prefix in enumerate(sorted(prefixes)):
        direction = ("inbound", "outbound", "both")[i % 3]
        lines.append(f"{prefix},XX,Route {i},0.{rng.randrange(1, 10_000):04d},6,30,{direction},{rng.randrange(1, 101)}")
    return "\n".join(lines) + "\n"


def numbers(rng: random.Random, count: int) -> list[str]:
    return [f"+{rng.randrange(1, 10)}{rng.randrange(10**9, 10**10)}" for _ in range(count)]


async def timed(label: str, count: int, run) -> float:
    gc.collect()
    start = time.perf_counter()
    await run()
    seconds = time.perf_counter() - start
    print(f"{label:<40} {1e6 * seconds / count:8.2f} µs each   {count / seconds:>10,.0f} /s")
    return seconds / count


async def bench(args, db_url: str) -> None:
    from cloudpbx.accounts.system_configs import SystemConfigs
    from cloudpbx.accounts.tree import AccountDirectory
    from cloudpbx.billing.decks import Manager, RateDecks, marker_id
    from cloudpbx.billing.rating import NoRate, Rates
    from cloudpbx.store import SYSTEM, new_id, open_store
    from cloudpbx.store import rates as table

    rng = random.Random(args.seed)
    store = await open_store(db_url)
    decks, rates = RateDecks(store, AccountDirectory(store), SystemConfigs(store)), Rates(store)
    admin = Manager(new_id(), superduper=True, reseller=False)
    deck = f"bench-{new_id()[:8]}"
    content = deck_csv(rng, args.rates).encode()
    started = time.perf_counter()
    stored = await decks.upload(admin, deck, content)
    print(f"upload: {stored:,} rates ({len(content) / 1e6:.1f} MB CSV) in {time.perf_counter() - started:.2f} s")
    started = time.perf_counter()
    await rates.index(deck)
    print(f"index built in {time.perf_counter() - started:.2f} s")

    called = numbers(rng, 10_000)
    picks = [(called[i % len(called)], ("inbound", "outbound")[i % 2]) for i in range(args.decisions)]
    exact = {row.split(",", 1)[0]: row for row in content.decode().splitlines()[1:]}

    async def reference() -> None:
        for number, _ in picks:
            exact.get(number[1:5])

    async def worker(share: list[tuple[str, str]]) -> None:
        for number, direction in share:
            with contextlib.suppress(NoRate):
                await rates.rate(deck, number, direction)

    async def decide() -> None:
        await asyncio.gather(*(worker(picks[i :: args.concurrency]) for i in range(args.concurrency)))

    base = await timed("reference (exact prefix dict lookup)", len(picks), reference)
    decision = await timed(f"rating decision ({args.concurrency} at a time)", len(picks), decide)
    print(f"ratio decision/reference: {decision / base:.1f}")
    per_s = 1 / decision
    print(f"{'PASS' if per_s >= GOAL_PER_S else 'MISS'}: {per_s:,.0f} decisions/s (goal ≥ {GOAL_PER_S:,})")
    async with store.write() as tx:
        await table.delete_deck(tx, deck)
        await tx.purge(SYSTEM, marker_id(deck))
    await store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--rates", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=32, help="decisions in flight at once, as calls arrive")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()

    import uvloop

    with tempfile.TemporaryDirectory() as folder:
        uvloop.run(bench(args, args.db or f"sqlite:///{folder}/bench.db"))


if __name__ == "__main__":
    main()
