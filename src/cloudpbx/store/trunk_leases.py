"""Trunk leases and usage: the carrier calls in progress per charged account, counted and changed under a row lock on
the accounts so every process sharing the database counts the same calls.

A call holds one `trunk_leases` row per charged account, and adds one to its process's `trunk_usage` counter of that
account and kind in the same transaction; a decision sums the live counters (a few rows, whatever the number of
calls). Taking and giving back run as quick writes (`Store.quick_write`). Taking first undoes a lease the same
call may hold from an attempt whose commit was in doubt, so running it again gives the same answer.

An answered per-minute call adds its rate to its counters' `rate` and `rate * answered - 60 * surcharge` to their
`rate_offset`, so the running cost of every counted call is `(rate * now - rate_offset) / 60` units from the same
few rows; giving the lease back takes both off again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import NamedTuple, TypeVar

from cloudpbx.store.documents import Store, Tx
from cloudpbx.store.quick_writes import Statement, Writes, driver_sql

T = TypeVar("T")
Counts = dict[str, Counter[str]]  # account id → live calls by kind
Running = dict[str, tuple[int, int]]  # account id → (rate, rate_offset) of its counted answered per-minute calls


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
    return (
        "SELECT account_id, node, kind, rate, rate_offset FROM trunk_leases"
        f" WHERE call_id = ? AND account_id IN ({_marks(n)})"
    )


@lru_cache(maxsize=8)
def _in_use(n: int) -> str:
    return (
        "SELECT account_id, kind, sum(calls), sum(rate), sum(rate_offset) FROM trunk_usage"
        f" WHERE account_id IN ({_marks(n)}) AND expires > ?"
        " GROUP BY account_id, kind"
    )


@lru_cache(maxsize=8)
def _drop(n: int) -> str:
    return (
        f"DELETE FROM trunk_leases WHERE call_id = ? AND account_id IN ({_marks(n)})"
        " RETURNING account_id, node, kind, rate, rate_offset"
    )


@lru_cache(maxsize=256)
def _unanswered(accounts_n: int, calls_n: int) -> str:
    return (
        "SELECT call_id, account_id, node FROM trunk_leases WHERE kind = 'per_minute' AND answered IS NULL"
        f" AND account_id IN ({_marks(accounts_n)}) AND call_id IN ({_marks(calls_n)})"
    )


_ADD = f"INSERT INTO trunk_leases ({', '.join(LeaseRow._fields)}) VALUES ({_marks(len(LeaseRow._fields))})"
_DROP_ONE = "DELETE FROM trunk_leases WHERE call_id = ? AND account_id = ?"
_COUNT_UP = (
    "INSERT INTO trunk_usage (account_id, node, kind, calls, expires, renewed) VALUES (?, ?, ?, 1, ?, ?)"
    " ON CONFLICT (account_id, node, kind) DO UPDATE SET calls = trunk_usage.calls + 1, expires = excluded.expires,"
    " renewed = excluded.renewed"
)
_COUNT_DOWN = (
    "UPDATE trunk_usage SET calls = calls - 1, rate = rate - ?, rate_offset = rate_offset - ?"
    " WHERE account_id = ? AND node = ? AND kind = ? AND calls > 0"
)
_ANSWER = (
    "UPDATE trunk_leases SET answered = ?, rate = ?, rate_offset = ?, billing = ? WHERE call_id = ? AND account_id = ?"
)
_RUN = (
    "UPDATE trunk_usage SET rate = rate + ?, rate_offset = rate_offset + ?"
    " WHERE account_id = ? AND node = ? AND kind = 'per_minute'"
)
_DEAD = (
    "SELECT l.call_id, l.answered, l.billing, u.renewed FROM trunk_leases l JOIN trunk_usage u"
    " ON u.account_id = l.account_id AND u.node = l.node AND u.kind = l.kind"
    " WHERE u.expires <= ? AND l.answered IS NOT NULL AND l.billing IS NOT NULL"
)
_EXPIRED = "DELETE FROM trunk_usage WHERE expires <= ? RETURNING account_id, node, kind"
_DROP_EXPIRED = "DELETE FROM trunk_leases WHERE node = ? AND account_id = ? AND kind = ?"
_RENEW = {
    "sqlite": "UPDATE trunk_usage SET expires = ?, renewed = ? WHERE node = ?",
    # in key order, as every other writer of these rows, so a renewal and a release never deadlock
    "postgresql": "UPDATE trunk_usage SET expires = ?, renewed = ? WHERE (account_id, node, kind) IN"
    " (SELECT account_id, node, kind"
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
    choose: Callable[[Counts, Running], tuple[T, list[LeaseRow]]],
) -> T:
    """One transaction: lock the accounts, sum their live usage and running cost (without this call's), and add the
    leases `choose` returns with its answer for those (none when it refuses the call), each counted in its process's
    usage."""
    ids = sorted(set(account_ids))
    queries: list[Statement] = [(_held(len(ids)), [call_id, *ids]), (_in_use(len(ids)), [*ids, now])]
    if store.dialect == "postgresql":  # SQLite has no row locks: a writer holds the database from BEGIN IMMEDIATE
        queries.insert(0, (_lock(len(ids)), ids))

    def then(results: list[list[tuple]]) -> tuple[T, Writes]:
        held, live = results[-2], results[-1]
        used, running = _counts(ids, live), _running(ids, live)
        for account_id, _node, kind, rate, offset in held:
            used[account_id][kind] = max(0, used[account_id][kind] - 1)
            running[account_id] = (running[account_id][0] - rate, running[account_id][1] - offset)
        answer, rows = choose(used, running)
        writes = _uncounted(held) + [(_DROP_ONE, [(call_id, held_row[0]) for held_row in held])]
        writes.append((_ADD, [tuple(row) for row in rows]))
        writes.append((_COUNT_UP, sorted((row.account_id, row.node, row.kind, expires, now) for row in rows)))
        return answer, writes

    return await store.quick_write(queries, then)


async def give_back(store: Store, call_id: str, account_ids: Iterable[str]) -> None:
    """The call's leases are gone, and uncounted, for every process."""
    ids = sorted(set(account_ids))
    await store.quick_write([(_drop(len(ids)), [call_id, *ids])], lambda results: (None, _uncounted(results[0])))


class Answer(NamedTuple):
    """A per-minute call's answer as its leases keep it: its rate, the offset of its running cost, and its billing."""

    call_id: str
    account_ids: tuple[str, ...]
    answered: float
    rate: int
    offset: int
    billing: str


async def answer(store: Store, answers: list[Answer]) -> None:
    """The calls' unanswered per-minute leases are answered, in one transaction: they keep each call's rate and
    billing, and their counters count its running cost, for every process. Counters change in key order."""
    by_call = {a.call_id: a for a in answers}
    wanted = {(a.call_id, account_id) for a in answers for account_id in a.account_ids}
    account_ids = sorted({account_id for _, account_id in wanted})
    query = (_unanswered(len(account_ids), len(by_call)), [*account_ids, *sorted(by_call)])

    def then(results: list[list[tuple]]) -> tuple[None, Writes]:
        found = sorted(row for row in results[0] if (row[0], row[1]) in wanted)
        marked: list[tuple] = []
        running: dict[tuple[str, str], tuple[int, int]] = {}
        for call_id, account_id, node in found:
            call = by_call[call_id]
            marked.append((call.answered, call.rate, call.offset, call.billing, call_id, account_id))
            rate, offset = running.get((account_id, node), (0, 0))
            running[(account_id, node)] = (rate + call.rate, offset + call.offset)
        added = [(rate, offset, account_id, node) for (account_id, node), (rate, offset) in sorted(running.items())]
        return None, [(_ANSWER, marked), (_RUN, added)]

    await store.quick_write([query], then)


def _uncounted(leases: list[tuple]) -> Writes:
    """Take the leases (account, node, kind, rate, offset) off their usage counters, in key order."""
    return [(_COUNT_DOWN, [(rate, offset, a, n, k) for a, n, k, rate, offset in sorted(leases)])]


async def in_use(tx: Tx, account_ids: Iterable[str], now: float) -> tuple[Counts, Running]:
    """Live calls of each account by kind, and their running cost; the counters of a process gone count for nothing
    once expired."""
    ids = list(account_ids)
    sql = driver_sql(tx.conn.dialect.name, _in_use(len(ids)))
    rows = [tuple(row) for row in await tx.conn.exec_driver_sql(sql, (*ids, now))]
    return _counts(ids, rows), _running(ids, rows)


def _counts(account_ids: list[str], rows: Iterable) -> Counts:
    out: Counts = {account_id: Counter() for account_id in account_ids}
    for account_id, kind, number, *_ in rows:
        out[account_id][kind] = int(number)
    return out


def _running(account_ids: list[str], rows: Iterable) -> Running:
    out = dict.fromkeys(account_ids, (0, 0))
    for account_id, _kind, _calls, rate, offset in rows:
        out[account_id] = (out[account_id][0] + int(rate or 0), out[account_id][1] + int(offset or 0))
    return out


async def dead(tx: Tx, now: float) -> list[tuple[str, float, str, float]]:
    """Answered per-minute calls of processes whose counters expired: (lease call id, answered, billing JSON, the
    process's last renewal), one row per charged account."""
    return [tuple(row) for row in await tx.conn.exec_driver_sql(driver_sql(tx.conn.dialect.name, _DEAD), (now,))]


async def renew(tx: Tx, node: str, now: float, expires: float) -> None:
    """Forget the counters of processes that died (and their leases), push back this process's, and drop those
    of its counters that count nothing."""
    dialect = tx.conn.dialect.name
    expired = [tuple(row) for row in await tx.conn.exec_driver_sql(driver_sql(dialect, _EXPIRED), (now,))]
    if expired:
        await tx.conn.exec_driver_sql(driver_sql(dialect, _DROP_EXPIRED), [(n, a, k) for a, n, k in expired])
    await tx.conn.exec_driver_sql(driver_sql(dialect, _RENEW[dialect]), (expires, now, node))
    await tx.conn.exec_driver_sql(driver_sql(dialect, _PRUNE), (node,))


async def drop_node(tx: Tx, node: str) -> None:
    """Every lease and counter of a process that stops."""
    for sql in _DROP_NODE:
        await tx.conn.exec_driver_sql(driver_sql(tx.conn.dialect.name, sql), (node,))
