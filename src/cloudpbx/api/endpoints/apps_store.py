"""/v2/accounts/{A}/apps_store: the apps an account may use, installing them for its users, the blacklist an account
imposes on its descendants, and each app's icon and screenshots."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from cloudpbx.accounts import apps
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.endpoints.uploads import download
from cloudpbx.api.paths import Arg, Op, Shape

BLACKLIST = "blacklist"
STRINGS = {"type": "array", "items": {"type": "string"}}
BLACKLIST_BODY = {"type": "object", "properties": {"blacklist": STRINGS}}
ALLOWED_USERS = {"type": "string", "enum": ["all", "admins", "specific"]}
USERS = {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}}}}
INSTALL = {"type": "object", "properties": {"name": {"type": "string"}, "allowed_users": ALLOWED_USERS, "users": USERS}}
APP = {
    "type": "object",
    "required": ["id", "name", "label"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "label": {"type": "string"},
        "tags": STRINGS,
        "i18n": {"type": "object"},
        "source_url": {"type": "string"},
        "api_url": {"type": "string"},
        "icon": {"type": "string"},
        "screenshots": STRINGS,
        "allowed_users": ALLOWED_USERS,
        "users": USERS,
    },
}
IMAGE_TYPES = ("image/*", "application/octet-stream")  # what init_apps stored, typed by the file's extension
SCREENSHOTS = tuple(str(n) for n in range(apps.MAX_SCREENSHOTS))


class AppsStore(Endpoint):
    noun = "apps_store"
    args: ClassVar[Mapping[str, Arg]] = {
        "screenshot": Arg(choices=SCREENSHOTS, description="a screenshot's position in the app's list, from 0")
    }
    shapes = (
        Shape(f"{ACCOUNT}/apps_store", {"GET": Op("The apps the account may use", reply=APP, listing=True)}),
        Shape(
            f"{ACCOUNT}/apps_store/{{app_id}}",
            {
                "GET": Op("One app and its install", reply=APP),
                "PUT": Op("Install an app", "apps_store", INSTALL, 201),
                "POST": Op("Change who may use an app", "apps_store", INSTALL),
                "DELETE": Op("Uninstall an app", reply={"type": "object"}),
            },
        ),
        Shape(f"{ACCOUNT}/apps_store/{{app_id}}/icon", {"GET": Op("The app's icon", files=IMAGE_TYPES)}),
        Shape(
            f"{ACCOUNT}/apps_store/{{app_id}}/screenshot/{{screenshot}}",
            {"GET": Op("One of the app's screenshots", files=IMAGE_TYPES)},
        ),
        Shape(
            f"{ACCOUNT}/apps_store/{BLACKLIST}",
            {
                "GET": Op("Apps the account's descendants may not use", reply=BLACKLIST_BODY),
                "POST": Op("Set the apps its descendants may not use", BLACKLIST_BODY, BLACKLIST_BODY),
            },
        ),
    )

    async def handle(self, ctx: Context) -> Reply:
        store, node, public_url = ctx.platform.store, ctx.node, ctx.platform.settings.public_url
        if not ctx.args:
            return Reply(await apps.available(store, node, public_url))
        if ctx.args == [BLACKLIST]:
            if ctx.method == "POST":
                return Reply({"blacklist": await apps.set_blacklist(store, node, ctx.data)})
            return Reply({"blacklist": await apps.blacklist(store, node.id)})
        app_id = ctx.args[0]
        if len(ctx.args) > 1:  # {APP}/icon or {APP}/screenshot/{N}
            index = int(ctx.args[2]) if len(ctx.args) == 3 else None
            found = await apps.image(store, node, app_id, index)
            return Reply(None, raw=download(found, ctx.headers.get("range"), found.name))
        if ctx.method == "GET":
            return Reply(await apps.app(store, node, app_id, public_url))
        if ctx.method == "PUT":
            return Reply(await apps.install(store, node, app_id, ctx.data), status=201)
        if ctx.method == "POST":
            return Reply(await apps.update(store, node, app_id, ctx.data))
        return Reply(await apps.uninstall(store, node, app_id))


ENDPOINT = AppsStore()
