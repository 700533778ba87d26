"""/v2/accounts/{A}/limits: trunk and call limits (GET, and POST by the account's reseller)."""

from __future__ import annotations

from cloudpbx.accounts import limits
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import BadPath, Endpoint


class Limits(Endpoint):
    noun = "limits"

    def allowed(self, ctx: Context) -> set[str]:
        if ctx.args:
            raise BadPath({"message": "not found", "cause": "/".join(ctx.args)})
        return {"GET", "POST"}

    async def handle(self, ctx: Context) -> Reply:
        self.needs_account(ctx)
        platform = ctx.platform
        if ctx.method == "POST":
            await limits.may_change(platform.store, ctx.account, ctx.caller.account_id, ctx.caller.superduper)
            await limits.save(platform.store, ctx.account_id, ctx.data)
        data, revision = await limits.view(platform.store, platform.configs, ctx.account_id)
        return Reply(data, revision=revision)


ENDPOINT = Limits()
