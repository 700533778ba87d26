"""Outbound route decision benchmark: decisions per second over 100 carriers holding 1,000 rules, in process.

Run with the project's interpreter: `.venv/bin/python bench/routing.py [--decisions N] [--seed S]`.
The pool is compiled from carrier documents as the API stores them (schema defaults filled): 100 carriers of ten
rules each (US area codes and country codes, with captures), some with flags and caller ID rules, one to three
gateways each. Random numbers, dialled in national, international and
E.164 forms, are decided in turn; the reference is a plain loop over the same numbers doing only the E.164
normalisation every decision starts with. It prints the cost per decision, decisions/s, the ratio to the
reference and PASS/MISS against the goal of 20,000 decisions/s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CARRIERS = 100
RULES_PER_CARRIER = 10
GOAL_PER_S = 20_000


def documents(rng: random.Random) -> list[dict]:
    """100 carrier documents, 1,000 rules in all, shaped like real ones."""
    from cloudpbx import schemas

    docs = []
    for i in range(CARRIERS):
        codes = rng.sample(range(201, 990), RULES_PER_CARRIER // 2)
        countries = rng.sample(range(30, 99), RULES_PER_CARRIER - len(codes))
        rules = [rf"^\+1({code}\d{{7}})$" for code in codes] + [rf"^\+({cc}\d{{6,12}})$" for cc in countries]
        extra: dict = {"flags": ["fax"]} if i % 9 == 0 else {}
        if i % 11 == 0:
            extra["cid_rules"] = [r"^\+1415"]
        gateways = [{"server": f"10.0.{i}.{g}", "prefix": "9" if g else ""} for g in range(1 + i % 3)]
        body = {"name": f"Carrier {i:03}", "rules": rules, "gateways": gateways, "weight_cost": rng.randrange(101)}
        doc, errors = schemas.validate("resources", {**body, **extra})
        assert not errors, errors
        doc["_id"] = f"{i:032x}"
        docs.append(doc)
    return docs


def numbers(rng: random.Random, count: int) -> list[str]:
    """Dialled numbers: national US, E.164 US, international with 011, toll-free, and a few extensions."""
    found = []
    for _ in range(count):
        kind = rng.random()
        npa = f"{rng.randrange(201, 990)}{rng.randrange(200, 999)}{rng.randrange(1000, 9999)}"
        if kind < 0.4:
            found.append(npa)
        elif kind < 0.7:
            found.append(f"+1{npa}")
        elif kind < 0.9:
            found.append(f"011{rng.randrange(30, 99)}{rng.randrange(10**7, 10**9)}")
        elif kind < 0.97:
            found.append(f"1800{rng.randrange(2000000, 9999999)}")
        else:
            found.append(str(rng.randrange(100, 9999)))
    return found


def rate(label: str, count: int, run) -> float:
    gc.collect()
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    print(f"{label:<34} {1e6 * seconds / count:8.2f} µs each   {count / seconds:>10,.0f} /s")
    return seconds / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from cloudpbx.numbers.classifiers import DEFAULT_CLASSIFIERS, normalize
    from cloudpbx.routing.decision import Request, decide
    from cloudpbx.routing.pool import Pool

    rng = random.Random(args.seed)
    started = time.perf_counter()
    pool = asyncio.run(Pool.build(documents(rng), DEFAULT_CLASSIFIERS, True))
    built = time.perf_counter() - started
    rules = sum(len(carrier.rules) for carrier in pool.carriers)
    print(f"pool: {len(pool.carriers)} carriers, {rules} rules ({len(pool.owners)} distinct), built in {built:.3f} s")
    dialled = numbers(rng, 10_000)
    requests = [
        Request(n, flags=("fax",) if i % 20 == 0 else (), caller_id_number="+14155550100")
        for i, n in enumerate(dialled)
    ]
    picks = [requests[i % len(requests)] for i in range(args.decisions)]
    routed = sum(1 for request in requests if decide(pool, request).endpoints)
    print(f"numbers: {len(requests)} distinct, {routed} routed, {len(requests) - routed} NO_ROUTE_DESTINATION")

    reference = rate("reference (E.164 normalisation)", len(picks), lambda: [normalize(r.number) for r in picks])
    decision = rate("route decision", len(picks), lambda: [decide(pool, r) for r in picks])
    print(f"ratio decision/reference: {decision / reference:.1f}")
    per_s = 1 / decision
    print(f"{'PASS' if per_s >= GOAL_PER_S else 'MISS'}: {per_s:,.0f} decisions/s (goal ≥ {GOAL_PER_S:,})")


if __name__ == "__main__":
    main()
