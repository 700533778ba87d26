"""/v2/accounts/{A}/apps_store: the apps an account may use, installing them for its users, and the blacklist
an account imposes on its descendants."""

from __future__ import annotations

from cloudpbx.accounts import apps
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import BadPath, Endpoint

BLACKLIST = "blacklist"


class AppsStore(Endpoint):
    noun = "apps_store"

    def allowed(self, ctx: Context) -> set[str]:
        if not ctx.args:
            return {"GET"}
        if ctx.args == [BLACKLIST]:
            return {"GET", "POST"}
        if len(ctx.args) == 1:
            return {"GET", "PUT", "POST", "DELETE"}
        raise BadPath({"message": "not found", "cause": "/".join(ctx.args)})

    async def handle(self, ctx: Context) -> Reply:
        self.needs_account(ctx)
        store, node = ctx.platform.store, ctx.account
        if not ctx.args:
            return Reply(await apps.available(store, node))
        if ctx.args == [BLACKLIST]:
            if ctx.method == "POST":
                return Reply({"blacklist": await apps.set_blacklist(store, node, ctx.data)})
            return Reply({"blacklist": await apps.blacklist(store, node.id)})
        app_id = ctx.args[0]
        if ctx.method == "GET":
            return Reply(await apps.app(store, node, app_id))
        if ctx.method == "PUT":
            return Reply(await apps.install(store, node, app_id, ctx.data), status=201)
        if ctx.method == "POST":
            return Reply(await apps.update(store, node, app_id, ctx.data))
        return Reply(await apps.uninstall(store, node, app_id))


ENDPOINT = AppsStore()
