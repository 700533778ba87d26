"""The callflow actions this engine runs, one module each: `run(execution, data) -> next child key or STOP`."""

from collections.abc import Awaitable, Callable

from cloudpbx.callflow.actions import callflow, device, prepend_cid, response, ring_group, set_cid, user
from cloudpbx.callflow.execution import Execution, Next

Action = Callable[[Execution, dict], Awaitable[Next]]

ACTIONS: dict[str, Action] = {
    "callflow": callflow.run,
    "device": device.run,
    "prepend_cid": prepend_cid.run,
    "response": response.run,
    "ring_group": ring_group.run,
    "set_cid": set_cid.run,
    "user": user.run,
}
