"""/v2/api_auth: log in with an account's API key."""

from __future__ import annotations

from cloudpbx.accounts import login_guard
from cloudpbx.accounts.login import account_usable
from cloudpbx.api.auth_response import auth_reply
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import Endpoint
from cloudpbx.api.endpoints.user_auth import AUTH_REPLY, checked
from cloudpbx.api.paths import Op, Shape
from cloudpbx.errors import Invalid, Missing

API_KEYS = "api_auth"  # a wrong key names no account: its failures are counted per address under this name


class ApiAuth(Endpoint):
    noun = "api_auth"
    shapes = (Shape("api_auth", {"PUT": Op("Log in with an API key", "api_auth", AUTH_REPLY, 201, public=True)}),)

    async def handle(self, ctx: Context) -> Reply:
        """A disabled account's key answers as an unknown key does, so a key is never confirmed while it is useless."""
        data = checked("api_auth", ctx.data)
        store = ctx.platform.store
        await login_guard.check(store, API_KEYS, ctx.client)
        account_id = await ctx.platform.accounts.find_by_api_key(data["api_key"])
        try:
            if account_id is None:
                raise Missing(data["api_key"])
            await account_usable(store, account_id)
        except (Missing, Invalid):
            await login_guard.failed(store, API_KEYS, ctx.client, "api_auth", "invalid api key")
            raise Missing(data["api_key"]) from None
        await login_guard.succeeded(store, API_KEYS, ctx.client)
        return await auth_reply(ctx, account_id, None, "cb_api_auth", 201)


ENDPOINT = ApiAuth()
