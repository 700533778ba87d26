"""/v2/api_auth: log in with an account's API key."""

from __future__ import annotations

from cloudpbx.accounts.login import account_usable
from cloudpbx.api.auth_response import auth_reply
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import Endpoint
from cloudpbx.api.endpoints.user_auth import AUTH_REPLY, checked
from cloudpbx.api.paths import Op, Shape
from cloudpbx.errors import Missing


class ApiAuth(Endpoint):
    noun = "api_auth"
    shapes = (Shape("api_auth", {"PUT": Op("Log in with an API key", "api_auth", AUTH_REPLY, 201, public=True)}),)

    async def handle(self, ctx: Context) -> Reply:
        data = checked("api_auth", ctx.data)
        account_id = await ctx.platform.accounts.find_by_api_key(data["api_key"])
        if account_id is None:
            raise Missing(data["api_key"])
        await account_usable(ctx.platform.store, account_id)
        return await auth_reply(ctx, account_id, None, "cb_api_auth", 201)


ENDPOINT = ApiAuth()
