"""`set_cid`: show callees another `caller_id_name` / `caller_id_number`; an empty one restores the original."""

from cloudpbx.callflow.execution import CONTINUE, Execution, Next, text


async def run(ctx: Execution, data: dict) -> Next:
    ctx.edit_caller_id(name=text(data.get("caller_id_name")), number=text(data.get("caller_id_number")))
    return CONTINUE
