"""Point reads (one row by primary key) without SQLAlchemy's async machinery, for the per-request hot path.

Through SQLAlchemy one such read costs about half a millisecond of CPU: on SQLite each statement is several
hand-offs to aiosqlite's worker thread, on PostgreSQL a pooled read is four round trips (ping, BEGIN, SELECT,
ROLLBACK). Here SQLite is read on the event loop's own thread (a few microseconds; in WAL mode readers never
wait for writers) and PostgreSQL through a small asyncpg pool in autocommit, one round trip. Whenever a reader
cannot answer it returns UNAVAILABLE and the store asks its pooled connections instead.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import namedtuple

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudpbx.store.database import COUNT_SQL, count_statement
from cloudpbx.store.tables import accounts

UNAVAILABLE = object()  # "ask the pooled connections instead"

DocRow = namedtuple("DocRow", "id rev body deleted")
KeyRow = namedtuple("KeyRow", "account_id doc_id")
AccountRow = namedtuple("AccountRow", [column.name for column in accounts.c])
_ACCOUNT_FLAGS = [i for i, column in enumerate(accounts.c) if column.name in ("enabled", "superduper", "reseller")]

_DOC = "SELECT id, rev, body, deleted FROM docs WHERE account_id = ? AND id = ?"
_KEY = "SELECT account_id, doc_id FROM doc_keys WHERE kind = ? AND key = ?"
_ACCOUNT = f"SELECT {', '.join(AccountRow._fields)} FROM accounts WHERE account_id = ?"


class PointReader:
    """The three lookups of the hot path; subclasses say how one row is fetched."""

    async def _row(self, sql: str, params: tuple):
        raise NotImplementedError

    async def doc(self, account_id: str, doc_id: str):
        row = await self._row(_DOC, (account_id, doc_id))
        return DocRow(*row) if isinstance(row, tuple) else row

    async def key(self, kind: str, key: str):
        row = await self._row(_KEY, (kind, key))
        return KeyRow(*row) if isinstance(row, tuple) else row

    async def account(self, account_id: str):
        row = await self._row(_ACCOUNT, (account_id,))
        if not isinstance(row, tuple):
            return row
        values = list(row)
        for i in _ACCOUNT_FLAGS:
            values[i] = bool(values[i])
        return AccountRow(*values)

    def end_snapshot(self) -> None:
        """This process committed a write: reads from now on must see it."""

    async def close(self) -> None:
        raise NotImplementedError


class SqlitePoints(PointReader):
    """One read-only connection used on the loop's thread.

    The reads of one turn of the event loop share one read transaction: starting one takes the WAL read lock (two
    fcntl calls and a look at the WAL index), and under load a turn runs several requests. The snapshot ends when the
    loop turns again, when this process commits a write, or once it is SNAPSHOT_S old (a turn that waited on
    something else, such as a test's blocking HTTP call, must see what other processes wrote meanwhile).
    """

    SNAPSHOT_S = 0.001

    def __init__(self, path: str):
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._snapshot_at = 0.0

    async def _row(self, sql: str, params: tuple):
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=0)
                self._conn.execute("PRAGMA query_only = 1")
            now = time.monotonic()
            if self._conn.in_transaction and now - self._snapshot_at > self.SNAPSHOT_S:
                self.end_snapshot()
            if not self._conn.in_transaction:
                self._conn.execute("BEGIN")
                self._snapshot_at = now
                asyncio.get_running_loop().call_soon(self.end_snapshot)
            if COUNT_SQL:
                count_statement()
            rows = self._conn.execute(sql, params).fetchall()  # fetchall ends the statement
        except sqlite3.Error:
            self.end_snapshot()
            return UNAVAILABLE
        return rows[0] if rows else None

    def end_snapshot(self) -> None:
        if self._conn is not None and self._conn.in_transaction:
            try:
                self._conn.rollback()  # a read transaction: nothing to keep
            except sqlite3.Error:  # never leave a stale snapshot behind: start over with a new connection
                self._conn.close()
                self._conn = None

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PostgresPoints(PointReader):
    """A small asyncpg pool of its own, made on first use in the loop that uses it."""

    RETRY_S = 30.0  # after the pool could not be made, how long to leave it to the pooled connections

    def __init__(self, dsn: str):
        self.dsn = dsn
        self._pool = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failed_at: float | None = None

    async def _ready(self):
        loop = asyncio.get_running_loop()
        if self._pool is not None:
            return self._pool if loop is self._loop else None
        if self._failed_at is not None and time.monotonic() - self._failed_at < self.RETRY_S:
            return None
        try:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=8, timeout=5)
        except (OSError, asyncpg.PostgresError, ValueError):
            self._failed_at = time.monotonic()
            return None
        self._loop = loop
        return self._pool

    async def _row(self, sql: str, params: tuple):
        pool = await self._ready()
        if pool is None:
            return UNAVAILABLE
        if COUNT_SQL:
            count_statement()
        try:
            row = await pool.fetchrow(_NUMBERED[sql], *params)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return UNAVAILABLE
        return tuple(row) if row is not None else None

    async def close(self) -> None:
        if self._pool is not None and asyncio.get_running_loop() is self._loop:
            await self._pool.close()
        self._pool = None


def _numbered(sql: str) -> str:
    """`?` placeholders as asyncpg's `$1, $2, ...`."""
    parts = sql.split("?")
    return "".join(part + (f"${i}" if i < len(parts) else "") for i, part in enumerate(parts, 1))


_NUMBERED = {sql: _numbered(sql) for sql in (_DOC, _KEY, _ACCOUNT)}


def point_reader(engine: AsyncEngine) -> PointReader | None:
    url = engine.url
    if engine.dialect.name == "sqlite":
        return SqlitePoints(url.database) if url.database and url.database != ":memory:" else None
    if engine.dialect.name == "postgresql":
        return PostgresPoints(url.set(drivername="postgresql").render_as_string(hide_password=False))
    return None
