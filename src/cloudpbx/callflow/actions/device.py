"""`device`: ring one device (`id`, `timeout` 0 = the default, `delay`, `dial_strategy`, `can_call_self`)."""

from cloudpbx.callflow.call import Strategy
from cloudpbx.callflow.endpoints import DEFAULT_TIMEOUT_S, non_negative
from cloudpbx.callflow.execution import Execution, Next, text


async def run(ctx: Execution, data: dict) -> Next:
    timeout_s = non_negative(data.get("timeout"), 0) or DEFAULT_TIMEOUT_S
    exclude = None if data.get("can_call_self") is True else ctx.caller_device_id
    targets = await ctx.endpoints.device(
        ctx.account_id, text(data.get("id")), timeout_s, non_negative(data.get("delay"), 0), exclude
    )
    strategy: Strategy = "single" if data.get("dial_strategy") == "single" else "simultaneous"
    return await ctx.ring(targets, strategy, timeout_s)
