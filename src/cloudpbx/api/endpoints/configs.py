"""/v2/accounts/{A}/configs/{CATEGORY}: an account's overrides of a system config category (KAZOO's cb_configs).

GET answers the merged settings (the account's, its reseller's, the system's `default`, the schema's defaults) with
`id` `configs_{CATEGORY}`; PUT and POST set the account's settings, PATCH changes some of them, DELETE drops them;
each answers the merged result. Only categories with an `account_config.{CATEGORY}` schema may be written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from cloudpbx.accounts.account_configs import CATEGORY, AccountConfigs, checked_category, doc_id
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.paths import Arg, Op, Shape
from cloudpbx.errors import Invalid

SETTINGS = {"type": "object", "description": "what the category's `account_config.{category}` schema allows"}
MERGED = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": {"type": "string"}},
    "description": "the category's settings as the account sees them",
}


class Configs(Endpoint):
    noun = "configs"
    args: ClassVar[Mapping[str, Arg]] = {
        "category": Arg(CATEGORY, description="a system config category, e.g. kazoo_endpoint")
    }
    shapes = (
        Shape(
            f"{ACCOUNT}/configs/{{category}}",
            {
                "GET": Op("The category's settings as the account sees them", reply=MERGED),
                "PUT": Op("Set the account's settings of the category", SETTINGS, MERGED, 201),
                "POST": Op("Replace the account's settings of the category", SETTINGS, MERGED),
                "PATCH": Op("Change some of the account's settings of the category", SETTINGS, MERGED),
                "DELETE": Op("Drop the account's settings: it inherits the category again", reply=MERGED),
            },
        ),
    )

    async def handle(self, ctx: Context) -> Reply:
        category = checked_category(ctx.args[0])
        configs = AccountConfigs(ctx.platform.store, ctx.platform.configs)
        if ctx.method == "DELETE":
            await configs.delete(ctx.node, category)
        elif ctx.method != "GET":
            if "data" not in ctx.envelope:
                raise Invalid.field("data", "required", "Field is required but missing")
            await configs.save(ctx.node, category, ctx.data, patch=ctx.method == "PATCH")
        merged = await configs.merged(ctx.node, category)
        return Reply({**merged, "id": doc_id(category)}, status=201 if ctx.method == "PUT" else 200)


ENDPOINT = Configs()
