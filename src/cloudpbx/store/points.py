"""Point reads (one row by primary key) without SQLAlchemy's async machinery, for the per-request hot path, and
on the same connections the call path's quick writes (`quick_writes`).

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
from collections.abc import Sequence
from enum import Enum
from typing import Final, Literal, NamedTuple, TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudpbx.store import quick_writes
from cloudpbx.store.database import COUNT_SQL, count_statement
from cloudpbx.store.quick_writes import Point, Statement, Then, numbered
from cloudpbx.store.wal_checkpoints import WalCheckpoints

T = TypeVar("T")


class Sentinel(Enum):
    UNAVAILABLE = "ask the pooled connections instead"
    UNREAD = "not in the memo"


UNAVAILABLE: Final = Sentinel.UNAVAILABLE
_UNREAD: Final = Sentinel.UNREAD
Unavailable = Literal[Sentinel.UNAVAILABLE]

DocRow = namedtuple("DocRow", "id rev body deleted")
KeyRow = namedtuple("KeyRow", "account_id doc_id")


class AccountRow(NamedTuple):
    """The columns of `accounts` the hot path reads, in the order the SELECT below names them."""

    account_id: str
    parent_id: str | None
    path: str
    name: str
    realm: str
    enabled: bool
    superduper: bool
    reseller: bool


_ACCOUNT_FLAGS = [i for i, name in enumerate(AccountRow._fields) if name in ("enabled", "superduper", "reseller")]

_DOC = "SELECT id, rev, body, deleted FROM docs WHERE account_id = ? AND id = ?"
_KEY = "SELECT account_id, doc_id FROM doc_keys WHERE kind = ? AND key = ?"
_ACCOUNT = f"SELECT {', '.join(AccountRow._fields)} FROM accounts WHERE account_id = ?"


class PointReader:
    """The three lookups of the hot path; subclasses say how one row is fetched."""

    async def _row(self, sql: str, params: tuple) -> tuple | Unavailable | None:
        raise NotImplementedError

    async def doc(self, account_id: str, doc_id: str) -> DocRow | Unavailable | None:
        row = await self._row(_DOC, (account_id, doc_id))
        return DocRow(*row) if isinstance(row, tuple) else row

    async def key(self, kind: str, key: str) -> KeyRow | Unavailable | None:
        row = await self._row(_KEY, (kind, key))
        return KeyRow(*row) if isinstance(row, tuple) else row

    async def account(self, account_id: str) -> AccountRow | Unavailable | None:
        row = await self._row(_ACCOUNT, (account_id,))
        if not isinstance(row, tuple):
            return row
        values = list(row)
        for i in _ACCOUNT_FLAGS:
            values[i] = bool(values[i])
        return AccountRow(*values)

    async def one(self, sql: str, params: tuple) -> tuple | Unavailable | None:
        """Any other row by primary key (a balance), fresh as the three lookups are."""
        return await self._row(sql, params)

    async def write(self, queries: list[Statement], then: Then[T], changes: Sequence[Point]) -> T | Unavailable:
        """A quick write (see `quick_writes`), or UNAVAILABLE when this reader cannot run it: nothing was written.
        `changes`: the point reads whose rows it may change (a balance), which this reader may have kept."""
        return UNAVAILABLE

    def recheck(self) -> None:
        """This process committed a write: reads from now on must see it."""

    async def close(self) -> None:
        raise NotImplementedError


class SqlitePoints(PointReader):
    """One connection used on the loop's thread, which keeps the rows it read while nothing changes.

    SQLite's `data_version` of a connection changes whenever another connection commits: this process's writer or
    another process. The reader checks it before a read when the last check is over CHECK_S old, and at once after
    this process committed, and drops its memo of rows when it moved. So a read sees this process's writes at once
    and other processes' within a millisecond, and under a read-mostly load most reads are a dictionary lookup.

    Quick writes run on this connection too. Its own commits leave its `data_version` alone, so they keep the memo,
    less the point reads they say they change (a batch of ledger entries moves balances).
    """

    CHECK_S = 0.001
    MEMO_ROWS = 50_000  # rows kept at most (then all dropped): a busy system's devices, their keys and accounts

    def __init__(self, path: str):
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._memo: dict[tuple[str, tuple], tuple | None] = {}
        self._version = None
        self._checked_at: float | None = None  # None: check before the next read
        self._checkpoints = WalCheckpoints(path)

    async def _row(self, sql: str, params: tuple) -> tuple | Unavailable | None:
        key = (sql, params)
        try:
            now = time.monotonic()
            conn = self._conn
            if conn is None or self._checked_at is None or now - self._checked_at > self.CHECK_S:
                conn = self._check(now)
            row = self._memo.get(key, _UNREAD)
            if row is _UNREAD:
                if COUNT_SQL:
                    count_statement()
                rows = conn.execute(sql, params).fetchall()
                row = rows[0] if rows else None
                if len(self._memo) >= self.MEMO_ROWS:
                    self._memo.clear()
                self._memo[key] = row
        except sqlite3.Error:
            self._reset()
            return UNAVAILABLE
        return row

    def _check(self, now: float) -> sqlite3.Connection:
        """The connection (opened if need be), its memo dropped if another connection committed since."""
        conn = self._conn
        if conn is None:
            conn = self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=0)
            conn.execute("PRAGMA synchronous = NORMAL")  # as the pooled connections: WAL commits without fsync
            # Most writes of a busy system are its quick writes: their WAL is checkpointed on a thread of its own
            # rather than inside a commit on the loop's thread (the pooled writers' commits still may).
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._checkpoints.start()
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version:
            self._memo.clear()
            self._version = version
        self._checked_at = now
        return conn

    async def write(self, queries: list[Statement], then: Then[T], changes: Sequence[Point]) -> T | Unavailable:
        """Run on the loop's thread; when another connection is writing (another process: this one's writers are
        held off by the store's write lock) it is left to the pooled connections, which wait their turn."""
        try:
            answer = quick_writes.on_sqlite(self._conn or self._check(time.monotonic()), queries, then)
        except sqlite3.Error:
            return UNAVAILABLE
        for point in changes:
            self._memo.pop(point, None)
        return answer

    def recheck(self) -> None:
        self._checked_at = None

    def _reset(self) -> None:
        """After an error, start over with a new connection and an empty memo."""
        self._memo.clear()
        self._checked_at = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        self._reset()
        await asyncio.to_thread(self._checkpoints.stop)


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

    async def _row(self, sql: str, params: tuple) -> tuple | Unavailable | None:
        pool = await self._ready()
        if pool is None:
            return UNAVAILABLE
        if COUNT_SQL:
            count_statement()
        try:
            row = await pool.fetchrow(numbered(sql), *params)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return UNAVAILABLE
        return tuple(row) if row is not None else None

    async def write(self, queries: list[Statement], then: Then[T], changes: Sequence[Point]) -> T | Unavailable:
        """Nothing is kept, so nothing to forget. When the connection fails, the transaction may have committed or
        not: the caller's statements, run again on a pooled connection, must give the same answer either way."""
        pool = await self._ready()
        if pool is None:
            return UNAVAILABLE
        try:
            return await quick_writes.on_postgres(pool, queries, then)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return UNAVAILABLE

    async def close(self) -> None:
        if self._pool is not None and asyncio.get_running_loop() is self._loop:
            await self._pool.close()
        self._pool = None


def point_reader(engine: AsyncEngine) -> PointReader | None:
    url = engine.url
    if engine.dialect.name == "sqlite":
        return SqlitePoints(url.database) if url.database and url.database != ":memory:" else None
    if engine.dialect.name == "postgresql":
        return PostgresPoints(url.set(drivername="postgresql").render_as_string(hide_password=False))
    return None
