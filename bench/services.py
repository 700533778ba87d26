"""Service plan quantities benchmark: counting a reseller tree's quantities (own and cascade) with the grouped
queries of `billing/quantities.py`, for a tree of 1,000 documents and one of 100,000 (100 accounts each), against a
reference run in the same process and store: listing the same documents the naive way (every document of every
account of the tree loaded and decoded), which is what the grouped queries avoid. Prints counts per second and
the ratios; the goal is grouped counting no slower than loading at 100,000 documents (SQLite reads every body either
way; the grouped queries save decoding, transfer and memory, and writes count a tree only for plans that cascade).

Run with the project's interpreter: `.venv/bin/python bench/services.py [--rounds N] [--db URL]` (SQLite in a
temporary folder by default).
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

import orjson  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from cloudpbx.accounts.tree import AccountNode  # noqa: E402
from cloudpbx.billing.quantities import count  # noqa: E402
from cloudpbx.numbers.classifiers import DEFAULT_CLASSIFIERS  # noqa: E402
from cloudpbx.store import gregorian_now, new_id, open_store  # noqa: E402
from cloudpbx.store.tables import docs  # noqa: E402

ACCOUNTS = 100
GOAL = 1.0
TYPES = (("user", "priv_level", ("user", "admin")), ("device", "device_type", ("sip_device", "cellphone")))


async def seed(store, per_account: int) -> AccountNode:
    """A reseller with ACCOUNTS - 1 sub-accounts, each holding `per_account` users and devices."""
    root = new_id()
    ids = [root] + [new_id() for _ in range(ACCOUNTS - 1)]
    now = gregorian_now()
    async with store.write() as tx:
        for account_id in ids:
            path = root if account_id == root else f"{root}/{account_id}"
            await tx.put_account_row(
                account_id,
                parent_id=None if account_id == root else root,
                path=path,
                name=account_id,
                realm=account_id,
                enabled=True,
                superduper=False,
                reseller=account_id == root,
            )
            rows = []
            for i in range(per_account):
                doc_type, field, values = TYPES[i % 2]
                body = {
                    "pvt_type": doc_type,
                    field: values[(i // 2) % 2],
                    "name": f"n{i}",
                    "pvt_account_id": account_id,
                }
                rows.append(
                    {
                        "account_id": account_id,
                        "id": new_id(),
                        "type": doc_type,
                        "rev": "1-x",
                        "created": now,
                        "modified": now,
                        "deleted": False,
                        "body": orjson.dumps(body).decode(),
                    }
                )
            await tx.conn.execute(insert(docs), rows)
    return AccountNode(root, None, (), root, root, True, False, True)


async def loaded(store, node: AccountNode) -> int:
    """The naive count: every document of the tree's accounts loaded and decoded, account by account."""
    total = 0
    async with store.read() as tx:
        for account_id in [node.id, *(r.account_id for r in await tx.account_rows_under(node.path))]:
            for doc_type in ("user", "device"):
                total += len(await tx.list(account_id, doc_type))
    return total


async def timed(work, rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        await work()
    return rounds / (time.perf_counter() - started)


async def main(url: str, rounds: int) -> None:
    store = await open_store(url)
    print(f"database       {url.split('://')[0]}; {ACCOUNTS} accounts per tree, {rounds} counts each")
    for per_account in (10, 1_000):
        node = await seed(store, per_account)
        size = per_account * ACCOUNTS

        async def grouped(node=node, size=size) -> None:
            found = await count(store, node, DEFAULT_CLASSIFIERS)
            assert sum(sum(items.values()) for items in found.cascade.values()) == size

        async def reference(node=node, size=size) -> None:
            assert await loaded(store, node) == size

        await grouped()
        ref, fast = await timed(reference, rounds), await timed(grouped, rounds)
        print(
            f"{size:>7} docs    reference {ref:8.2f} loads/s   grouped {fast:8.2f} counts/s   ratio {fast / ref:7.2f}"
        )
    verdict = "PASS" if fast / ref >= GOAL else "MISS"
    print(f"ratio at {size} docs {fast / ref:7.2f} goal >= {GOAL}  {verdict}")
    await store.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(main(args.db or f"sqlite:///{Path(folder) / 'bench.db'}", args.rounds))
