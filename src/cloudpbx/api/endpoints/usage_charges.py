"""/v2/accounts/{A}/usage_charges: the Control Center's usage report. `/{tab}` (`per_minute`, `mobile_data`,
`rollovers`) lists the entries of the account and its sub-accounts created in a range (default: this month), sorted
by `sort_by` (`created`, `account`, `amount`, `quantity`, `description`; `descending=false` for ascending), paged
(`start_key` is an offset) or as CSV; the bare path gives each account's totals per tab (`sort_by` `account`, a tab
or `total`). Administrators see their sub-accounts (`descendants=false` for the account alone); a user sees only
the account's own charges."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from cloudpbx.api import listing
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.endpoints.ledgers import span
from cloudpbx.api.paths import Arg, Op, Query, Shape
from cloudpbx.billing import usage
from cloudpbx.errors import Forbidden, Invalid
from cloudpbx.store.ledgers import Scope

ROW = {"type": "object", "description": "a charge: created, date, account, source, description, amount, usage"}
TOTALS = {
    "type": "array",
    "items": {"type": "object", "description": "an account's amount, quantity and count per tab, and their total"},
}
BOOLEAN = {"type": "string", "enum": ["true", "false"]}
RANGE = (
    Query("created_from", {"type": "integer"}, "Gregorian seconds; default the start of this month"),
    Query("created_to", {"type": "integer"}, "Gregorian seconds; default now"),
    Query("descendants", BOOLEAN, "include sub-accounts (administrators; default true for them)"),
    Query("descending", BOOLEAN, "sort descending (default true)"),
)
ROW_QUERY = (Query("sort_by", {"type": "string", "enum": list(usage.ROW_SORTS)}, "default created"), *RANGE)
TOTAL_QUERY = (Query("sort_by", {"type": "string", "enum": list(usage.TOTAL_SORTS)}, "default account"), *RANGE)
USAGE = f"{ACCOUNT}/usage_charges"


class UsageCharges(Endpoint):
    noun = "usage_charges"
    args: ClassVar[Mapping[str, Arg]] = {"tab": Arg(choices=tuple(usage.TABS), description="a tab of the report")}
    totals = Shape(USAGE, {"GET": Op("Each account's charges per tab (CSV too)", reply=TOTALS, query=TOTAL_QUERY)})
    tab = Shape(f"{USAGE}/{{tab}}", {"GET": Op("A tab's charges (CSV too)", reply=ROW, listing=True, query=ROW_QUERY)})
    shapes = (totals, tab)

    async def handle(self, ctx: Context) -> Reply:
        scope, period = _scope(ctx), await span(ctx, monthly=True)
        store = ctx.platform.store
        if ctx.shape is self.totals:
            return Reply(await usage.totals(store, scope, period, _order(ctx, usage.TOTAL_SORTS, "account")))
        tab, order = ctx.args[0], _order(ctx, usage.ROW_SORTS, "created")
        if ctx.wants_csv:
            return Reply(await usage.download(store, scope, tab, period, order))
        size = listing.page_size(ctx) or usage.MAX_ROWS
        offset = listing.integer("start_key", ctx.query["start_key"], 0, 2**31 - 1) if "start_key" in ctx.query else 0
        found = await usage.charges(store, scope, tab, period, order, (offset, size + 1))
        paging: dict[str, int | str] = {"page_size": min(len(found), size)}
        if "start_key" in ctx.query:
            paging["start_key"] = str(offset)
        if len(found) > size:
            paging["next_start_key"] = str(offset + size)
        return Reply(found[:size], paging=paging)


def _scope(ctx: Context) -> Scope:
    """Administrators read the account's sub-accounts too unless `descendants=false`; users only the account."""
    admin = ctx.who.is_admin or ctx.who.superduper
    below = _boolean(ctx, "descendants", admin)
    if below and not admin:
        raise Forbidden({"message": "account administrators only see sub-accounts' charges"})
    return Scope(ctx.node.path, below)


def _order(ctx: Context, columns: tuple[str, ...], default: str) -> tuple[str, bool]:
    column = ctx.query.get("sort_by", default)
    if column not in columns:
        raise Invalid.field("sort_by", "enum", f"Value not found in enumerated list of values: {', '.join(columns)}")
    return column, _boolean(ctx, "descending", column != "account")


def _boolean(ctx: Context, key: str, default: bool) -> bool:
    raw = ctx.query.get(key)
    if raw is None:
        return default
    if raw.lower() not in ("true", "false"):
        raise Invalid.field(key, "type", "Value did not match type(s): boolean", value=raw)
    return raw.lower() == "true"


ENDPOINT = UsageCharges()
