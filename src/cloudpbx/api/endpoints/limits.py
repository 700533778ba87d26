"""/v2/accounts/{A}/limits: trunk and call limits (GET, and POST by the account's reseller)."""

from __future__ import annotations

from cloudpbx.accounts import limits
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.paths import Op, Shape


class Limits(Endpoint):
    noun = "limits"
    shapes = (
        Shape(
            f"{ACCOUNT}/limits",
            {
                "GET": Op("Trunk and call limits", reply="limits"),
                "POST": Op("Replace the limits (the account's reseller)", "limits", "limits"),
            },
        ),
    )

    async def handle(self, ctx: Context) -> Reply:
        platform = ctx.platform
        if ctx.method == "POST":
            await limits.may_change(platform.store, ctx.node, ctx.who.account_id, ctx.who.superduper)
            await limits.save(platform.store, ctx.account_id, ctx.data)
        data, revision = await limits.view(platform.store, platform.configs, ctx.account_id)
        return Reply(data, revision=revision)


ENDPOINT = Limits()
