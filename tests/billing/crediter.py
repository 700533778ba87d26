"""Another process crediting an account on a shared database: `python -m tests.billing.crediter URL ACCOUNT N`.

Waits for `go` on stdin, writes N credits of one unit each at once (each its own transaction, as another
`cloudpbx serve` would), prints how many it wrote as one JSON line and exits.
"""

from __future__ import annotations

import asyncio
import sys

import orjson

from cloudpbx.billing import ledgers
from cloudpbx.store import new_id, open_store


async def main(url: str, account_id: str, count: int) -> None:
    store = await open_store(url)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "go"

    turns = asyncio.Semaphore(8)  # a few connections, as one server's pool would use: the cluster's are shared

    async def credit() -> bool:
        change = ledgers.Change(ledgers.ADJUSTMENTS, new_id(), "credit", 1, usage=("credit", 1, "unit"))
        async with turns:
            return (await ledgers.write(store, account_id, change)).new

    written = await asyncio.gather(*(credit() for _ in range(count)))
    print(orjson.dumps(sum(written)).decode(), flush=True)
    await store.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
