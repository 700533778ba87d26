"""/v2/accounts/{A}/registrations: who is registered (`/count` for how many); DELETE flushes them all, or one
SIP username's."""

from __future__ import annotations

from cloudpbx.accounts.kinds import sip_key
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import BadPath, Endpoint
from cloudpbx.errors import Missing

COUNT = "count"


class Registrations(Endpoint):
    noun = "registrations"

    def allowed(self, ctx: Context) -> set[str]:
        if not ctx.args:
            return {"GET", "DELETE"}
        if ctx.args == [COUNT]:
            return {"GET"}
        if len(ctx.args) == 1:
            return {"DELETE"}
        raise BadPath({"message": "not found", "cause": "/".join(ctx.args)})

    async def handle(self, ctx: Context) -> Reply:
        self.needs_account(ctx)
        registrations = ctx.platform.registrations
        if ctx.args == [COUNT]:
            return Reply({"count": len(registrations.list(ctx.account_id))})
        if ctx.method == "GET":
            return Reply([r.view() for r in registrations.list(ctx.account_id)])
        if not ctx.args:
            registrations.flush(ctx.account_id)
            return Reply("ok")
        username = ctx.args[0]
        if await ctx.platform.store.lookup(*sip_key(ctx.account_id, username)) is None:
            raise Missing(username)
        registrations.flush(ctx.account_id, username)
        return Reply("ok")


ENDPOINT = Registrations()
