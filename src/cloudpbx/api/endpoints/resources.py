"""/v2/resources (the platform's global carriers, system administrators only) and /v2/accounts/{A}/resources (an
account's own carriers, for its admins and its ancestors'). Gateway passwords are secrets: user-level logins read
carriers without them (`api/secrets.py`)."""

from __future__ import annotations

from cloudpbx.accounts.resources import RESOURCE
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import DocumentEndpoint, crud
from cloudpbx.errors import Forbidden
from cloudpbx.store import SYSTEM


class Resources(DocumentEndpoint):
    async def handle(self, ctx: Context) -> Reply:
        if ctx.account is None and not (ctx.who.superduper and ctx.who.is_admin):  # the global pool
            raise Forbidden({"message": "system administrators only"})
        return await super().handle(ctx)

    def partition(self, ctx: Context) -> str:
        return ctx.account_id if ctx.account is not None else SYSTEM


ENDPOINT = Resources(RESOURCE, *crud("resources", "resources", parent=""))
