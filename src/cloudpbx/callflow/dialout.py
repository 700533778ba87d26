"""Placing a call through carriers, for the `offnet` and `resources` actions (KAZOO's cf_offnet, cf_resources):
the number (`to_did`, else the capture of the pattern that routed the call, else as dialled), the pre-dial
decisions (`callflow/predial.py`), then the gateways one after the other; the trunk is released when the call
ends, whichever way it ends.

No route is a failed bridge (`NO_ROUTE_DESTINATION`, 404) that a failure branch may catch; a call the limits
refuse is ended at once with `OUTGOING_CALL_BARRED` (403), the reason in the caller's CDR.
"""

from __future__ import annotations

import logging

from cloudpbx.callflow.call import BridgeResult
from cloudpbx.callflow.endpoints import DEFAULT_TIMEOUT_S, non_negative
from cloudpbx.callflow.execution import CONTINUE, STOP, Execution, Next, text
from cloudpbx.callflow.predial import BARRED, Options

log = logging.getLogger("cloudpbx.callflow")
NO_ROUTE_STATUS = 404


def options(run: Execution, data: dict, local: str | None) -> Options:
    flags = data.get("outbound_flags")
    return Options(
        number=text(data.get("to_did")) or run.route.capture_group or run.call.dialed,
        local=local,
        flags=tuple(flag for flag in flags if isinstance(flag, str)) if isinstance(flags, list) else (),
        caller_id_type=text(data.get("caller_id_type")) or "external",
        bypass_e164=data.get("bypass_e164") is True or data.get("do_not_normalize") is True,
    )


async def dial_out(run: Execution, data: dict, local: str | None) -> Next:
    """Route and call; STOP once answered or refused by the limits, else the failure branch or `_`."""
    call, predial = run.call, run.predial
    dial = await predial.prepare(call, options(run, data, local), run.edits.apply)
    try:
        if dial.cause == BARRED:
            log.info("call %s: carrier call refused by the limits: %s", call.call_id, dial.channel_vars)
            call.note(**dial.channel_vars)
            await call.hangup(BARRED)
            return STOP
        if dial.cause:
            result = BridgeResult(False, dial.cause, NO_ROUTE_STATUS)
            run.last_failure = result
            log.info("call %s: no carrier routes %s", call.call_id, dial.decision.number)
            return run.failure_branch(result) or CONTINUE
        call.note(**dial.channel_vars)
        timeout_s = non_negative(data.get("timeout"), 0) or DEFAULT_TIMEOUT_S
        result = await call.bridge_carriers(dial.decision.endpoints, dial.caller_id, timeout_s, dial.channel_vars)
    finally:
        await predial.release(dial)
    if not result.answered:
        run.last_failure = result
    if result.answered or call.ended:
        return STOP
    return run.failure_branch(result) or CONTINUE
