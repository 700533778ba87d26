"""`prepend_cid`: put prefixes before the caller ID name and number.

`apply_to` current (def) adds the new prefixes in front of earlier ones, original replaces them (the prefixes
then stand before the original caller ID alone); `action` reset removes all prefixes.
"""

from cloudpbx.callflow.execution import CONTINUE, Execution, Next, text


async def run(ctx: Execution, data: dict) -> Next:
    if data.get("action") == "reset":
        ctx.edit_caller_id(name_prefix="", number_prefix="")
        return CONTINUE
    name, number = text(data.get("caller_id_name_prefix")), text(data.get("caller_id_number_prefix"))
    if data.get("apply_to") != "original":
        name, number = name + ctx.edits.name_prefix, number + ctx.edits.number_prefix
    ctx.edit_caller_id(name_prefix=name, number_prefix=number)
    return CONTINUE
