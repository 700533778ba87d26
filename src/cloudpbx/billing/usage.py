"""The usage report of the Control Center's "Usage Charges" page: per-minute charges, mobile data and rollovers of
an account and its sub-accounts over a date range, sortable, as rows a third-party billing system imports.

Rows come from the ledgers (each account's own entries, so a reseller's rows include the real-money twins of its
sub-accounts' calls); the store sorts and pages them, so a report never loads more than a page, and a download is
bounded by `MAX_ROWS`."""

from __future__ import annotations

import time
from typing import Any

from cloudpbx.billing.ledgers import MOBILE_DATA, PER_MINUTE, ROLLOVERS, dollars
from cloudpbx.errors import Invalid
from cloudpbx.ids import GREGORIAN_OFFSET
from cloudpbx.store import Store
from cloudpbx.store import ledgers as rows
from cloudpbx.store.ledgers import Entry, Scope

TABS = {"per_minute": PER_MINUTE, "mobile_data": MOBILE_DATA, "rollovers": ROLLOVERS}
ROW_SORTS = ("created", "account", "amount", "quantity", "description")
TOTAL_SORTS = ("account", *TABS, "total")
MAX_ROWS = 100_000  # one download; a longer report is asked for in shorter date ranges


async def charges(
    store: Store, scope: Scope, tab: str, span: tuple[int, int], order: tuple[str, bool], page: tuple[int, int]
) -> list[dict[str, Any]]:
    """One page (offset, limit) of a tab's rows, sorted by one of `ROW_SORTS` (descending when order[1])."""
    async with store.read() as tx:
        found = await rows.usage_page(tx, scope, (TABS[tab],), span, order, page)
    return [row(entry, name) for entry, name in found]


async def download(store: Store, scope: Scope, tab: str, span: tuple[int, int], order: tuple[str, bool]) -> list[dict]:
    """Every row of a tab in the range, for a CSV; more than `MAX_ROWS` is refused rather than built."""
    found = await charges(store, scope, tab, span, order, (0, MAX_ROWS + 1))
    if len(found) > MAX_ROWS:
        raise Invalid.field(
            "created_from", "date_range", f"More than {MAX_ROWS} rows in the range: download a shorter one"
        )
    return found


def row(entry: Entry, account_name: str) -> dict[str, Any]:
    """A report row: when, whose, what and how much (signed dollars, negative = spend); the call's details stay in
    `metadata` as the per-minute billing wrote them."""
    return {
        "id": entry.id,
        "created": entry.created,
        "date": _iso_date(entry.created),
        "account": {"id": entry.account_id, "name": account_name},
        "source": entry.source,
        "description": entry.description,
        "amount": dollars(entry.signed),
        "usage": {"type": entry.usage_type, "quantity": entry.usage_quantity, "unit": entry.usage_unit},
        "metadata": entry.metadata,
    }


async def totals(store: Store, scope: Scope, span: tuple[int, int], order: tuple[str, bool]) -> list[dict[str, Any]]:
    """Per account in scope with any such entry: each tab's amount, quantity and count, and their total amount."""
    async with store.read() as tx:
        sums = await rows.usage_totals(tx, scope, tuple(TABS.values()), span)
    tab_of = {source: tab for tab, source in TABS.items()}
    units: dict[str, int] = {}
    out: dict[str, dict[str, Any]] = {}
    for s in sums:
        account = out.setdefault(s.account_id, {"account": {"id": s.account_id, "name": s.name}})
        account[tab_of[s.source]] = {"amount": dollars(s.amount), "quantity": s.quantity, "count": s.entries}
        units[s.account_id] = units.get(s.account_id, 0) + s.amount
    for account_id, account in out.items():
        for tab in TABS:
            account.setdefault(tab, {"amount": 0, "quantity": 0, "count": 0})
        account["total"] = dollars(units[account_id])
    return sorted(out.values(), key=_sort_key(order[0]), reverse=order[1])


def _sort_key(column: str):
    if column == "account":
        return lambda account: (account["account"]["name"].casefold(), account["account"]["id"])
    if column == "total":
        return lambda account: (account["total"], account["account"]["id"])
    return lambda account: (account[column]["amount"], account["account"]["id"])


def _iso_date(gregorian: int) -> str:
    """The UTC time of a Gregorian second, as a spreadsheet reads it."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(gregorian - GREGORIAN_OFFSET))
