"""`callflow`: run another callflow of the account (`id`), then go on with this flow's `_` child."""

from cloudpbx.callflow.execution import CONTINUE, Execution, Next, log, text


async def run(ctx: Execution, data: dict) -> Next:
    target_id = text(data.get("id"))
    doc = await ctx.callflows.get(ctx.account_id, target_id) if target_id else None
    if doc is None or not isinstance(doc.get("flow"), dict):
        log.info("call %s: no callflow %s to branch to", ctx.call.call_id, target_id)
        return CONTINUE
    await ctx.branch(doc["flow"])
    return CONTINUE
