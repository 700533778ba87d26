"""Call restriction benchmark: what the restriction check adds to a device's call, against the routing lookup every
call already makes, both run in the same process.

Run with the project's interpreter: `.venv/bin/python bench/restrictions.py [--calls N] [--db URL]`.
It times `Restrictions.check` (classifiers from system config, the account, the owner; closed groups also list the
account's groups) for a device with an owner, one without, and one under closed groups in an account of 50 groups,
and the router's lookup of the same number (a callflow pattern) as the reference. It prints figures, ratios
and PASS/MISS.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import secrets
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent / "src"), str(BENCH)]

from patterns import summary, timed  # noqa: E402  shared timing helpers

ADMIN_PASSWORD = "bench-admin-pass-1"
GROUPS = 50
GOAL_RATIO = 2.0  # a check costs at most twice the routing lookup it follows
FLOW = {"module": "response", "data": {"code": 404}}


async def seed(platform) -> tuple[str, dict, dict, dict, str]:
    """An account with a user who may not call abroad, her phone, an ownerless phone, a closed-group phone whose
    extension callflow it calls, and 50 groups."""
    from cloudpbx.accounts.kinds import CALLFLOW, DEVICE, KINDS, USER

    documents = platform.documents
    master_id = await platform.accounts.master_id()
    account = (await platform.accounts.create(master_id, {"name": f"Bench restrictions {secrets.token_hex(3)}"}))["_id"]
    denied = {"international": {"action": "deny"}}
    user = await documents.create(USER, account, {"first_name": "A", "last_name": "B", "call_restriction": denied})
    owned = await documents.create(DEVICE, account, {"name": "owned", "owner_id": user["_id"]})
    alone = await documents.create(DEVICE, account, {"name": "alone"})
    closed = await documents.create(
        DEVICE, account, {"name": "closed", "call_restriction": {"closed_groups": {"action": "deny"}}}
    )
    for i in range(GROUPS):
        await documents.create(
            KINDS["groups"], account, {"name": f"g{i}", "endpoints": {owned["_id"]: {"type": "device"}}}
        )
    await documents.create(
        CALLFLOW, account, {"numbers": ["1000"], "flow": {"module": "device", "data": {"id": owned["_id"]}}}
    )
    await documents.create(CALLFLOW, account, {"patterns": ["^\\+44\\d{10}$"], "flow": FLOW})
    return account, owned, alone, closed, "+442079460000"


async def run(calls: int, db_url: str | None) -> None:
    from cloudpbx.cli.bootstrap import ensure_master
    from cloudpbx.config import Settings
    from cloudpbx.platform import Platform

    data_dir = Path(tempfile.mkdtemp(prefix="cloudpbx-bench-restrictions-"))
    platform = await Platform.open(Settings(data_dir=data_dir, db_url=db_url or f"sqlite:///{data_dir}/bench.db"))
    try:
        await ensure_master(platform, ADMIN_PASSWORD)
        account, owned, alone, closed, abroad = await seed(platform)
        router, restrictions = platform.callflows.router, platform.restrictions
        extension = (await router.lookup(account, "1000", authorized=True)).callflow["flow"]
        assert (await restrictions.check(account, owned, abroad)).barred
        assert not (await restrictions.check(account, alone, abroad)).barred
        assert (await restrictions.check(account, closed, "1000", extension)).barred
        gc.freeze()
        rows = {
            "router lookup (reference)": summary(
                await timed(calls, lambda: router.lookup(account, abroad, authorized=True))
            ),
            "check, device with owner": summary(await timed(calls, lambda: restrictions.check(account, owned, abroad))),
            "check, device without owner": summary(
                await timed(calls, lambda: restrictions.check(account, alone, abroad))
            ),
            f"check, closed groups ({GROUPS})": summary(
                await timed(calls, lambda: restrictions.check(account, closed, "1000", extension))
            ),
        }
        print(f"\n{'per call':<32}{'mean us':>10}{'p99 us':>10}")
        for name, (mean, p99) in rows.items():
            print(f"{name:<32}{mean:>10.1f}{p99:>10.1f}")
        ratio = rows["check, device with owner"][0] / rows["router lookup (reference)"][0]
        print("\nsummary")
        verdict = "PASS" if ratio <= GOAL_RATIO else "MISS"
        print(f"  check / lookup                {ratio:8.2f}   goal <= {GOAL_RATIO:.0f}        {verdict}")
    finally:
        await platform.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2_000, help="checks per measure (default 2,000)")
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.db))


if __name__ == "__main__":
    main()
