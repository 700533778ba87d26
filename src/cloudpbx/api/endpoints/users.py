"""/v2/accounts/{A}/users: people, their login and their preferences."""

from __future__ import annotations

from cloudpbx.accounts.kinds import USER
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import DocumentEndpoint, doc_reply
from cloudpbx.api.endpoints.inherited import with_inherited

SELF_LOCKED = ("priv_level", "enabled")  # a user may edit their own profile, not their rights


class Users(DocumentEndpoint):
    def user_may(self, ctx: Context) -> bool:
        own_account = ctx.account is not None and ctx.account.id == ctx.caller.account_id
        if ctx.method == "GET":
            return own_account
        is_self = own_account and ctx.args == [ctx.caller.owner_id] and ctx.method in ("POST", "PATCH")
        return is_self and isinstance(ctx.data, dict) and not any(k in ctx.data for k in SELF_LOCKED)

    async def show(self, ctx: Context, doc: dict) -> Reply:
        return await with_inherited(ctx, doc_reply(doc), [doc])


ENDPOINT = Users(USER)
