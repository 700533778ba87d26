"""/v2/accounts/{A}/ledgers: the summary per source for a month; `/{source}` its entries (created range, paging,
CSV) and `/{source}/{id}` one; `/available` and `/total` the balance in dollars (the launcher and the Accounts
Manager read `total`); `PUT /credit` and `/debit` for the account's reseller, an ancestor or a system admin, with
`impact_reseller` in the envelope writing the reseller's twin entry in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from cloudpbx import schemas
from cloudpbx.api import listing
from cloudpbx.api.context import Context, Reply
from cloudpbx.api.endpoints.base import ACCOUNT, Endpoint
from cloudpbx.api.paths import Arg, Op, Shape
from cloudpbx.billing import ledgers
from cloudpbx.errors import Invalid, Missing
from cloudpbx.store import gregorian_now, is_id
from cloudpbx.store.ledgers import CREDIT, DEBIT, Key

MAXIMUM_RANGE = 2682000  # crossbar.maximum_range: 31 days and an hour
BALANCE = {
    "type": "object",
    "required": ["amount"],
    "properties": {"amount": {"type": "number", "description": "in dollars"}},
}
SUMMARY = {"type": "object", "description": "per source: amount in dollars (negative = spend) and usage"}
ENTRY = {"type": "object", "description": "a ledger entry, amount in signed dollars"}
LEDGERS = f"{ACCOUNT}/ledgers"


class Ledgers(Endpoint):
    noun = "ledgers"
    args: ClassVar[Mapping[str, Arg]] = {"source": Arg(choices=ledgers.SOURCES, description="a ledger source")}
    summary = Shape(
        LEDGERS, {"GET": Op("Totals per source for the month (or created_from, created_to)", reply=SUMMARY)}
    )
    total = Shape(f"{LEDGERS}/total", {"GET": Op("The account's balance", reply=BALANCE)})
    available = Shape(f"{LEDGERS}/available", {"GET": Op("The account's balance", reply=BALANCE)})
    credit = Shape(f"{LEDGERS}/{CREDIT}", {"PUT": Op("Credit the account", "ledgers", ENTRY, status=201)})
    debit = Shape(f"{LEDGERS}/{DEBIT}", {"PUT": Op("Debit the account", "ledgers", ENTRY, status=201)})
    entries = Shape(
        f"{LEDGERS}/{{source}}", {"GET": Op("Entries of a source (created range, CSV)", reply=ENTRY, listing=True)}
    )
    one = Shape(f"{LEDGERS}/{{source}}/{{id}}", {"GET": Op("One entry", reply=ENTRY)})
    shapes = (summary, total, available, credit, debit, entries, one)

    async def handle(self, ctx: Context) -> Reply:
        store, shape = ctx.platform.store, ctx.shape
        if shape is self.total or shape is self.available:
            return Reply({"amount": ledgers.dollars(await ledgers.balance_units(store, ctx.account_id))})
        if shape is self.summary:
            return Reply(await ledgers.summary(store, ctx.account_id, await span(ctx, monthly=True)))
        if shape is self.credit or shape is self.debit:
            return await _write(ctx, CREDIT if shape is self.credit else DEBIT)
        if shape is self.one:
            found = await ledgers.entry(store, ctx.account_id, ctx.args[1])
            if found is None or found.source != ctx.args[0]:
                raise Missing(ctx.args[1])
            return Reply(ledgers.view(found, ctx.node))
        return await _list(ctx, ctx.args[0])


async def _write(ctx: Context, ledger_type: str) -> Reply:
    ctx.require_admin()
    data = ctx.data if isinstance(ctx.data, dict) else None
    if data is None:
        raise Invalid.field("data", "type", "Value did not match type(s): object")
    checked, errors = schemas.validate("ledgers", data)
    if errors:
        raise Invalid(errors)
    change = _change(checked, ledger_type)
    node, who = ctx.node, ctx.who
    twin = await _twin(ctx) if ctx.flag("impact_reseller") else None
    ledgers.may_write(node, who.account_id, who.superduper, twin)
    written = await ledgers.write(ctx.platform.store, node.id, change, twin.id if twin else None)
    reply = Reply(ledgers.view(written.entry, node), status=201)  # a retry gets the answer the first write got
    if written.twin is not None:
        reply.extra["reseller_entry"] = {"account_id": written.twin.account_id, "id": written.twin.id}
    return reply


def _change(data: dict, ledger_type: str) -> ledgers.Change:
    source, usage, period = data["source"], data["usage"], data.get("period", {})
    start, end = period.get("start"), period.get("end")
    if start is not None and end is not None and end < start:
        raise Invalid.field("period.end", "minimum", "The period ends before it starts")
    return ledgers.Change(
        source["service"],
        source["id"],
        ledger_type,
        ledgers.to_units(data["amount"]),
        data.get("description", ""),
        (usage["type"], usage["quantity"], usage["unit"]),
        (start, end),
        data.get("metadata", {}),
        key=f"{source['service']}:{source['id']}:{start}:{end}",
    )


async def _twin(ctx: Context):
    """The reseller whose ledger gets the twin entry: the closest reseller above the account, else the master."""
    directory = ctx.platform.directory
    reseller_id = await directory.reseller_id(ctx.node)
    reseller = await directory.get(reseller_id) if reseller_id != ctx.account_id else None
    if reseller is None:
        raise Invalid.field("impact_reseller", "enum", "The account has no reseller above it")
    return reseller


async def span(ctx: Context, *, monthly: bool = False) -> tuple[int, int]:
    """The created range asked; without one, the summary covers this month and a listing the last 31 days."""
    if monthly and "created_from" not in ctx.query and "created_to" not in ctx.query:
        return ledgers.month_bounds(ledgers.month_of(gregorian_now()))
    value = await ctx.platform.configs.value("crossbar", "maximum_range", MAXIMUM_RANGE)
    return listing.time_range(ctx, value if isinstance(value, int) and value > 0 else MAXIMUM_RANGE)


async def _list(ctx: Context, source: str) -> Reply:
    size = None if ctx.wants_csv else listing.page_size(ctx)
    start = _start_key(ctx)
    found, following = await ledgers.entries(ctx.platform.store, ctx.account_id, source, await span(ctx), start, size)
    paging: dict[str, int | str] = {"page_size": len(found)}
    if start is not None:
        paging["start_key"] = ctx.query["start_key"]
    if following is not None:
        paging["next_start_key"] = f"{following[0]}-{following[1]}"
    return Reply([ledgers.view(entry, ctx.node) for entry in found], paging=paging)


def _start_key(ctx: Context) -> Key | None:
    """`<created>-<id>` as `next_start_key` hands it out."""
    raw = ctx.query.get("start_key")
    if raw is None:
        return None
    created, _, ident = raw.partition("-")
    if not (created.isascii() and created.isdigit() and len(created) <= 12) or not is_id(ident):
        raise Invalid.field("start_key", "type", "Value is not a start key of this listing", value=raw)
    return int(created), ident


ENDPOINT = Ledgers()
