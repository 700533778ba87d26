"""`response`: answer the caller with a SIP status (`code` def 486) and reason (`message`), ending the flow."""

from cloudpbx.callflow.execution import STOP, Execution, Next, text

DEFAULT_CODE = 486


def _code(value) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 699 else DEFAULT_CODE


async def run(ctx: Execution, data: dict) -> Next:
    await ctx.call.respond(_code(data.get("code")), text(data.get("message")))
    return STOP
