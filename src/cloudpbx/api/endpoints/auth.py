"""/v2/auth/tokeninfo: what a token says, for a client reloading with a stored token (no other credentials)."""

from __future__ import annotations

from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import Endpoint
from cloudpbx.api.paths import Op, Shape
from cloudpbx.api.endpoints.token_auth import token_info
from cloudpbx.errors import Invalid, Unauthorized


TOKEN = {"type": "object", "properties": {"token": {"type": "string"}}}


class Auth(Endpoint):
    noun = "auth"
    shapes = (Shape("auth/tokeninfo", {
        "GET": Op("What the token in use (or `?token=`) says", reply={"type": "object"}, public=True),
        "POST": Op("What a token says", TOKEN, {"type": "object"}, public=True)}),)

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
