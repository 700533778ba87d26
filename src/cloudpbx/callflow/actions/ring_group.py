"""`ring_group`: ring members (devices, users' devices, groups' members) together or one after another.

`strategy` simultaneous (def), single (group documents' members by weight) or weighted_random; `timeout` def 20
for the whole attempt; each member its own `timeout` (def 20) and `delay`; `repeats` (def 1) retries the attempt
while no failure branch takes the call.
"""

from cloudpbx.callflow.endpoints import DEFAULT_TIMEOUT_S, Member, non_negative
from cloudpbx.callflow.execution import CONTINUE, STOP, Execution, Next, log, text

ORDERS = {"simultaneous": "listed", "single": "weight", "weighted_random": "weighted_random"}


def _member(entry: dict) -> Member:
    weight = entry.get("weight")
    return Member(
        text(entry.get("id")),
        text(entry.get("endpoint_type")) or "device",
        non_negative(entry.get("timeout"), DEFAULT_TIMEOUT_S),
        non_negative(entry.get("delay"), 0),
        weight if isinstance(weight, int) else None,
    )


async def run(ctx: Execution, data: dict) -> Next:
    chosen = data.get("strategy")
    strategy = chosen if isinstance(chosen, str) and chosen in ORDERS else "simultaneous"
    members = [_member(entry) for entry in data.get("endpoints") or [] if isinstance(entry, dict) and entry.get("id")]
    timeout_s = non_negative(data.get("timeout"), 0) or DEFAULT_TIMEOUT_S
    for _ in range(max(1, non_negative(data.get("repeats"), 1))):
        targets = await ctx.endpoints.members(
            ctx.account_id, members, exclude=ctx.caller_device_id, order=ORDERS[strategy]
        )
        if not targets:
            log.info("call %s: ring group has no device to ring", ctx.call.call_id)
            return CONTINUE
        result = await ctx.bridge(targets, "simultaneous" if strategy == "simultaneous" else "single", timeout_s)
        if result.answered or ctx.call.ended:
            return STOP
        branch = ctx.failure_branch(result)
        if branch:
            return branch
    return CONTINUE
