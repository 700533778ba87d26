"""SQLite point reads on the event loop's own thread.

A primary-key lookup in SQLite takes a few microseconds; sent through aiosqlite it takes about half a
millisecond (each statement is several hand-offs to the connection's worker thread), which dominated every
API request. In WAL mode readers never wait for writers, so these reads do not stall the loop; whenever
SQLite reports an error the store falls back to its pooled connections.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple

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


class InlineReader:
    """One read-only connection, used only for single-row lookups by primary key."""

    def __init__(self, path: str):
        self.path = path
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> "InlineReader | None":
        path = engine.url.database
        if engine.dialect.name != "sqlite" or not path or path == ":memory:":
            return None
        return cls(path)

    def _row(self, sql: str, params: tuple):
        """The single row (or None), or UNAVAILABLE when SQLite could not answer at once."""
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=0)
                self._conn.execute("PRAGMA query_only = 1")
            if COUNT_SQL:
                count_statement()
            rows = self._conn.execute(sql, params).fetchall()  # fetchall ends the statement: no snapshot is kept
        except sqlite3.Error:
            return UNAVAILABLE
        return rows[0] if rows else None

    def doc(self, account_id: str, doc_id: str):
        row = self._row(_DOC, (account_id, doc_id))
        return DocRow(*row) if isinstance(row, tuple) else row

    def key(self, kind: str, key: str):
        row = self._row(_KEY, (kind, key))
        return KeyRow(*row) if isinstance(row, tuple) else row

    def account(self, account_id: str):
        row = self._row(_ACCOUNT, (account_id,))
        if not isinstance(row, tuple):
            return row
        values = list(row)
        for i in _ACCOUNT_FLAGS:
            values[i] = bool(values[i])
        return AccountRow(*values)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
