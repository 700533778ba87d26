"""Route plan benchmark: what planning a call (reading the caller, restrictions, on-net) adds to the two decisions
it contains, the carrier decision and the trunk limits preview, all run in the same process over one database.

Run with the project's interpreter: `.venv/bin/python bench/plan.py [--calls N] [--db URL]`.
The global pool is bench/routing.py's 100 carriers with 1,000 rules; the account has a user and a phone with
caller ID, dial plan and restrictions, 2 outbound trunks, and one number of its own (on-net). The reference is
`Routes.decide` of the plan's own request followed by `Trunks.preview` of its call (the limits preview counts the
live leases with one query); it times them apart too, and `Plans.plan` of a number that goes to carriers, of the
on-net number and of a number the restrictions bar, and prints figures, the ratio and PASS/MISS.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import secrets
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent / "src"), str(BENCH)]

from patterns import summary, timed  # noqa: E402  shared timing helpers
from routing import documents  # noqa: E402  the 100 carriers of the decision benchmark

ADMIN_PASSWORD = "bench-admin-pass-1"
GOAL_RATIO = 1.5  # the plan's point reads (caller, restrictions, number) add at most half the decisions' cost


async def seed(platform) -> tuple[str, dict, str]:
    """The global carriers, an account with 2 outbound trunks, its user and phone, and a number it holds."""
    from cloudpbx.accounts import limits
    from cloudpbx.accounts.kinds import DEVICE, USER
    from cloudpbx.accounts.resources import RESOURCE
    from cloudpbx.numbers.manager import Actor
    from cloudpbx.store import SYSTEM

    for doc in documents(random.Random(7)):
        body = {k: v for k, v in doc.items() if k != "_id"}
        await platform.documents.create(RESOURCE, SYSTEM, body)
    master_id = await platform.accounts.master_id()
    account = (await platform.accounts.create(master_id, {"name": f"Bench plan {secrets.token_hex(3)}"}))["_id"]
    await limits.save(platform.store, account, {"outbound_trunks": 2})
    denied = {"international": {"action": "deny"}}
    user = await platform.documents.create(USER, account, {"first_name": "A", "last_name": "B"})
    device = await platform.documents.create(
        DEVICE,
        account,
        {
            "name": "desk",
            "owner_id": user["_id"],
            "caller_id": {"external": {"number": "+14155550100"}},
            "dial_plan": {"^(\\d{7})$": {"prefix": "+1415"}},
            "call_restriction": denied,
        },
    )
    number = "+16285550123"
    await platform.numbers.add(Actor(master_id, True), account, number, {})
    return account, device, number


async def run(calls: int, db_url: str | None) -> None:
    from cloudpbx.cli.bootstrap import ensure_master
    from cloudpbx.config import Settings
    from cloudpbx.limits.decision import OUTBOUND, CarrierCall
    from cloudpbx.platform import Platform

    data_dir = Path(tempfile.mkdtemp(prefix="cloudpbx-bench-plan-"))
    platform = await Platform.open(Settings(data_dir=data_dir, db_url=db_url or f"sqlite:///{data_dir}/bench.db"))
    try:
        await ensure_master(platform, ADMIN_PASSWORD)
        account, device, own = await seed(platform)
        plans, routes = platform.plans, platform.routes
        out = await plans.plan(account, "+12125550100", device)
        assert out.outcome in ("carriers", "no_route"), out.explain()
        assert (await plans.plan(account, own, device)).outcome == "on_net"
        assert (await plans.plan(account, "011442079460000", device)).outcome == "barred"
        call = CarrierCall(OUTBOUND, "+12125550100", "did_us")
        gc.freeze()

        async def reference() -> None:
            await routes.decide(out.request)
            await platform.trunks.preview(account, call)

        rows = {
            "decision + preview (reference)": summary(await timed(calls, reference)),
            "decision": summary(await timed(calls, lambda: routes.decide(out.request))),
            "plan, to carriers": summary(await timed(calls, lambda: plans.plan(account, "+12125550100", device))),
            "plan, on-net": summary(await timed(calls, lambda: plans.plan(account, own, device))),
            "limits preview": summary(await timed(calls, lambda: platform.trunks.preview(account, call))),
            "plan, barred": summary(await timed(calls, lambda: plans.plan(account, "011442079460000", device))),
        }
        print(f"\n{'per call':<34}{'mean us':>10}{'p99 us':>10}")
        for name, (mean, p99) in rows.items():
            print(f"{name:<34}{mean:>10.1f}{p99:>10.1f}")
        ratio = rows["plan, to carriers"][0] / rows["decision + preview (reference)"][0]
        verdict = "PASS" if ratio <= GOAL_RATIO else "MISS"
        print(f"\nsummary\n  plan / (decision + preview)      {ratio:8.2f}   goal <= {GOAL_RATIO:.1f}        {verdict}")
    finally:
        await platform.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2_000, help="plans per measure (default 2,000)")
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.db))


if __name__ == "__main__":
    main()
