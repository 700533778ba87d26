"""/v2/auth/tokeninfo: what a token says, for a client reloading with a stored token (no other credentials).

/v2/accounts/{A}/auth/attempts[/{id}]: the account's audit of failed logins (user_auth, Basic auth, recovery; a wrong
API key names no account), newest first, for the account's admins.
"""

from __future__ import annotations

from cloudpbx.accounts import login_guard
from cloudpbx.api import listing
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.endpoints.token_auth import token_info
from cloudpbx.api.paths import Op, Shape
from cloudpbx.errors import Invalid, Missing, Unauthorized

TOKEN = {"type": "object", "properties": {"token": {"type": "string"}}}
ATTEMPT = {
    "type": "object",
    "required": ["id", "auth_type", "client_ip", "status", "message", "timestamp"],
    "properties": {
        "id": {"type": "string"},
        "auth_type": {"type": "string", "description": "user_auth, basic_auth or user_auth_recovery"},
        "client_ip": {"type": "string"},
        "status": {"type": "string", "enum": ["failed"]},
        "message": {"type": "string"},
        "timestamp": {"type": "integer", "description": "Gregorian seconds"},
    },
}


class Auth(Endpoint):
    noun = "auth"
    shapes = (
        Shape(
            "auth/tokeninfo",
            {
                "GET": Op("What the token in use (or `?token=`) says", reply={"type": "object"}, public=True),
                "POST": Op("What a token says", TOKEN, {"type": "object"}, public=True),
            },
        ),
        Shape(f"{ACCOUNT}/auth/attempts", {"GET": Op("Failed logins, newest first", reply=ATTEMPT, listing=True)}),
        Shape(f"{ACCOUNT}/auth/attempts/{{id}}", {"GET": Op("One failed login", reply=ATTEMPT)}),
    )

    def user_may(self, ctx: Context) -> bool:
        return ctx.parent("accounts") is None

    async def handle(self, ctx: Context) -> Reply:
        if ctx.parent("accounts") is not None:
            return await self._attempts(ctx)
        token = ctx.value("token") or (ctx.caller.token if ctx.caller else None)
        if not isinstance(token, str) or not token:
            raise Invalid.field("token", "required", "Field is required but missing")
        claims = await ctx.tokens.verify(token)
        if claims is None:
            raise Unauthorized()
        return Reply(token_info(claims, token))

    async def _attempts(self, ctx: Context) -> Reply:
        store = ctx.platform.store
        if len(ctx.args) == 2:
            found = await login_guard.attempt(store, ctx.account_id, ctx.args[1])
            if found is None:
                raise Missing(ctx.args[1])
            return Reply(found)

        async def load(start, limit):
            return await login_guard.attempts(store, ctx.account_id, start, limit)

        return await listing.respond(ctx, load, lambda row: {k: v for k, v in row.items() if k != "_id"})


ENDPOINT = Auth()
