"""/v2/accounts/{A}/apps_store: the apps an account may use, installing them for its users, the blacklist an account
imposes on its descendants, and each app's icon and screenshots.

Paths: apps_store, apps_store/blacklist, apps_store/{APP}, apps_store/{APP}/icon, apps_store/{APP}/screenshot/{N}.
"""

from __future__ import annotations

from cloudpbx.accounts import apps
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import BadPath, Endpoint
from cloudpbx.api.endpoints.uploads import download

BLACKLIST = "blacklist"


def _image_index(args: list[str]) -> int | None | bool:
    """None for `{APP}/icon`, N for `{APP}/screenshot/{N}`, False for any other path below an app."""
    if args[1:] == ["icon"]:
        return None
    if len(args) == 3 and args[1] == "screenshot" and args[2].isdigit() and len(args[2]) < 4:
        return int(args[2])
    return False


class AppsStore(Endpoint):
    noun = "apps_store"

    def allowed(self, ctx: Context) -> set[str]:
        if not ctx.args:
            return {"GET"}
        if ctx.args == [BLACKLIST]:
            return {"GET", "POST"}
        if len(ctx.args) == 1:
            return {"GET", "PUT", "POST", "DELETE"}
        if ctx.args[0] != BLACKLIST and _image_index(ctx.args) is not False:
            return {"GET"}
        raise BadPath({"message": "not found", "cause": "/".join(ctx.args)})

    async def handle(self, ctx: Context) -> Reply:
        self.needs_account(ctx)
        store, node, public_url = ctx.platform.store, ctx.account, ctx.platform.settings.public_url
        if not ctx.args:
            return Reply(await apps.available(store, node, public_url))
        if ctx.args == [BLACKLIST]:
            if ctx.method == "POST":
                return Reply({"blacklist": await apps.set_blacklist(store, node, ctx.data)})
            return Reply({"blacklist": await apps.blacklist(store, node.id)})
        app_id = ctx.args[0]
        if len(ctx.args) > 1:
            found = await apps.image(store, node, app_id, _image_index(ctx.args))
            return Reply(None, raw=download(found, ctx.headers.get("range"), found.name))
        if ctx.method == "GET":
            return Reply(await apps.app(store, node, app_id, public_url))
        if ctx.method == "PUT":
            return Reply(await apps.install(store, node, app_id, ctx.data), status=201)
        if ctx.method == "POST":
            return Reply(await apps.update(store, node, app_id, ctx.data))
        return Reply(await apps.uninstall(store, node, app_id))


ENDPOINT = AppsStore()
