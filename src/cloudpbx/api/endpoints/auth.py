"""/v2/auth/tokeninfo: what a token says, for a client reloading with a stored token (no other credentials)."""

from __future__ import annotations

from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import BadPath, Endpoint
from cloudpbx.api.endpoints.token_auth import token_info
from cloudpbx.errors import Invalid, Unauthorized


class Auth(Endpoint):
    noun = "auth"

    def is_public(self, ctx: Context) -> bool:
        return True

    def allowed(self, ctx: Context) -> set[str]:
        if ctx.args == ["tokeninfo"]:
            return {"POST", "GET"}
        raise BadPath({"message": "not found"})

    def user_may(self, ctx: Context) -> bool:
        return True

    async def handle(self, ctx: Context) -> Reply:
        token = ctx.value("token") or (ctx.caller.token if ctx.caller else None)
        if not isinstance(token, str) or not token:
            raise Invalid.field("token", "required", "Field is required but missing")
        claims = await ctx.tokens.verify(token)
        if claims is None:
            raise Unauthorized()
        return Reply(token_info(claims, token))


ENDPOINT = Auth()
