"""Short write transactions of the call path (trunk leases) without SQLAlchemy's async machinery, on the point
reader's connections: through SQLAlchemy each statement of such a transaction costs a hand-off to aiosqlite's
worker thread (SQLite) or a pooled round trip with its ping (PostgreSQL), and a carrier call takes and gives
back its trunks in two of them.

A quick write is a few queries, then a pure function of the rows they returned, then the writes that function
asks for, all in one transaction: the caller's code runs between the statements but can never suspend inside
the transaction, so on SQLite it runs start to end on the event loop's thread without letting any other task in.
When the point reader cannot run it, the same statements run in a pooled transaction (`on_pooled`). SQL is
written with `?` placeholders for both databases.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from cloudpbx.store.database import COUNT_SQL, count_statement

T = TypeVar("T")
Statement = tuple[str, Sequence[Any]]  # SQL with `?` placeholders and its parameters
Point = tuple[str, tuple]  # a point read (`Store.point`): its SQL and parameters
Writes = list[tuple[str, Sequence[Sequence[Any]]]]  # SQL and the parameter rows it runs for
Then = Callable[[list[list[tuple]]], tuple[T, Writes]]  # the queries' rows → the answer and the writes


def on_sqlite(conn: sqlite3.Connection, queries: list[Statement], then: Then[T]) -> T:
    """One transaction on a connection in autocommit mode. BEGIN IMMEDIATE fails at once (the connection waits
    for no lock) when another connection is writing; anything failing rolls back and raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        answer, writes = then([conn.execute(sql, params).fetchall() for sql, params in queries])
        for sql, rows in writes:
            conn.executemany(sql, rows)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    _count(queries, writes)
    return answer


async def on_postgres(pool: Any, queries: list[Statement], then: Then[T]) -> T:
    """One transaction on a connection of an asyncpg pool."""
    async with pool.acquire() as conn, conn.transaction():
        results = [[tuple(row) for row in await conn.fetch(numbered(sql), *params)] for sql, params in queries]
        answer, writes = then(results)
        for sql, rows in writes:
            await conn.executemany(numbered(sql), rows)
    _count(queries, writes)
    return answer


async def on_pooled(conn: AsyncConnection, queries: list[Statement], then: Then[T]) -> T:
    """The same statements in a transaction the caller opened on a pooled SQLAlchemy connection."""
    results = []
    for sql, params in queries:
        found = await conn.exec_driver_sql(driver_sql(conn.dialect.name, sql), tuple(params))  # one row of parameters
        results.append([tuple(row) for row in found])
    answer, writes = then(results)
    for sql, rows in writes:
        if rows:
            await conn.exec_driver_sql(driver_sql(conn.dialect.name, sql), list(rows))
    return answer


def driver_sql(dialect: str, sql: str) -> str:
    """The statement in the driver's placeholders: `?` for SQLite, `$1, $2, ...` for asyncpg."""
    return numbered(sql) if dialect == "postgresql" else sql


def _count(queries: list[Statement], writes: Writes) -> None:
    """Under CLOUDPBX_COUNT_SQL, each statement run counts as one."""
    if COUNT_SQL:
        for _ in range(len(queries) + sum(len(rows) for _, rows in writes)):
            count_statement()


@lru_cache(maxsize=256)
def numbered(sql: str) -> str:
    """`?` placeholders as asyncpg's `$1, $2, ...`."""
    parts = sql.split("?")
    return "".join(part + (f"${i}" if i < len(parts) else "") for i, part in enumerate(parts, 1))
