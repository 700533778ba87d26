"""/v2/accounts/{A}/apps_store: the apps an account may use, installing them for its users, and the blacklist
an account imposes on its descendants."""

from __future__ import annotations

from cloudpbx.accounts import apps
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.paths import Op, Shape

BLACKLIST = "blacklist"
BLACKLIST_REPLY = {"type": "object", "properties": {"blacklist": {"type": "array", "items": {"type": "string"}}}}


class AppsStore(Endpoint):
    noun = "apps_store"
    shapes = (
        Shape(f"{ACCOUNT}/apps_store", {"GET": Op("The apps the account may use", reply={"type": "array"})}),
        Shape(f"{ACCOUNT}/apps_store/{{app_id}}", {
            "GET": Op("One app and its install", reply={"type": "object"}),
            "PUT": Op("Install an app", "apps_store", {"type": "object"}, 201),
            "POST": Op("Change who may use an app", "apps_store", {"type": "object"}),
            "DELETE": Op("Uninstall an app", reply={"type": "object"})}),
        Shape(f"{ACCOUNT}/apps_store/{BLACKLIST}", {
            "GET": Op("Apps the account's descendants may not use", reply=BLACKLIST_REPLY),
            "POST": Op("Set the apps its descendants may not use", {"type": "object"}, BLACKLIST_REPLY)}),
    )

    async def handle(self, ctx: Context) -> Reply:
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
