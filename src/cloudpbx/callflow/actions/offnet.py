"""`offnet`: call the number out through the platform's global carriers (KAZOO's cf_offnet: `resources` with
`use_local_resources` false). Data: `to_did`, `outbound_flags`, `caller_id_type` (def external), `bypass_e164`,
`timeout`; on failure the cause/`sip:<code>`/`_` branch."""

from cloudpbx.callflow.dialout import dial_out
from cloudpbx.callflow.execution import Execution, Next


async def run(ctx: Execution, data: dict) -> Next:
    return await dial_out(ctx, data, local=False)
