"""Trunk leases and usage: the carrier calls in progress per charged account, counted and changed under a row lock on
the accounts so every process sharing the database counts the same calls.

A call holds one `trunk_leases` row per charged account, and adds one to its process's `trunk_usage` counter of that
account and kind in the same transaction; a decision sums the live counters (a few rows, whatever the number of
calls). Taking and giving back run as quick writes (`Store.quick_write`). Taking first undoes a lease the same
call may hold from an attempt whose commit was in doubt, so running it again gives the same answer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import NamedTuple, TypeVar

from cloudpbx.store.documents import Store, Tx
from cloudpbx.store.quick_writes import Statement, Writes, driver_sql

T = TypeVar("T")
Counts = dict[str, Counter[str]]  # account id → live calls by kind


class LeaseRow(NamedTuple):
    account_id: str
    call_id: str
    owner_id: str
    direction: str
    kind: str
    node: str


def _marks(n: int) -> str:
    return ", ".join("?" * n)


# Statements per number of accounts (a call is charged to one or two), built once.
@lru_cache(maxsize=8)
def _lock(n: int) -> str:
    return f"SELECT account_id FROM accounts WHERE account_id IN ({_marks(n)}) ORDER BY account_id FOR UPDATE"


@lru_cache(maxsize=8)
def _held(n: int) -> str:
    return f"SELECT account_id, node, kind FROM trunk_leases WHERE call_id = ? AND account_id IN ({_marks(n)})"


@lru_cache(maxsize=8)
def _in_use(n: int) -> str:
    return (
        f"SELECT account_id, kind, sum(calls) FROM trunk_usage WHERE account_id IN ({_marks(n)}) AND expires > ?"
        " GROUP BY account_id, kind"
    )


@lru_cache(maxsize=8)
def _drop(n: int) -> str:
    return (
        f"DELETE FROM trunk_leases WHERE call_id = ? AND account_id IN ({_marks(n)}) RETURNING account_id, node, kind"
    )


_ADD = f"INSERT INTO trunk_leases ({', '.join(LeaseRow._fields)}) VALUES ({_marks(len(LeaseRow._fields))})"
_DROP_ONE = "DELETE FROM trunk_leases WHERE call_id = ? AND account_id = ?"
_COUNT_UP = (
    "INSERT INTO trunk_usage (account_id, node, kind, calls, expires) VALUES (?, ?, ?, 1, ?)"
    " ON CONFLICT (account_id, node, kind) DO UPDATE SET calls = trunk_usage.calls + 1, expires = excluded.expires"
)
_COUNT_DOWN = "UPDATE trunk_usage SET calls = calls - 1 WHERE account_id = ? AND node = ? AND kind = ? AND calls > 0"
_EXPIRED = "DELETE FROM trunk_usage WHERE expires <= ? RETURNING account_id, node, kind"
_DROP_EXPIRED = "DELETE FROM trunk_leases WHERE node = ? AND account_id = ? AND kind = ?"
_RENEW = {
    "sqlite": "UPDATE trunk_usage SET expires = ? WHERE node = ?",
    # in key order, as every other writer of these rows, so a renewal and a release never deadlock
    "postgresql": "UPDATE trunk_usage SET expires = ? WHERE (account_id, node, kind) IN (SELECT account_id, node, kind"
    " FROM trunk_usage WHERE node = ? ORDER BY account_id, node, kind FOR UPDATE)",
}
_PRUNE = "DELETE FROM trunk_usage WHERE node = ? AND calls <= 0"
_DROP_NODE = ("DELETE FROM trunk_leases WHERE node = ?", "DELETE FROM trunk_usage WHERE node = ?")


async def take(
    store: Store,
    account_ids: Iterable[str],
    call_id: str,
    now: float,
    expires: float,
    choose: Callable[[Counts], tuple[T, list[LeaseRow]]],
) -> T:
    """One transaction: lock the accounts, sum their live usage (without this call's), and add the leases `choose`
    returns with its answer for those counts (none when it refuses the call), each counted in its process's usage."""
    ids = sorted(set(account_ids))
    queries: list[Statement] = [(_held(len(ids)), [call_id, *ids]), (_in_use(len(ids)), [*ids, now])]
    if store.dialect == "postgresql":  # SQLite has no row locks: a writer holds the database from BEGIN IMMEDIATE
        queries.insert(0, (_lock(len(ids)), ids))

    def then(results: list[list[tuple]]) -> tuple[T, Writes]:
        held, live = results[-2], results[-1]
        used = _counts(ids, live)
        for account_id, _node, kind in held:
            used[account_id][kind] = max(0, used[account_id][kind] - 1)
        answer, rows = choose(used)
        writes = _uncounted(held) + [(_DROP_ONE, [(call_id, account_id) for account_id, _, _ in held])]
        writes.append((_ADD, [tuple(row) for row in rows]))
        writes.append((_COUNT_UP, sorted((row.account_id, row.node, row.kind, expires) for row in rows)))
        return answer, writes

    return await store.quick_write(queries, then)


async def give_back(store: Store, call_id: str, account_ids: Iterable[str]) -> None:
    """The call's leases are gone, and uncounted, for every process."""
    ids = sorted(set(account_ids))
    await store.quick_write([(_drop(len(ids)), [call_id, *ids])], lambda results: (None, _uncounted(results[0])))


def _uncounted(leases: list[tuple]) -> Writes:
    """Take the leases (account, node, kind) off their usage counters, in key order."""
    return [(_COUNT_DOWN, sorted(leases))]


async def in_use(tx: Tx, account_ids: Iterable[str], now: float) -> Counts:
    """Live calls of each account by kind; the counters of a process gone count for nothing once expired."""
    ids = list(account_ids)
    rows = await tx.conn.exec_driver_sql(driver_sql(tx.conn.dialect.name, _in_use(len(ids))), (*ids, now))
    return _counts(ids, rows)


def _counts(account_ids: list[str], rows: Iterable) -> Counts:
    out: Counts = {account_id: Counter() for account_id in account_ids}
    for account_id, kind, number in rows:
        out[account_id][kind] = int(number)
    return out


async def renew(tx: Tx, node: str, now: float, expires: float) -> None:
    """Forget the counters of processes that died (and their leases), push back this process's, and drop those
    of its counters that count nothing."""
    dialect = tx.conn.dialect.name
    expired = [tuple(row) for row in await tx.conn.exec_driver_sql(driver_sql(dialect, _EXPIRED), (now,))]
    if expired:
        await tx.conn.exec_driver_sql(driver_sql(dialect, _DROP_EXPIRED), [(n, a, k) for a, n, k in expired])
    await tx.conn.exec_driver_sql(driver_sql(dialect, _RENEW[dialect]), (expires, node))
    await tx.conn.exec_driver_sql(driver_sql(dialect, _PRUNE), (node,))


async def drop_node(tx: Tx, node: str) -> None:
    """Every lease and counter of a process that stops."""
    for sql in _DROP_NODE:
        await tx.conn.exec_driver_sql(driver_sql(tx.conn.dialect.name, sql), (node,))
