"""Another process taking trunk leases on a shared database: `python -m tests.limits.acquirer URL ACCOUNT N TTL`.

Waits for `go` on stdin, authorizes N inbound calls to the account at once, prints the outcomes (billing or reason
per call) as one JSON line, then waits again: `release` gives the leases back and exits; killed, it leaves them to
expire.
"""

from __future__ import annotations

import asyncio
import sys

import orjson

from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.accounts.tree import AccountDirectory
from cloudpbx.limits.decision import CarrierCall
from cloudpbx.limits.trunks import Trunks
from cloudpbx.store import new_id, open_store

CALL = CarrierCall("inbound", "+14155550100", "did_us")


async def main(url: str, account_id: str, count: int, ttl_s: float) -> None:
    store = await open_store(url)
    trunks = Trunks(store, AccountDirectory(store), SystemConfigs(store), "acquirer", ttl_s=ttl_s)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "go"
    grants = await asyncio.gather(*(trunks.authorize(account_id, new_id(), CALL) for _ in range(count)))
    print(orjson.dumps([g.account.billing if g.allowed else g.reason for g in grants]).decode(), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # "release"
    for grant in grants:
        if grant.allowed:
            await trunks.release(grant)
    await trunks.close()
    await store.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
