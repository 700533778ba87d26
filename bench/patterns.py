"""Callflow pattern benchmark: routing in an account of 10,000 patterns, against references run in the same process.

Run with the project's interpreter: `.venv/bin/python bench/patterns.py [--calls N] [--db URL]`.
It times the router's lookup (the one the SIP side calls for every INVITE) in an account holding 10,000 patterns and
in an account holding one, the old engine (Python's `re`, every pattern searched in turn) over the same 10,000
patterns, the backtracking probe `^(\\d+)+$` against 28 ones and "a", and the longest time the event loop was held
while an account's patterns were compiled and looked up. It prints figures, ratios and PASS/MISS per goal.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

ADMIN_PASSWORD = "bench-admin-pass-1"
PATTERNS = 10_000
PER_CALLFLOW = 1_000
FLOW = {"module": "response", "data": {"code": 404}}
GOAL_RATIO = 4.0  # lookup among 10,000 patterns over lookup among one
GOAL_STALL_MS = 5.0  # longest hold of the event loop
PROBE = "1" * 28 + "a"


def pattern(i: int) -> str:
    """Patterns shaped like real dial rules: a distinct prefix, then captured digits."""
    return f"^{10_000 + i}(\\d{{{1 + i % 4}}})$"


class Collections:
    """The longest pause of Python's garbage collector, which holds the loop too (the server tunes it at start)."""

    def __init__(self):
        self.longest = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.longest = max(self.longest, time.thread_time() - self._started)


class Stalls:
    """The longest gap between turns of a task that only yields: how long anything held the loop.

    Gaps are counted in the loop thread's CPU time, so time the operating system gave to other processes on a
    busy machine does not count as the loop being held.
    """

    def __init__(self):
        self.longest = 0.0
        self._task: asyncio.Task | None = None

    async def _tick(self) -> None:
        last = time.thread_time()
        while True:
            await asyncio.sleep(0)
            now = time.thread_time()
            self.longest = max(self.longest, now - last)
            last = now

    def __enter__(self) -> Stalls:
        self._task = asyncio.ensure_future(self._tick())
        return self

    def __exit__(self, *exc) -> None:
        self._task.cancel()


async def timed(calls: int, lookup) -> list[float]:
    """Seconds per call of `lookup()`, the loop turning between calls as between requests."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        await lookup()
        times.append(time.perf_counter() - start)
        await asyncio.sleep(0)
    return times


def summary(times: list[float]) -> tuple[float, float]:
    """(mean, p99) in microseconds."""
    ordered = sorted(times)
    return 1e6 * statistics.fmean(ordered), 1e6 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def old_engine(patterns: list[str]):
    """The routing before RE2: every pattern compiled by `re` and searched in turn, the longest capture winning."""
    compiled = [re.compile(p) for p in patterns]

    async def lookup(number: str):
        best = None
        for regex in compiled:
            match = regex.search(number)
            if match is not None:
                captured = max((g or "" for g in match.groups()), key=len) if regex.groups else match.group(0)
                if best is None or len(captured) > len(best):
                    best = captured
        return best

    return lookup


async def seed(platform, name: str, patterns: list[str]) -> str:
    """An account with `patterns`, saved through the document service as the API saves them."""
    from cloudpbx.accounts.kinds import CALLFLOW

    master_id = await platform.accounts.master_id()
    account = await platform.accounts.create(master_id, {"name": f"Bench {name} {secrets.token_hex(3)}"})
    for start in range(0, len(patterns), PER_CALLFLOW):
        await platform.documents.create(
            CALLFLOW, account["_id"], {"patterns": patterns[start : start + PER_CALLFLOW], "flow": FLOW}
        )
    return account["_id"]


async def run(calls: int, db_url: str | None) -> None:
    from cloudpbx.accounts.patterns import MARKER_TYPE, PATTERNS_MARKER
    from cloudpbx.cli.bootstrap import ensure_master
    from cloudpbx.cli.main import GC_THRESHOLDS
    from cloudpbx.config import Settings
    from cloudpbx.platform import Platform

    data_dir = Path(tempfile.mkdtemp(prefix="cloudpbx-bench-patterns-"))
    platform = await Platform.open(Settings(data_dir=data_dir, db_url=db_url or f"sqlite:///{data_dir}/bench.db"))
    try:
        await ensure_master(platform, ADMIN_PASSWORD)
        patterns = [pattern(i) for i in range(PATTERNS)]
        print(f"seeding {PATTERNS:,} patterns in one account ...", flush=True)
        big = await seed(platform, "many", patterns)
        single = await seed(platform, "one", [pattern(PATTERNS // 2)])
        stalling = await seed(platform, "probe", ["^(\\d+)+$"])
        router = platform.callflows.router
        hit = f"{10_000 + PATTERNS // 2}" + "1" * (1 + (PATTERNS // 2) % 4)
        miss = "99999999"

        async def route(account: str, number: str):
            return await router.lookup(account, number, authorized=False)

        assert (await route(big, hit)) is not None and (await route(single, hit)) is not None
        assert (await route(big, miss)) is None
        assert (await route(stalling, PROBE)) is None  # every account compiled once: what follows is warm
        gc.freeze()  # as `cloudpbx serve` does once started
        gc.set_threshold(*GC_THRESHOLDS)
        collections = Collections()
        gc.callbacks.append(collections)

        with Stalls() as cold:
            async with platform.store.write() as tx:  # as a callflow save does: every process compiles again
                await tx.touch(big, PATTERNS_MARKER, MARKER_TYPE)
            start = time.perf_counter()
            await route(big, hit)
            compile_ms = 1000 * (time.perf_counter() - start)
        with Stalls() as warm:
            rows = {
                "10,000 patterns, a hit": summary(await timed(calls, lambda: route(big, hit))),
                "10,000 patterns, no hit": summary(await timed(calls, lambda: route(big, miss))),
                "1 pattern, a hit": summary(await timed(calls, lambda: route(single, hit))),
                "^(\\d+)+$, 28 ones + a": summary(await timed(calls, lambda: route(stalling, PROBE))),
            }
        old = old_engine(patterns)
        rows["old re engine, 10,000, a hit"] = summary(await timed(max(1, calls // 20), lambda: old(hit)))
        probe_re = re.compile("^(\\d+)+$")
        start = time.perf_counter()
        probe_re.search("1" * 22 + "a")
        old_probe_ms = 1000 * (time.perf_counter() - start)

        print(f"\n{'lookup (router, warm)':<32}{'mean us':>10}{'p99 us':>10}")
        for name, (mean, p99) in rows.items():
            print(f"{name:<32}{mean:>10.1f}{p99:>10.1f}")
        many, one = rows["10,000 patterns, a hit"][0], rows["1 pattern, a hit"][0]
        old_mean = rows["old re engine, 10,000, a hit"][0]
        stall_ms = 1000 * max(cold.longest, warm.longest)
        print(
            f"\ncompiling 10,000 patterns after a change: {compile_ms:.1f} ms in all, "
            f"loop held at most {1000 * cold.longest:.2f} ms at a time"
        )
        print(f"longest garbage collection: {1000 * collections.longest:.2f} ms")
        print(f"old engine on ^(\\d+)+$ with only 22 ones + a: {old_probe_ms:.0f} ms (four times that per two more)")
        print("\nsummary")
        print(
            f"  10,000 patterns / 1 pattern   {many / one:8.2f}   goal <= {GOAL_RATIO:.0f}        "
            f"{'PASS' if many / one <= GOAL_RATIO else 'MISS'}"
        )
        print(f"  old re engine / router        {old_mean / many:8.1f}   (the router's lookup includes its reads)")
        print(
            f"  longest loop hold ms          {stall_ms:8.2f}   goal < {GOAL_STALL_MS:.0f}        "
            f"{'PASS' if stall_ms < GOAL_STALL_MS else 'MISS'}"
        )
    finally:
        await platform.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2_000, help="lookups per measure (default 2,000)")
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.db))


if __name__ == "__main__":
    main()
