"""The body a successful login returns: token plus what Monster UI reads (apps, language, reseller)."""

from __future__ import annotations

from cloudpbx.accounts import apps
from cloudpbx.accounts.inheritance import resolve
from cloudpbx.accounts.kinds import USER
from cloudpbx.api.context import Context, Reply
from cloudpbx.errors import Missing


async def auth_reply(ctx: Context, account_id: str, owner_id: str | None, method: str, status: int) -> Reply:
    platform = ctx.platform
    token = await ctx.tokens.issue(account_id, owner_id, method)
    account = await platform.accounts.get(account_id)
    user = await platform.documents.find(USER, account_id, owner_id) if owner_id else None
    node = await platform.directory.fresh(account_id)
    if node is None:
        raise Missing(account_id)
    reseller_id = await platform.directory.reseller_id(node)
    chain = await platform.accounts.chain(account_id)
    priv = user.get("priv_level", "user") if user else "admin"
    data = {
        "account_id": account_id,
        "account_name": account.get("name"),
        "owner_id": owner_id,
        "apps": await apps.for_user(platform.store, node, user, platform.settings.public_url),
        "language": await resolve(platform.configs, "language", [user] if user else [], chain, "en-US"),
        "is_reseller": node.reseller,
        "reseller_id": reseller_id,
        "is_master_account": not node.tree,
        "priv_level": priv,
        "method": method,
        "capabilities": {},
    }
    if owner_id is None:
        data.pop("owner_id")
    reply = Reply(data, status=status)
    reply.extra["auth_token"] = token
    return reply
