"""/v2/accounts/{A}/service_plans: a reseller's plans (list, create, read, replace, change, delete in its own
account), the plans its sub-accounts may hold (`available`), an account's merged plan (`current`); on an account
that does not own the plan, `POST /{id}` assigns it (with `overrides`) and `DELETE /{id}` removes it, which only an
account above it (or a system admin) may do."""

from __future__ import annotations

from cloudpbx.accounts.documents import row
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, DocumentEndpoint, Endpoint, doc_reply
from cloudpbx.api.paths import Op, Shape
from cloudpbx.billing.plans import SERVICE_PLAN
from cloudpbx.errors import Forbidden, Missing

PLANS = f"{ACCOUNT}/service_plans"
MERGED = {"type": "object", "description": "category -> item -> pricing, the assigned plans merged"}
ASSIGNED = {"type": "object", "description": "the account's services: assigned plans and overrides"}


class ServicePlans(Endpoint):
    """Not a plain document noun: who may write depends on who sells the plan, so writes to own plans are handed
    to a document endpoint only after that check."""

    noun = "service_plans"

    def __init__(self):
        self.documents = DocumentEndpoint(SERVICE_PLAN)
        plan = "service_plans"
        either = {"anyOf": [{"$ref": "#/components/schemas/service_plans"}, ASSIGNED]}
        self.shapes = (
            Shape(
                PLANS,
                {
                    "GET": Op("The reseller's own plans", reply=plan, listing=True),
                    "PUT": Op("Create a plan (resellers)", body=plan, reply=plan, status=201),
                },
            ),
            Shape(
                f"{PLANS}/{{id}}",
                {
                    "GET": Op("One of the account's plans, or of the plans it may be given", reply=plan),
                    "POST": Op("Replace an own plan, or assign a plan (with `overrides`) to the account", plan, either),
                    "PATCH": Op("Change fields of an own plan", body={"type": "object"}, reply=plan),
                    "DELETE": Op("Delete an own plan, or remove a plan from the account", reply=either),
                },
            ),
            Shape(f"{PLANS}/available", {"GET": Op("Plans the account may be given", reply=plan, listing=True)}),
            Shape(f"{PLANS}/available/{{id}}", {"GET": Op("One plan the account may be given", reply=plan)}),
            Shape(f"{PLANS}/current", {"GET": Op("The account's plans merged, with overrides", reply=MERGED)}),
        )

    async def handle(self, ctx: Context) -> Reply:
        plans, args = ctx.platform.service_plans, ctx.args
        if args and args[0] == "current":
            return Reply((await plans.invoice(ctx.node)).plan)
        if args and args[0] == "available":
            return await self._available(ctx, args[1] if len(args) == 2 else None)
        if ctx.method in ("PUT", "POST", "PATCH", "DELETE") and not args:
            await self._may_sell(ctx)
        if args and not await self._owns(ctx, args[0]):
            return await self._held(ctx, args[0])
        if args and ctx.method != "GET":
            await self._may_sell(ctx)
        return await self.documents.handle(ctx)

    async def _owns(self, ctx: Context, plan_id: str) -> bool:
        return await ctx.platform.documents.find(SERVICE_PLAN, ctx.account_id, plan_id) is not None

    async def _may_sell(self, ctx: Context) -> None:
        """Plans are sold by resellers (and the master account), edited by their admins or a system admin."""
        ctx.require_admin()
        node = ctx.node
        if not (node.reseller or not node.tree or ctx.who.superduper):
            raise Forbidden({"message": "only resellers keep service plans"})

    async def _available(self, ctx: Context, plan_id: str | None) -> Reply:
        found = await ctx.platform.service_plans.available(ctx.node)
        if plan_id is None:
            return Reply([row(SERVICE_PLAN, doc) for doc in found])
        for doc in found:
            if doc["_id"] == plan_id:
                return doc_reply(doc)
        raise Missing(plan_id)

    async def _held(self, ctx: Context, plan_id: str) -> Reply:
        """A plan of the account's vendor: read it, or assign it to or remove it from the account."""
        plans = ctx.platform.service_plans
        if ctx.method == "GET":
            return await self._available(ctx, plan_id)
        if ctx.method == "PATCH":
            raise Missing(plan_id)
        await may_price(ctx)
        who = ctx.who.owner_id or ctx.who.account_id
        if ctx.method == "DELETE":
            return Reply(_view(await plans.remove(ctx.node, plan_id, who)))
        data = ctx.data if isinstance(ctx.data, dict) else {}
        return Reply(_view(await plans.assign(ctx.node, plan_id, data.get("overrides"), who)))


async def may_price(ctx: Context) -> None:
    """An account's plans and prices are set by its vendor (the reseller whose plans it holds), an account above
    that, or a system admin; never by the account itself or a customer between it and its reseller."""
    ctx.require_admin()
    if ctx.who.superduper:
        return
    tree, caller = ctx.node.tree, ctx.who.account_id
    vendor = await ctx.platform.service_plans.vendor_id(ctx.node)
    if caller not in tree or vendor not in tree or tree.index(caller) > tree.index(vendor):
        raise Forbidden({"message": "an account's plans are given by its reseller"})


def _view(services: dict) -> dict:
    return {"plans": services.get("plans", {}), "overrides": services.get("overrides", {})}


ENDPOINT = ServicePlans()
