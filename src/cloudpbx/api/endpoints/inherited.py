"""`?include_inherited=true`: show what a user or device resolves to through the account tree."""

from __future__ import annotations

from cloudpbx.accounts.inheritance import SETTINGS, resolve
from cloudpbx.api.context import Context, Reply


async def with_inherited(ctx: Context, reply: Reply, endpoints: list[dict]) -> Reply:
    if not ctx.flag("include_inherited"):
        return reply
    accounts = await ctx.platform.accounts.chain(ctx.account_id)
    resolved = {name: await resolve(ctx.platform.configs, name, endpoints, accounts) for name in SETTINGS}
    reply.data.setdefault("_read_only", {})["inherited"] = resolved
    return reply
