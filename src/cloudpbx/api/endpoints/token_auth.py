"""/v2/token_auth: check the token in use (GET) or invalidate it (DELETE)."""

from __future__ import annotations

from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import Endpoint
from cloudpbx.api.paths import Op, Shape
from cloudpbx.errors import Invalid


def token_info(claims: dict, token: str) -> dict:
    return {k: v for k, v in claims.items() if k != "jti"} | {"id": token}


class TokenAuth(Endpoint):
    noun = "token_auth"
    shapes = (
        Shape(
            "token_auth",
            {
                "GET": Op("Read the token in use", reply={"type": "object"}),
                "DELETE": Op("Revoke it", reply={"type": "object"}),
            },
        ),
    )

    def user_may(self, ctx: Context) -> bool:
        return True

    async def handle(self, ctx: Context) -> Reply:
        caller = ctx.who
        if not caller.token:
            raise Invalid.field("auth_token", "required", "This request must carry a token")
        if ctx.method == "DELETE":
            await ctx.tokens.revoke(caller.claims)
            return Reply({"message": "token invalidated"})
        return Reply(token_info(caller.claims, caller.token))


ENDPOINT = TokenAuth()
