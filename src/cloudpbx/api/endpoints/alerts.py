"""/v2/accounts/{A}/alerts: the portal notices addressed to the account and the caller (Monster UI reads them after
login). System administrators raise (PUT) and remove (DELETE) them; they are platform-wide documents."""

from __future__ import annotations

from cloudpbx.accounts import alerts
from cloudpbx.accounts.alerts import ALERT
from cloudpbx.accounts.documents import public
from cloudpbx.api import listing
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint, doc_reply
from cloudpbx.api.paths import Op, Shape
from cloudpbx.errors import Invalid, Missing
from cloudpbx.store import SYSTEM


class Alerts(Endpoint):
    noun = "alerts"
    shapes = (
        Shape(
            f"{ACCOUNT}/alerts",
            {
                "GET": Op("Alerts addressed to the caller", reply="alerts", listing=True),
                "PUT": Op("Raise an alert (system administrators)", "alerts", "alerts", 201),
            },
        ),
        Shape(
            f"{ACCOUNT}/alerts/{{id}}",
            {
                "GET": Op("Read an alert", reply="alerts"),
                "DELETE": Op("Remove an alert (system administrators)", reply="alerts"),
            },
        ),
    )

    async def handle(self, ctx: Context) -> Reply:
        docs = ctx.platform.documents
        if ctx.method == "PUT":
            ctx.require_superduper()
            if "data" not in ctx.envelope:
                raise Invalid.field("data", "required", "Field is required but missing")
            return doc_reply(await docs.create(ALERT, SYSTEM, ctx.data), 201)
        if not ctx.args:
            return await self._list(ctx)
        if ctx.method == "DELETE":
            ctx.require_superduper()
            reply = doc_reply(await docs.delete(ALERT, SYSTEM, ctx.args[0]))
            reply.data["_read_only"] = {"deleted": True}
            return reply
        alert = await docs.get(ALERT, SYSTEM, ctx.args[0])
        if not self._sees(ctx, alert):
            raise Missing(ctx.args[0])
        return doc_reply(alert)

    def _sees(self, ctx: Context, alert: dict) -> bool:
        """System administrators see every alert from their own account; others what is addressed to them."""
        caller = ctx.who
        if caller.superduper and ctx.account_id == caller.account_id:
            return True
        return alerts.visible(alert, ctx.node, caller.owner_id, caller.is_admin)

    async def _list(self, ctx: Context) -> Reply:
        async def load(start, limit):
            found = [a for a in await ctx.platform.documents.list(ALERT, SYSTEM, start) if self._sees(ctx, a)]
            return found[:limit] if limit else found

        return await listing.respond(ctx, load, public)


ENDPOINT = Alerts()
