"""`resources`: call the number out through carriers (KAZOO's cf_resources). `use_local_resources` (def true)
uses the carriers of the account itself (bring your own carrier), or of `hunt_account_id` when that is the account
or one of its ancestors; false uses the global carriers, as `offnet` does. Other data as `offnet`."""

import logging

from cloudpbx.callflow.call import BridgeResult
from cloudpbx.callflow.dialout import NO_ROUTE_STATUS, dial_out
from cloudpbx.callflow.execution import CONTINUE, Execution, Next, text
from cloudpbx.routing.decision import NO_ROUTE

log = logging.getLogger("cloudpbx.callflow")


async def run(ctx: Execution, data: dict) -> Next:
    if data.get("use_local_resources") is False:
        return await dial_out(ctx, data, local=False)
    hunt = text(data.get("hunt_account_id")) or ctx.account_id
    if not await ctx.dialout.may_hunt(ctx.account_id, hunt):
        log.info("call %s: hunt account %s is outside the caller's hierarchy", ctx.call.call_id, hunt)
        ctx.last_failure = BridgeResult(False, NO_ROUTE, NO_ROUTE_STATUS)
        return ctx.failure_branch(ctx.last_failure) or CONTINUE
    return await dial_out(ctx, data, local=True, hunt=hunt)
