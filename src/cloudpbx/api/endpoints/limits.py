"""/v2/accounts/{A}/limits: trunk and call limits (GET, and POST by the account's provider); `/limits/usage`: the
carrier calls counted against them now, by kind."""

from __future__ import annotations

from cloudpbx.accounts import limits
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.paths import Op, Shape
from cloudpbx.billing import quantities
from cloudpbx.limits.trunks import USAGE_KINDS

COUNT = {"type": "integer", "minimum": 0}
USAGE = {
    "type": "object",
    "description": "Carrier calls in progress counted against the account's limits: trunks taken by kind, calls "
    "that took none by their billing, and `calls` in all (a reseller's include its sub-accounts' calls)",
    "properties": {kind: COUNT for kind in (*USAGE_KINDS, "calls")},
    "required": [*USAGE_KINDS, "calls"],
}


class Limits(Endpoint):
    noun = "limits"
    shapes = (
        Shape(
            f"{ACCOUNT}/limits",
            {
                "GET": Op("Trunk and call limits", reply="limits"),
                "POST": Op("Replace the limits (the account's reseller or a system admin)", "limits", "limits"),
            },
        ),
        Shape(f"{ACCOUNT}/limits/usage", {"GET": Op("Trunks and calls in use now, across every node", reply=USAGE)}),
    )

    async def additions(self, ctx: Context) -> dict[tuple[str, str], int] | None:
        """More trunks are billable quantity (`limits.twoway_trunks` ...)."""
        if ctx.shape is not self.shapes[0] or not isinstance(ctx.data, dict):
            return None
        return quantities.trunk_change(await limits.stored(ctx.platform.store, ctx.account_id), ctx.data)

    async def handle(self, ctx: Context) -> Reply:
        platform = ctx.platform
        if ctx.shape is self.shapes[1]:
            return Reply(await platform.trunks.usage(ctx.account_id))
        if ctx.method == "POST":
            await limits.may_change(platform.store, ctx.node, ctx.who.account_id, ctx.who.superduper)
            await limits.save(platform.store, ctx.account_id, ctx.data)
        data, revision = await limits.view(platform.store, platform.configs, ctx.account_id)
        return Reply(data, revision=revision)


ENDPOINT = Limits()
