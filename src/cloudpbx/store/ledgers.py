"""Ledger entries and per-account balances in the store (`ledger_entries`, `ledger_balances`).

A writer locks the balance rows it moves (`lock_balances`, in account id order so two writers never deadlock) and
changes them in the transaction that inserts the entries, so every process sharing the database sees each balance
move exactly once. Entry listings are keyset pages in (created, id) order, newest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from typing import Any, NamedTuple

import orjson
from sqlalchemy import and_, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from cloudpbx.store.documents import Tx
from cloudpbx.store.quick_writes import Statement, Writes
from cloudpbx.store.tables import accounts, ledger_balances, ledger_entries

CREDIT, DEBIT = "credit", "debit"
Key = tuple[int, str]  # (created, id) where a page starts
# The balance as one point read (`Store.point`): the hot path of every per-minute decision.
BALANCE_SQL = "SELECT balance FROM ledger_balances WHERE account_id = ?"


@dataclass(frozen=True)
class Entry:
    """One ledger row; `amount` is positive units, `ledger_type` says which way it moves the balance."""

    account_id: str
    id: str
    source: str
    source_id: str
    ledger_type: str
    amount: int
    description: str
    usage_type: str
    usage_quantity: int
    usage_unit: str
    period_start: int | None
    period_end: int | None
    created: int
    metadata: dict[str, Any] = field(default_factory=dict)
    idem_key: str | None = None
    linked_account_id: str | None = None
    linked_id: str | None = None

    @property
    def signed(self) -> int:
        """What the entry adds to the balance."""
        return self.amount if self.ledger_type == CREDIT else -self.amount


class BalanceRow(NamedTuple):
    account_id: str
    balance: int
    month: str


class Total(NamedTuple):
    """Sums of one source's entries of one usage type and unit."""

    source: str
    usage_type: str
    usage_unit: str
    amount: int
    quantity: int


def _entry(row) -> Entry:
    values = {column.name: row._mapping[column.name] for column in ledger_entries.c}
    values["metadata"] = orjson.loads(values["metadata"])
    return Entry(**values)


async def lock_balances(tx: Tx, account_ids: Iterable[str], month: str) -> dict[str, tuple[BalanceRow, bool]]:
    """Each account's balance row, locked for this transaction (created at 0 for `month` when missing): the row and
    whether this transaction created it."""
    rows: dict[str, tuple[BalanceRow, bool]] = {}
    for account_id in sorted(set(account_ids)):
        row = await _locked(tx, account_id)
        created = row is None
        if row is None:
            try:
                async with tx.conn.begin_nested():
                    await tx.conn.execute(insert(ledger_balances).values(account_id=account_id, balance=0, month=month))
            except IntegrityError:  # another writer created it first: wait for its lock below
                created = False
            row = await _locked(tx, account_id)
        assert row is not None
        rows[account_id] = (row, created)
    return rows


async def _locked(tx: Tx, account_id: str) -> BalanceRow | None:
    query = select(ledger_balances).where(ledger_balances.c.account_id == account_id).with_for_update()
    found = (await tx.conn.execute(query)).first()
    return BalanceRow(*found) if found else None


async def not_rolled_over(tx: Tx, month: str) -> list[str]:
    """Accounts whose balance row was last rolled over before `month`."""
    query = select(ledger_balances.c.account_id).where(ledger_balances.c.month < month)
    return [row[0] for row in await tx.conn.execute(query.order_by(ledger_balances.c.account_id))]


async def set_balance(tx: Tx, row: BalanceRow) -> None:
    await tx.conn.execute(
        update(ledger_balances)
        .where(ledger_balances.c.account_id == row.account_id)
        .values(balance=row.balance, month=row.month)
    )


async def insert_entries(tx: Tx, entries: list[Entry]) -> None:
    rows = [{**asdict(entry), "metadata": orjson.dumps(entry.metadata).decode()} for entry in entries]
    await tx.conn.execute(insert(ledger_entries), rows)


# The quick write of a batch of new entries (`Store.quick_write`): the balances to move, locked, and which of the
# batch's keys were written before; then the new balances and the entries.
@lru_cache(maxsize=16)
def _balances_sql(accounts_n: int, lock: bool) -> str:
    marks = ", ".join("?" * accounts_n)
    return (
        f"SELECT account_id, balance, month FROM ledger_balances WHERE account_id IN ({marks}) ORDER BY account_id"
        + (" FOR UPDATE" if lock else "")
    )


@lru_cache(maxsize=256)
def _keys_sql(accounts_n: int, keys_n: int) -> str:
    return (
        f"SELECT account_id, idem_key FROM ledger_entries WHERE account_id IN ({', '.join('?' * accounts_n)})"
        f" AND idem_key IN ({', '.join('?' * keys_n)})"
    )


_SET_BALANCE = "UPDATE ledger_balances SET balance = ?, month = ? WHERE account_id = ?"
_ENTRY_COLUMNS = [f.name for f in fields(Entry)]
_ADD_ENTRY = f"INSERT INTO ledger_entries ({', '.join(_ENTRY_COLUMNS)}) VALUES ({', '.join('?' * len(_ENTRY_COLUMNS))})"
METADATA_AT = _ENTRY_COLUMNS.index("metadata")


def quick_reads(account_ids: Sequence[str], keys: Sequence[tuple[str, str]], lock: bool) -> list[Statement]:
    """The balance rows of `account_ids` (sorted, locked on PostgreSQL), then those of the (account, key) pairs
    already written (filter them: the query returns every account × key combination)."""
    queries: list[Statement] = [(_balances_sql(len(account_ids), lock), list(account_ids))]
    if keys:
        accounts_of_keys = sorted({account for account, _ in keys})
        key_values = sorted({key for _, key in keys})
        queries.append((_keys_sql(len(accounts_of_keys), len(key_values)), [*accounts_of_keys, *key_values]))
    return queries


def quick_writes(balances: Iterable[BalanceRow], entries: Iterable[Entry]) -> Writes:
    """The statements that set the balances and add the entries."""
    rows = []
    for entry in entries:
        row = [getattr(entry, name) for name in _ENTRY_COLUMNS]
        row[METADATA_AT] = orjson.dumps(entry.metadata).decode()
        rows.append(row)
    return [
        (_SET_BALANCE, [(row.balance, row.month, row.account_id) for row in sorted(balances)]),
        (_ADD_ENTRY, rows),
    ]


async def by_key(tx: Tx, account_id: str, idem_key: str) -> Entry | None:
    query = select(ledger_entries).where(
        ledger_entries.c.account_id == account_id, ledger_entries.c.idem_key == idem_key
    )
    found = (await tx.conn.execute(query)).first()
    return _entry(found) if found else None


async def get(tx: Tx, account_id: str, entry_id: str) -> Entry | None:
    query = select(ledger_entries).where(ledger_entries.c.account_id == account_id, ledger_entries.c.id == entry_id)
    found = (await tx.conn.execute(query)).first()
    return _entry(found) if found else None


async def page(
    tx: Tx, account_id: str, source: str, span: tuple[int, int], start: Key | None, limit: int | None
) -> list[Entry]:
    """Entries of one source created within `span`, newest first, from `start` (inclusive) on."""
    c = ledger_entries.c
    query = select(ledger_entries).where(c.account_id == account_id, c.source == source, c.created.between(*span))
    if start is not None:
        at, ident = start
        query = query.where(or_(c.created < at, and_(c.created == at, c.id <= ident)))
    query = query.order_by(c.created.desc(), c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [_entry(row) for row in await tx.conn.execute(query)]


async def totals(tx: Tx, account_id: str, span: tuple[int, int]) -> list[Total]:
    """Per source, usage type and unit: the signed sum of the entries created within `span`, and their quantity."""
    c = ledger_entries.c
    query = (
        select(c.source, c.usage_type, c.usage_unit, func.sum(_signed()), func.sum(c.usage_quantity))
        .where(c.account_id == account_id, c.created.between(*span))
        .group_by(c.source, c.usage_type, c.usage_unit)
        .order_by(c.source, c.usage_type, c.usage_unit)
    )
    return [Total(row[0], row[1], row[2], int(row[3]), int(row[4])) for row in await tx.conn.execute(query)]


class Scope(NamedTuple):
    """Whose entries a usage report reads: the account at `path`, with its descendants when `below`."""

    path: str
    below: bool


def _in_scope(scope: Scope):
    path = accounts.c.path
    if not scope.below:
        return path == scope.path
    return or_(path == scope.path, path.startswith(scope.path + "/", autoescape=True))


def _signed():
    c = ledger_entries.c
    return c.amount * case((c.ledger_type == CREDIT, 1), else_=-1)


async def usage_page(
    tx: Tx,
    scope: Scope,
    sources: tuple[str, ...],
    span: tuple[int, int],
    order: tuple[str, bool],
    page: tuple[int, int],
) -> list[tuple[Entry, str]]:
    """Entries of `sources` created within `span` by the accounts in `scope`, each with its account's name, sorted
    by one column (`created`, `account`, `amount`, `quantity`, `description`) then newest first; `page` is (offset,
    limit). Each account's rows come from the (account, source, created) index."""
    c = ledger_entries.c
    columns = {"created": c.created, "account": accounts.c.name, "amount": _signed(), "quantity": c.usage_quantity}
    column = columns.get(order[0], c.description)
    query = (
        select(ledger_entries, accounts.c.name)
        .join(accounts, accounts.c.account_id == c.account_id)
        .where(_in_scope(scope), c.source.in_(sources), c.created.between(*span))
        .order_by(column.desc() if order[1] else column.asc(), c.created.desc(), c.id.desc())
        .offset(page[0])
        .limit(page[1])
    )
    return [(_entry(row), row.name) for row in await tx.conn.execute(query)]


class AccountUsage(NamedTuple):
    """One account's sums of one source within a span."""

    account_id: str
    name: str
    source: str
    amount: int
    quantity: int
    entries: int


async def usage_totals(tx: Tx, scope: Scope, sources: tuple[str, ...], span: tuple[int, int]) -> list[AccountUsage]:
    """Per account in `scope` and source: the signed sum, the usage quantity and the number of entries."""
    c = ledger_entries.c
    query = (
        select(c.account_id, accounts.c.name, c.source, func.sum(_signed()), func.sum(c.usage_quantity), func.count())
        .join(accounts, accounts.c.account_id == c.account_id)
        .where(_in_scope(scope), c.source.in_(sources), c.created.between(*span))
        .group_by(c.account_id, accounts.c.name, c.source)
    )
    rows = await tx.conn.execute(query)
    return [AccountUsage(row[0], row[1], row[2], int(row[3]), int(row[4]), int(row[5])) for row in rows]
