"""/v2/system_configs: platform-wide settings per category (`crossbar`, `limits`, ...), for system administrators."""

from __future__ import annotations

from cloudpbx import schemas
from cloudpbx.accounts.documents import client_fields
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import Endpoint, doc_reply
from cloudpbx.api.paths import Op, Shape
from cloudpbx.errors import Invalid, Missing
from cloudpbx.store import is_name


def checked(data) -> dict:
    filled, errors = schemas.validate("system_configs", client_fields(data))
    if errors:
        raise Invalid(errors)
    return filled


class SystemConfigs(Endpoint):
    noun = "system_configs"
    shapes = (
        Shape(
            "system_configs",
            {"GET": Op("Categories of system settings", reply={"type": "array", "items": {"type": "string"}})},
        ),
        Shape(
            "system_configs/{name}",
            {
                "GET": Op("Read a category", reply="system_configs"),
                "PUT": Op("Create a category", "system_configs", "system_configs", 201),
                "POST": Op("Replace a category", "system_configs", "system_configs"),
                "DELETE": Op("Delete a category", reply="system_configs"),
            },
        ),
    )

    async def handle(self, ctx: Context) -> Reply:
        ctx.require_superduper()
        configs = ctx.platform.configs
        if not ctx.args:
            return Reply(await configs.list())
        category = ctx.args[0]
        if not is_name(category) and ctx.method in ("GET", "DELETE"):  # writes answer why (configs.put)
            raise Missing(category)
        if ctx.method == "GET":
            doc = await configs.get(category)
            if doc is None:
                raise Missing(category)
            return doc_reply(doc)
        if ctx.method == "DELETE":
            reply = doc_reply(await configs.delete(category))
            reply.data["_read_only"] = {"deleted": True}
            return reply
        if "data" not in ctx.envelope:
            raise Invalid.field("data", "required", "Field is required but missing")
        saved = await configs.put(category, checked(ctx.data), exists=ctx.method == "POST")
        return doc_reply(saved, 201 if ctx.method == "PUT" else 200)


ENDPOINT = SystemConfigs()
