"""Another process recording an account's services change on a shared database:
`python -m tests.billing.recorder URL ACCOUNT N`.

Waits for `go` on stdin, records the account's change N times at once (each its own transaction, as another
`cloudpbx serve` settling a write would), prints `done` and exits.
"""

from __future__ import annotations

import asyncio
import sys

from cloudpbx.accounts.documents import Documents
from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.accounts.tree import AccountDirectory
from cloudpbx.billing.services import ServicePlans
from cloudpbx.numbers.classification import Classifiers
from cloudpbx.store import open_store


async def main(url: str, account_id: str, count: int) -> None:
    store = await open_store(url)
    directory = AccountDirectory(store)
    service = ServicePlans(store, directory, Documents(store), Classifiers(SystemConfigs(store)))
    node = await directory.get(account_id)
    assert node is not None
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "go"
    await asyncio.gather(*(service.record(node, "quantities", "recorder") for _ in range(count)))
    print("done", flush=True)
    await store.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
