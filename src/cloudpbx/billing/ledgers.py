"""Ledgers and balances (KAZOO's `kz_ledgers`): every balance change is one ledger entry, written in the transaction
that moves the account's balance row, so a balance is one point read whatever the number of entries.

Money is integer units inside (1 dollar = 10,000 units, as `kz_currency`); dollars only at the API edge. A reseller's
twin entry (`impact_reseller`, and later a sub-account's per-minute debit) is written in the same transaction as the
sub-account's, each pointing at the other. Each month's first write for an account (or `roll_over`, which the
monthly job calls) first writes a `rollovers` entry carrying the balance at the start of the month: it records the
balance and does not move it, so the month's sources sum to the balance.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from cloudpbx.accounts.tree import AccountNode
from cloudpbx.errors import Conflicting, Failure, Forbidden, Invalid
from cloudpbx.ids import GREGORIAN_OFFSET
from cloudpbx.store import Store, Tx, gregorian_now, new_id
from cloudpbx.store import ledgers as rows
from cloudpbx.store.ledgers import CREDIT, DEBIT, BalanceRow, Entry
from cloudpbx.store.quick_writes import Writes

PER_MINUTE, SERVICES, PAYMENTS, PRORATIONS, ROLLOVERS, ADJUSTMENTS, MOBILE_DATA = (
    "per-minute-voip",
    "services",
    "payments",
    "prorations",
    "rollovers",
    "adjustments",
    "mobile-data",  # data used by mobile devices and SMS, as an operator's mobile carrier reports it
)
SOURCES = (PER_MINUTE, SERVICES, PAYMENTS, PRORATIONS, ROLLOVERS, ADJUSTMENTS, MOBILE_DATA)
UNITS_PER_DOLLAR = 10_000
MAX_ENTRY_UNITS = 1_000_000_000 * UNITS_PER_DOLLAR
# $100 billion either way: every balance stays exact as a JSON number of dollars (below 2**53 hundredths of a cent).
MAX_BALANCE_UNITS = 100_000_000_000 * UNITS_PER_DOLLAR
REFUSAL = "only the account's reseller, an ancestor or a system admin may credit or debit it"


@dataclass(frozen=True)
class Change:
    """What a writer asks for: `amount` in positive units; `key`, when given, makes a retry write nothing."""

    source: str
    source_id: str
    ledger_type: str
    amount: int
    description: str = ""
    usage: tuple[str, int, str] = ("", 0, "")  # type, quantity, unit
    period: tuple[int | None, int | None] = (None, None)
    metadata: dict[str, Any] = field(default_factory=dict)
    key: str | None = None


@dataclass(frozen=True)
class Written:
    """The account's entry and its reseller's twin; `new` is False when the key had been written before."""

    entry: Entry
    twin: Entry | None
    new: bool


async def balance_units(store: Store, account_id: str) -> int:
    """The account's balance: one point read of its balance row (0 before its first entry)."""
    row = await store.point(rows.BALANCE_SQL, (account_id,))
    return int(row[0]) if row else 0


async def write(
    store: Store, account_id: str, change: Change, twin_account_id: str | None = None, *, now: int | None = None
) -> Written:
    """Add the entry (and the twin in `twin_account_id`'s ledger) and move the balances, in one transaction."""
    [result] = await write_many(store, [(account_id, change, twin_account_id)], now=now)
    if isinstance(result, Failure):
        raise result
    return result


Item = tuple[str, Change, str | None]  # the account, its change, the twin's account


async def write_many(store: Store, items: list[Item], *, now: int | None = None) -> list[Written | Failure]:
    """Several writes in one transaction (per-minute bills committed together): each item is written as `write`
    writes it, or answered with its own failure (a key reused for another entry, a balance out of bounds) without
    failing the others."""
    now = gregorian_now() if now is None else now
    quick = await _write_new(store, items, now)
    if quick is not None:
        return quick
    month = month_of(now)
    accounts = _accounts(items)
    async with store.write() as tx:
        locked = await rows.lock_balances(tx, accounts, month)
        batch = _Batch({acc: row.balance for acc, (row, _) in locked.items()})
        results = [await batch.add(tx, account_id, change, twin, now) for account_id, change, twin in items]
        carried = [_carry(row, created, month) for row, created in locked.values()]
        for row, _ in locked.values():
            await rows.set_balance(
                tx, BalanceRow(row.account_id, batch.balances[row.account_id], max(row.month, month))
            )
        written = [e for e in carried if e is not None] + batch.entries
        if written:
            await rows.insert_entries(tx, written)
    return results


async def _write_new(store: Store, items: list[Item], now: int) -> list[Written | Failure] | None:
    """The usual batch as one quick write (a few statements, no SQLAlchemy): every account already has this
    month's balance row and no key was written before. Anything else (a first entry, a month's rollover, a retry)
    is left to the general path: None, nothing written."""
    month = month_of(now)
    accounts = _accounts(items)
    keys = [(account_id, change.key) for account_id, change, _ in items if change.key is not None]
    queries = rows.quick_reads(accounts, keys, lock=store.dialect == "postgresql")

    def then(results: list[list[tuple]]) -> tuple[list[Written | Failure] | None, Writes]:
        found = results[0]
        written_before = set(keys).intersection(map(tuple, results[1])) if keys else set()
        if len(found) < len(accounts) or any(row_month < month for *_, row_month in found) or written_before:
            return None, []
        batch = _Batch({account_id: int(balance) for account_id, balance, _ in found})
        answers = [batch.add_new(account_id, change, twin, now) for account_id, change, twin in items]
        moved = [BalanceRow(acc, batch.balances[acc], row_month) for acc, _, row_month in found]
        return answers, rows.quick_writes(moved, batch.entries)

    return await store.quick_write(queries, then, changes=[(rows.BALANCE_SQL, (acc,)) for acc in accounts])


def _accounts(items: list[Item]) -> list[str]:
    """Every account whose balance the items move (theirs and their twins'), in id order."""
    return sorted({acc for account_id, _, twin in items for acc in (account_id, twin) if acc is not None})


@dataclass
class _Batch:
    """The entries of one transaction and the balances they leave, item by item."""

    balances: dict[str, int]
    entries: list[Entry] = field(default_factory=list)
    keyed: dict[tuple[str, str], Written] = field(default_factory=dict)

    async def add(
        self, tx: Tx, account_id: str, change: Change, twin_account_id: str | None, now: int
    ) -> Written | Failure:
        """The item, its key looked up in the store first (unless this batch wrote it)."""
        if change.key is not None and (account_id, change.key) not in self.keyed:
            found = await rows.by_key(tx, account_id, change.key)
            if found is not None:
                try:
                    _same(found, change)
                except Conflicting as exc:
                    return exc
                return Written(found, await _twin_of(tx, found), new=False)
        return self.add_new(account_id, change, twin_account_id, now)

    def add_new(self, account_id: str, change: Change, twin_account_id: str | None, now: int) -> Written | Failure:
        """The item, its key written by no earlier transaction."""
        try:
            return self._add(account_id, change, twin_account_id, now)
        except (Conflicting, Invalid) as exc:
            return exc

    def _add(self, account_id: str, change: Change, twin_account_id: str | None, now: int) -> Written:
        earlier = self.keyed.get((account_id, change.key)) if change.key is not None else None
        if earlier is not None:
            _same(earlier.entry, change)
            return Written(earlier.entry, earlier.twin, new=False)
        entry, twin = _entries(account_id, change, now, twin_account_id)
        moved = [(e.account_id, self.balances[e.account_id] + e.signed) for e in (entry, twin) if e is not None]
        for _acc, balance in moved:  # every bound checked before any balance moves: the twin fails with its entry
            _bounded(balance)
        self.balances.update(moved)
        self.entries += [entry] + ([twin] if twin else [])
        written = Written(entry, twin, new=True)
        if change.key is not None:
            self.keyed[(account_id, change.key)] = written
        return written


async def _twin_of(tx: Tx, entry: Entry) -> Entry | None:
    if entry.linked_account_id is None or entry.linked_id is None:
        return None
    return await rows.get(tx, entry.linked_account_id, entry.linked_id)


async def roll_over(store: Store, account_id: str, *, now: int | None = None) -> Entry | None:
    """Write this month's `rollovers` entry for the account if it has none yet (the monthly job's step)."""
    now = gregorian_now() if now is None else now
    month = month_of(now)
    async with store.write() as tx:
        (row, created) = (await rows.lock_balances(tx, [account_id], month))[account_id]
        entry = _carry(row, created, month)
        if entry is not None:
            await rows.set_balance(tx, row._replace(month=month))
            await rows.insert_entries(tx, [entry])
    return entry


async def roll_over_all(store: Store, *, now: int | None = None) -> int:
    """This month's rollover for every account whose balance row was last rolled over earlier; how many were written."""
    now = gregorian_now() if now is None else now
    async with store.read() as tx:
        due = await rows.not_rolled_over(tx, month_of(now))
    return sum([await roll_over(store, account_id, now=now) is not None for account_id in due])


def _entries(account_id: str, change: Change, now: int, twin_account_id: str | None) -> tuple[Entry, Entry | None]:
    usage_type, quantity, unit = change.usage
    entry = Entry(
        account_id,
        new_id(),
        change.source,
        change.source_id,
        change.ledger_type,
        change.amount,
        change.description,
        usage_type,
        quantity,
        unit,
        change.period[0],
        change.period[1],
        now,
        change.metadata,
        change.key,
    )
    if twin_account_id is None:
        return entry, None
    twin = replace(entry, account_id=twin_account_id, id=new_id(), idem_key=None)
    twin = replace(twin, linked_account_id=account_id, linked_id=entry.id)
    return replace(entry, linked_account_id=twin_account_id, linked_id=twin.id), twin


def _carry(row: BalanceRow, created: bool, month: str) -> Entry | None:
    """The rollover entry of `month` when the account's row was last rolled over in an earlier month."""
    if created or row.month >= month:
        return None
    start, end = month_bounds(month)
    return Entry(
        row.account_id,
        new_id(),
        ROLLOVERS,
        month,
        CREDIT if row.balance >= 0 else DEBIT,
        abs(row.balance),
        "Monthly rollover",
        "rollover",
        1,
        "month",
        start,
        end,
        start,
        {"carried_from": row.month},
        f"rollover:{month}",
    )


def _same(found: Entry, change: Change) -> None:
    """A retry must ask for what was written under its key; anything else reusing the key is a conflict."""
    if (found.source, found.ledger_type, found.amount) != (change.source, change.ledger_type, change.amount):
        raise Conflicting(
            {"message": "a ledger entry with this source id and period already exists", "cause": found.id}
        )


def _bounded(balance: int) -> int:
    if abs(balance) > MAX_BALANCE_UNITS:
        raise Invalid.field(
            "amount", "maximum", f"a balance stays within ±{MAX_BALANCE_UNITS // UNITS_PER_DOLLAR} dollars"
        )
    return balance


def month_of(gregorian: int) -> str:
    year, month = _year_month(gregorian)
    return f"{year:04d}{month:02d}"


def _year_month(gregorian: int) -> tuple[int, int]:
    parts = time.gmtime(gregorian - GREGORIAN_OFFSET)
    return parts.tm_year, parts.tm_mon


def month_bounds(month: str) -> tuple[int, int]:
    """The first and last second of a YYYYMM month, in Gregorian seconds."""
    year, mon = int(month[:4]), int(month[4:])
    start = calendar.timegm((year, mon, 1, 0, 0, 0)) + GREGORIAN_OFFSET
    days = calendar.monthrange(year, mon)[1]
    return start, start + days * 86400 - 1


def to_units(value: Any, path: str = "amount") -> int:
    """Dollars as the client wrote them (a JSON number) to units, exactly; fractions of a unit are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid.field(path, "type", "Value did not match type(s): number")
    try:
        exact = Decimal(str(value)) * UNITS_PER_DOLLAR
    except InvalidOperation as exc:
        raise Invalid.field(path, "type", "Value is not a number") from exc
    if not exact.is_finite() or exact != exact.to_integral_value():
        raise Invalid.field(path, "multipleOf", "Amounts are whole hundredths of a cent (at most 4 decimals)")
    if exact <= 0:
        raise Invalid.field(path, "exclusiveMinimum", "Value must be above 0")
    if exact > MAX_ENTRY_UNITS:
        raise Invalid.field(path, "maximum", f"Value must be at most {MAX_ENTRY_UNITS // UNITS_PER_DOLLAR}")
    return int(exact)


def dollars(units: int) -> float | int:
    """Units as dollars for the API: whole dollars as integers, else the exact decimal as a float."""
    value = Decimal(units) / UNITS_PER_DOLLAR
    return int(value) if value == value.to_integral_value() else float(value)


def may_write(target: AccountNode, caller_account_id: str, superduper: bool, twin: AccountNode | None) -> None:
    """Only an ancestor of the account (its reseller is one) or a system admin, never the account itself; writing the
    reseller's twin also needs the caller to be that reseller or above it."""
    if superduper:
        return
    if caller_account_id not in target.tree:
        raise Forbidden({"message": REFUSAL})
    if twin is not None and not twin.is_within(caller_account_id):
        raise Forbidden({"message": "only the reseller or an ancestor of it may impact the reseller's ledger"})


async def summary(store: Store, account_id: str, span: tuple[int, int]) -> dict[str, dict[str, Any]]:
    """Per source, the signed dollars of the entries created within `span` (negative = spend) and their usage."""
    async with store.read() as tx:
        totals = await rows.totals(tx, account_id, span)
    out: dict[str, dict[str, Any]] = {}
    units: dict[str, int] = {}
    for total in totals:
        units[total.source] = units.get(total.source, 0) + total.amount
        usage = out.setdefault(total.source, {"usage": {"type": total.usage_type, "unit": total.usage_unit}})["usage"]
        if (usage["type"], usage["unit"]) == (total.usage_type, total.usage_unit):
            usage["quantity"] = usage.get("quantity", 0) + total.quantity
    for source, amount in units.items():
        out[source]["amount"] = dollars(amount)
    return out


async def entries(
    store: Store, account_id: str, source: str, span: tuple[int, int], start: rows.Key | None, limit: int | None
) -> tuple[list[Entry], rows.Key | None]:
    """A page of one source's entries, newest first, and where the next page starts (None after the last)."""
    async with store.read() as tx:
        found = await rows.page(tx, account_id, source, span, start, None if limit is None else limit + 1)
    if limit is None or len(found) <= limit:
        return found, None
    return found[:limit], (found[limit].created, found[limit].id)


async def entry(store: Store, account_id: str, entry_id: str) -> Entry | None:
    async with store.read() as tx:
        return await rows.get(tx, account_id, entry_id)


def view(entry: Entry, account: AccountNode) -> dict[str, Any]:
    """An entry as Crossbar shows it, amount in signed dollars. A twin (in the reseller's ledger) names the
    sub-account's entry; the sub-account's entry never names its reseller's."""
    out: dict[str, Any] = {
        "id": entry.id,
        "source": {"service": entry.source, "id": entry.source_id},
        "account": {"id": entry.account_id, "name": account.name},
        "ledger_type": entry.ledger_type,
        "amount": dollars(entry.signed),
        "description": entry.description,
        "usage": {"type": entry.usage_type, "quantity": entry.usage_quantity, "unit": entry.usage_unit},
        "metadata": entry.metadata,
        "created": entry.created,
    }
    if entry.period_start is not None or entry.period_end is not None:
        out["period"] = {k: v for k, v in (("start", entry.period_start), ("end", entry.period_end)) if v is not None}
    if entry.linked_account_id is not None and entry.linked_account_id not in account.tree:
        out["linked"] = {"account_id": entry.linked_account_id, "id": entry.linked_id}
    return out
