"""/v2/accounts/{A}/configs/{CATEGORY}: an account's overrides of a system config category (KAZOO's cb_configs).

GET answers the merged settings (the account's, its reseller's, the system's `default`, the schema's defaults) with
`id` `configs_{CATEGORY}`; PUT and POST set the account's settings, PATCH changes some of them, DELETE drops them;
each answers the merged result. Only categories with an `account_config.{CATEGORY}` schema may be written.
"""

from __future__ import annotations

from cloudpbx.accounts.account_configs import AccountConfigs, checked_category, doc_id
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import BadPath, Endpoint
from cloudpbx.errors import Invalid


class Configs(Endpoint):
    noun = "configs"

    def allowed(self, ctx: Context) -> set[str]:
        if ctx.nouns[0][0] != "accounts" or len(ctx.nouns) != 2 or len(ctx.args) != 1:
            raise BadPath({"message": "account configs live at /v2/accounts/{account_id}/configs/{category}"})
        return {"GET", "PUT", "POST", "PATCH", "DELETE"}

    async def handle(self, ctx: Context) -> Reply:
        self.needs_account(ctx)
        category = checked_category(ctx.args[0])
        configs = AccountConfigs(ctx.platform.store, ctx.platform.configs)
        if ctx.method == "DELETE":
            await configs.delete(ctx.account, category)
        elif ctx.method != "GET":
            if "data" not in ctx.envelope:
                raise Invalid.field("data", "required", "Field is required but missing")
            await configs.save(ctx.account, category, ctx.data, patch=ctx.method == "PATCH")
        merged = await configs.merged(ctx.account, category)
        return Reply({**merged, "id": doc_id(category)})


ENDPOINT = Configs()
