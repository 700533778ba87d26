"""/v2/user_auth: log in with a credentials hash; /recovery resets a forgotten password."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from cloudpbx import schemas
from cloudpbx.accounts import login_guard, recovery
from cloudpbx.accounts.login import account_usable, check_credentials, find_account
from cloudpbx.api.auth_response import auth_reply
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import Endpoint
from cloudpbx.api.paths import Arg, Op, Shape
from cloudpbx.errors import Forbidden, Invalid, Unauthorized
from cloudpbx.store import is_id

AUTH_REPLY = {
    "type": "object",
    "required": ["account_id", "apps"],
    "properties": {
        "account_id": {"type": "string"},
        "owner_id": {"type": "string"},
        "apps": {"type": "array"},
        "priv_level": {"type": "string"},
    },
}
RECOVERY_STARTED = {"type": "string"}


def checked(name: str, data) -> dict:
    if not isinstance(data, dict):
        raise Invalid.field("data", "type", "Value did not match type(s): object")
    filled, errors = schemas.validate(name, data)
    if errors:
        raise Invalid(errors)
    return filled


class UserAuth(Endpoint):
    noun = "user_auth"
    args: ClassVar[Mapping[str, Arg]] = {"token": Arg(r"^[A-Za-z0-9_.-]{1,4096}$", description="an auth token")}
    shapes = (
        Shape("user_auth", {"PUT": Op("Log in with a credentials hash", "user_auth", AUTH_REPLY, 201, public=True)}),
        Shape("user_auth/{token}", {"GET": Op("Read a token of the caller's account", reply={"type": "object"})}),
        Shape(
            "user_auth/recovery",
            {
                "PUT": Op("Start a password recovery", "user_auth_recovery", RECOVERY_STARTED, 201, public=True),
                "POST": Op("Finish a password recovery", "user_auth_reset", AUTH_REPLY, public=True),
            },
        ),
    )

    def user_may(self, ctx: Context) -> bool:
        return ctx.method == "GET"

    async def handle(self, ctx: Context) -> Reply:
        if ctx.args == ["recovery"]:
            return await (self._start_recovery(ctx) if ctx.method == "PUT" else self._finish_recovery(ctx))
        if ctx.method == "GET":
            return await self._token_info(ctx, ctx.args[0])
        return await self._login(ctx)

    async def _login(self, ctx: Context) -> Reply:
        """A disabled account is refused before the password is checked, so its answer tells nothing about it."""
        data = checked("user_auth", ctx.data)
        store = ctx.platform.store
        account_id = await find_account(store, data)
        await login_guard.check(store, account_id, ctx.client)
        await account_usable(store, account_id)
        user = await check_credentials(store, account_id, data["credentials"], data.get("method", "md5"))
        if user is None:
            await login_guard.failed(store, account_id, ctx.client, "user_auth", "invalid credentials")
            raise Unauthorized()
        await login_guard.succeeded(store, account_id, ctx.client)
        return await auth_reply(ctx, account_id, user["_id"], "cb_user_auth", 201)

    async def _token_info(self, ctx: Context, token: str) -> Reply:
        claims = await ctx.tokens.verify(token)
        if claims is None or claims.get("account_id") != ctx.who.account_id:
            raise Forbidden({"message": "the token belongs to another account"})
        return Reply({k: v for k, v in claims.items() if k != "jti"} | {"id": token})

    async def _start_recovery(self, ctx: Context) -> Reply:
        """An unknown username answers as a known one does; every request is charged as an attempt (a known user's
        too, or the throttle would tell them apart), an unknown username is audited as a failure."""
        data = checked("user_auth_recovery", ctx.data)
        store = ctx.platform.store
        account_id = await find_account(store, data)
        await login_guard.check(store, account_id, ctx.client)
        if await recovery.start(store, account_id, data["username"], data["ui_url"]) is None:
            await login_guard.failed(store, account_id, ctx.client, "user_auth_recovery", "unknown username")
        return Reply("Request for password reset handled, email sent to the user if it exists", status=201)

    async def _finish_recovery(self, ctx: Context) -> Reply:
        data = checked("user_auth_reset", ctx.data)
        store = ctx.platform.store
        account_id = data["reset_id"][:32]
        if not is_id(account_id) or await ctx.platform.directory.get(account_id) is None:
            raise recovery.unknown_reset()  # counted nowhere: no rows for accounts that do not exist
        await login_guard.check(store, account_id, ctx.client)
        try:
            account_id, user = await recovery.finish(store, data["reset_id"], data.get("password"))
        except Invalid as refused:
            if refused.data == recovery.unknown_reset().data:
                await login_guard.failed(store, account_id, ctx.client, "user_auth_recovery", "unknown reset_id")
            raise
        await login_guard.succeeded(store, account_id, ctx.client)
        return await auth_reply(ctx, account_id, user["_id"], "cb_user_auth", 200)


ENDPOINT = UserAuth()
