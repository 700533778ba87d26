"""/v2/accounts/{A}/services: the account's plans, quantities, billing mode and invoice items (`GET`), its billing
mode and overrides (`POST`); `/summary` the invoice (items, recurring total, activation charges; the Control
Center's "Service Plan" page, CSV with `Accept: text/csv`); `/audit` the changes of quantities and plans;
`/quote` prices plans the account may be given against what it holds now."""

from __future__ import annotations

from typing import Any

from cloudpbx.api import listing
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.endpoints.service_plans import may_price
from cloudpbx.api.paths import Op, Shape
from cloudpbx.billing import plans
from cloudpbx.billing.invoice import Assigned
from cloudpbx.billing.items import Line
from cloudpbx.billing.ledgers import dollars
from cloudpbx.billing.services import Invoice
from cloudpbx.errors import Invalid, Missing

SERVICES = f"{ACCOUNT}/services"
OBJECT = {"type": "object"}
SETTINGS = {
    "type": "object",
    "properties": {
        "billing_mode": {"type": "string", "enum": list(plans.BILLING_MODES)},
        "overrides": {"type": "object"},
        "add": {"type": "array", "description": "plan ids, or {id, overrides}, to give the account"},
        "delete": {"type": "array", "items": {"type": "string"}, "description": "plan ids to take away"},
    },
}
QUOTE = {
    "type": "object",
    "required": ["plans"],
    "properties": {"plans": {"type": "array", "items": {"type": "string"}}},
}
MAXIMUM_RANGE = 2682000


class Services(Endpoint):
    noun = "services"
    overview = Shape(
        SERVICES,
        {
            "GET": Op("Plans, quantities, billing mode and items", reply=OBJECT),
            "POST": Op("Billing mode (the account); overrides, add and delete plans (its reseller)", SETTINGS, OBJECT),
        },
    )
    summary = Shape(f"{SERVICES}/summary", {"GET": Op("The invoice: items, recurring total (CSV too)", reply=OBJECT)})
    audit = Shape(
        f"{SERVICES}/audit", {"GET": Op("Changes of quantities and plans (created range)", reply=OBJECT, listing=True)}
    )
    quote = Shape(f"{SERVICES}/quote", {"POST": Op("Price plans against what the account holds", QUOTE, OBJECT)})
    shapes = (overview, summary, audit, quote)

    def user_may(self, ctx: Context) -> bool:
        return ctx.method == "GET" and ctx.node.id == ctx.who.account_id

    async def handle(self, ctx: Context) -> Reply:
        service = ctx.platform.service_plans
        if ctx.shape is self.audit:
            return await _audit(ctx)
        if ctx.shape is self.quote:
            return Reply(_invoice_view(await service.invoice(ctx.node, await _quoted(ctx))))
        if ctx.shape is self.overview and ctx.method == "POST":
            await _configure(ctx)
        found = await service.invoice(ctx.node)
        if ctx.shape is self.summary:
            return Reply([_item(line) for line in found.lines] if ctx.wants_csv else _invoice_view(found))
        return Reply(_overview(found))


async def _configure(ctx: Context) -> None:
    """The account's admins choose how its bill is paid; only an account above it changes its prices."""
    ctx.require_admin()
    data = ctx.data if isinstance(ctx.data, dict) else None
    if data is None:
        raise Invalid.field("data", "type", "Value did not match type(s): object")
    who = ctx.who.owner_id or ctx.who.account_id
    if "overrides" in data or "add" in data or "delete" in data:
        await may_price(ctx)
    if "add" in data or "delete" in data:
        add, delete = _plan_changes(data)
        await ctx.platform.service_plans.change_plans(ctx.node, add, delete, who)
    if "billing_mode" in data or "overrides" in data:
        await ctx.platform.service_plans.configure(ctx.node, data, who)


def _plan_changes(data: dict) -> tuple[dict[str, Any], list[str]]:
    """KAZOO's `add` (plan ids, or `{"id", "overrides"}`) and `delete` (plan ids)."""
    add, delete = data.get("add", []), data.get("delete", [])
    if not isinstance(add, list) or not isinstance(delete, list) or not all(isinstance(d, str) for d in delete):
        raise Invalid.field("add", "type", "add and delete are arrays of plan ids")
    wanted: dict[str, Any] = {}
    for entry in add:
        if isinstance(entry, str):
            wanted[entry] = None
        elif isinstance(entry, dict) and isinstance(entry.get("id"), str):
            wanted[entry["id"]] = entry.get("overrides")
        else:
            raise Invalid.field("add", "type", "each addition is a plan id or {id, overrides}")
    return wanted, delete


async def _quoted(ctx: Context) -> list[Assigned]:
    data = ctx.data if isinstance(ctx.data, dict) else {}
    wanted = data.get("plans")
    if not isinstance(wanted, list) or not all(isinstance(p, str) for p in wanted):
        raise Invalid.field("plans", "type", "Value did not match type(s): array of plan ids")
    available = {doc["_id"]: doc for doc in await ctx.platform.service_plans.available(ctx.node)}
    for plan_id in wanted:
        if plan_id not in available:
            raise Missing(plan_id)
    return [Assigned(available[plan_id], {}) for plan_id in wanted]


async def _audit(ctx: Context) -> Reply:
    span = listing.time_range(ctx, MAXIMUM_RANGE)
    size = None if ctx.wants_csv else listing.page_size(ctx)
    found = await ctx.platform.service_plans.audit(ctx.node, span, size)
    return Reply([_audit_view(entry) for entry in found], paging={"page_size": len(found)})


def _audit_view(entry) -> dict[str, Any]:
    body = entry.body
    return {
        "id": entry.id,
        "created": entry.created,
        "reason": entry.reason,
        "who": entry.who,
        "changes": body.get("changes", {}),
        "recurring_before": dollars(body.get("recurring_before", 0)),
        "recurring_after": dollars(body.get("recurring_after", 0)),
        "prorated_monthly": dollars(body.get("prorated_units", 0)),
        "refunded_monthly": dollars(body.get("refunded_units", 0)),
        "activation_charges": dollars(body.get("activation_units", 0)),
    }


def _item(line: Line) -> dict[str, Any]:
    """One invoice item, as KAZOO's summary lists them (dollars)."""
    return {
        "category": line.category,
        "item": line.item,
        "name": line.name,
        "quantity": line.quantity,
        "billable": line.billable,
        "rate": dollars(line.rate),
        "flat": line.flat,
        "discounts": dollars(line.single_discount + line.cumulative_discount),
        "total": dollars(line.total),
        "activation_charge": dollars(line.activation_charge),
    }


def _invoice_view(found: Invoice) -> dict[str, Any]:
    recurring = dollars(found.recurring)
    return {
        "plans": _plans(found),
        "invoices": [
            {
                "items": [_item(line) for line in found.lines],
                "activation_charges": 0,
                "taxes": 0,
                "summary": {"today": 0, "recurring": recurring},
                "plan": found.plan,
                "bookkeeper": {"type": "default"},
            }
        ],
        "quantities": {"account": found.counted.own, "cascade": found.counted.cascade},
        "billing_mode": plans.billing_mode(found.services),
        "ratedeck": plans.deck_of_plans(found.assigned),
        "recurring": recurring,
    }


def _plans(found: Invoice) -> dict[str, Any]:
    return {
        held.plan["_id"]: {
            "name": held.plan.get("name"),
            "vendor_id": held.plan.get("pvt_account_id"),
            "overrides": held.overrides,
        }
        for held in found.assigned
    }


def _overview(found: Invoice) -> dict[str, Any]:
    return {
        "plans": _plans(found),
        "overrides": found.services.get("overrides", {}),
        "billing_mode": plans.billing_mode(found.services),
        "quantities": {"account": found.counted.own, "cascade": found.counted.cascade},
        "items": [_item(line) for line in found.lines],
        "recurring": dollars(found.recurring),
        "ratedeck": plans.deck_of_plans(found.assigned),
    }


ENDPOINT = Services()
