"""/v2/security (the login methods there are) and /v2/accounts/{A}/security (an account's login settings).

Paths: `security` GET; `accounts/{A}/security` GET, POST, PATCH, DELETE.
"""

from __future__ import annotations

from cloudpbx.accounts import security
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import BadPath, Endpoint
from cloudpbx.errors import Invalid


class SecurityEndpoint(Endpoint):
    noun = "security"

    def allowed(self, ctx: Context) -> set[str]:
        if ctx.args:
            raise BadPath({"message": "not found", "cause": "/".join(ctx.args)})
        if ctx.nouns == [("security", [])]:
            return {"GET"}
        if ctx.nouns[0][0] != "accounts" or len(ctx.nouns) != 2:
            raise BadPath({"message": "security lives at /v2/accounts/{account_id}/security"})
        return {"GET", "POST", "PATCH", "DELETE"}

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
