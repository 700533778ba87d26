"""/v2/accounts/{A}/users: people, their login and their preferences."""

from __future__ import annotations

from cloudpbx.accounts.kinds import USER
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import DocumentEndpoint, doc_reply
from cloudpbx.api.endpoints.inherited import with_inherited
from cloudpbx.errors import Forbidden

# What a user-level login may not change on its own user document: its rights, what it may dial and as whom, which
# apps it sees, and what the admin vouches for. Everything else of its profile (names, email, password and
# require_password_update, language, timezone, call forwarding, do-not-disturb...) is its own. `pvt_*` fields are
# nobody's to write.
ADMIN_ONLY = (
    "priv_level",
    "enabled",
    "verified",
    "apps",
    "call_restriction",
    "caller_id",
    "caller_id_options",
    "dial_plan",
    "feature_level",
    "hotdesk",
    "presence_id",
)


class Users(DocumentEndpoint):
    def user_may(self, ctx: Context) -> bool:
        own_account = ctx.account is not None and ctx.node.id == ctx.who.account_id
        if ctx.method == "GET":
            return own_account
        return own_account and ctx.args == [ctx.who.owner_id] and ctx.method in ("POST", "PATCH")

    async def handle(self, ctx: Context) -> Reply:
        if not (ctx.who.is_admin or ctx.who.superduper):
            await self._rights_unchanged(ctx)
        return await super().handle(ctx)

    async def _rights_unchanged(self, ctx: Context) -> None:
        """Monster UI posts the whole user back, rights included: resending them is fine, changing them is not, and
        a POST that leaves one out keeps the stored value rather than dropping it."""
        if ctx.method not in ("POST", "PATCH") or not isinstance(ctx.data, dict):
            return
        current = await ctx.platform.documents.get(self.kind, ctx.account_id, ctx.args[0])
        changed = sorted(key for key in ADMIN_ONLY if key in ctx.data and ctx.data[key] != current.get(key))
        if changed:
            raise Forbidden(
                {"message": f"only an account administrator can change {', '.join(changed)}", "cause": changed[0]}
            )
        if ctx.method == "POST":
            ctx.data.update({key: current[key] for key in ADMIN_ONLY if key not in ctx.data and key in current})

    async def show(self, ctx: Context, doc_id: str) -> Reply:
        if not ctx.flag("include_inherited"):
            return await super().show(ctx, doc_id)
        doc = await ctx.platform.documents.get(self.kind, ctx.account_id, doc_id)
        return await with_inherited(ctx, doc_reply(doc), [doc])


ENDPOINT = Users(USER)
