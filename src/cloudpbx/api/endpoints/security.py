"""/v2/security (the login methods there are) and /v2/accounts/{A}/security (an account's login settings)."""

from __future__ import annotations

from cloudpbx.accounts import security
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.paths import Op, Shape
from cloudpbx.errors import Invalid

MODULE = {"$ref": "#/components/schemas/auth_module_config"}
SETTINGS = {
    "type": "object",
    "properties": {
        "auth_modules": {
            "type": "object",
            "additionalProperties": False,
            "properties": {name: MODULE for name in security.MODULES},
        }
    },
}
# Replies add `_read_only` (the provider's names) to a method's `multi_factor`, so they are not the body's schema.
SAVED = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": {"type": "string"}, "auth_modules": {"type": "object"}},
}
READ = {
    "type": "object",
    "required": ["account", "inherited_config"],
    "properties": {
        "account": {"type": "object", "description": "the account's own settings"},
        "inherited_config": {"type": "object", "description": "what it inherits from its ancestors and the system"},
    },
}
AVAILABLE = {"type": "object", "properties": {"available_auth_modules": {"type": "array", "items": {"type": "string"}}}}


class SecurityEndpoint(Endpoint):
    noun = "security"
    shapes = (
        Shape("security", {"GET": Op("The login methods there are", reply=AVAILABLE)}),
        Shape(
            f"{ACCOUNT}/security",
            {
                "GET": Op("The account's login settings and what it inherits", reply=READ),
                "POST": Op("Replace the account's login settings", SETTINGS, SAVED),
                "PATCH": Op("Change some of the account's login settings", SETTINGS, SAVED),
                "DELETE": Op("Drop the account's login settings: it inherits them again", reply=SAVED),
            },
        ),
    )

    async def handle(self, ctx: Context) -> Reply:
        if ctx.account is None:
            return Reply(await security.available(ctx.platform.configs))
        service = security.Security(ctx.platform.store, ctx.platform.configs)
        if ctx.method == "GET":
            return Reply(await service.read(ctx.account))
        if ctx.method == "DELETE":
            return Reply(await service.delete(ctx.account))
        if "data" not in ctx.envelope:
            raise Invalid.field("data", "required", "Field is required but missing")
        return Reply(await service.save(ctx.account, ctx.data, patch=ctx.method == "PATCH"))


ENDPOINT = SecurityEndpoint()
