"""The document store: JSON documents per account, unique keys and the account tree.

Documents are dicts in KAZOO's shape: `_id`, `_rev`, public fields, and private `pvt_*` fields
(`pvt_type`, `pvt_account_id`, `pvt_created`, `pvt_modified`, `pvt_deleted`).
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cloudpbx.store.errors import BadId, Conflict, NotFound, UniqueViolation
from cloudpbx.store.ids import gregorian_now, is_name, new_id, next_revision
from cloudpbx.store.points import UNAVAILABLE, point_reader
from cloudpbx.store.quick_writes import Point, Statement, Then, driver_sql, on_pooled
from cloudpbx.store.tables import (
    accounts,
    attachments,
    cdrs,
    doc_keys,
    docs,
    ledger_balances,
    ledger_entries,
    login_failures,
    login_throttle,
    low_balance_alerts,
    notify_outbox,
    payment_attempts,
    services_audit,
    services_state,
    topup_attempts,
)

Doc = dict[str, Any]
# What an account's deletion removes, the tree row last
ACCOUNT_TABLES = (
    cdrs,
    attachments,
    doc_keys,
    docs,
    ledger_entries,
    ledger_balances,
    payment_attempts,
    services_state,
    services_audit,
    topup_attempts,
    low_balance_alerts,
    notify_outbox,
    login_throttle,
    login_failures,
    accounts,
)
Key = tuple[str, str]
T = TypeVar("T")

SYSTEM = "system"  # the partition of platform-wide documents (system configs, phone numbers)


@dataclass(frozen=True)
class Attachment:
    """A binary stored beside a document (a logo, an audio file)."""

    name: str
    content_type: str
    content: bytes

    @property
    def length(self) -> int:
        return len(self.content)


def load_row(row) -> Doc:
    """The document a stored row (id, rev, body) holds."""
    doc = orjson.loads(row.body)
    doc["_id"] = row.id
    doc["_rev"] = row.rev
    return doc


class Tx:
    """Operations inside one database transaction."""

    def __init__(self, conn: AsyncConnection):
        self.conn = conn

    async def get(self, account_id: str, doc_id: str, *, deleted: bool = False) -> Doc:
        row = await self.row(account_id, doc_id)
        if row is None or (row.deleted and not deleted):
            raise NotFound(doc_id)
        return load_row(row)

    async def row(self, account_id: str, doc_id: str):
        """The stored row (id, rev, body, deleted) of a document, deleted or not; None when there is none."""
        query = select(docs.c.id, docs.c.rev, docs.c.body, docs.c.deleted).where(
            docs.c.account_id == account_id, docs.c.id == doc_id
        )
        return (await self.conn.execute(query)).first()

    async def find(self, account_id: str, doc_id: str) -> Doc | None:
        try:
            return await self.get(account_id, doc_id)
        except NotFound:
            return None

    async def list(
        self, account_id: str, doc_type: str, *, start: str | None = None, limit: int | None = None
    ) -> list[Doc]:
        """Live documents of a type in id order, from `start` (inclusive)."""
        query = select(docs.c.id, docs.c.rev, docs.c.body).where(
            docs.c.account_id == account_id, docs.c.type == doc_type, docs.c.deleted.is_(False)
        )
        if start is not None:
            query = query.where(docs.c.id >= start)
        query = query.order_by(docs.c.id)
        if limit is not None:
            query = query.limit(limit)
        return [load_row(row) for row in await self.conn.execute(query)]

    async def get_many(self, account_id: str, ids: Iterable[str]) -> dict[str, Doc]:
        ids = list(set(ids))
        if not ids:
            return {}
        rows = await self.conn.execute(
            select(docs.c.id, docs.c.rev, docs.c.body).where(
                docs.c.account_id == account_id, docs.c.id.in_(ids), docs.c.deleted.is_(False)
            )
        )
        return {row.id: load_row(row) for row in rows}

    async def count(self, account_id: str, doc_type: str) -> int:
        query = select(func.count()).where(
            docs.c.account_id == account_id, docs.c.type == doc_type, docs.c.deleted.is_(False)
        )
        return (await self.conn.execute(query)).scalar_one()

    async def save(self, doc: Doc, keys: Iterable[Key] | None = None, *, expect_rev: str | None = None) -> Doc:
        """Insert or replace a document; `keys`, when given, become the unique keys it holds.

        `expect_rev` (defaulting to the doc's `_rev`) makes a concurrent change a Conflict instead of a lost update.
        """
        account_id = doc["pvt_account_id"]
        doc_id = doc["_id"]
        if not is_name(doc_id):
            raise BadId(doc_id)
        now = gregorian_now()
        old_rev = expect_rev if expect_rev is not None else doc.get("_rev")
        doc.setdefault("pvt_created", now)
        doc["pvt_modified"] = now
        doc.setdefault("pvt_deleted", False)
        body = orjson.dumps({k: v for k, v in doc.items() if k not in ("_id", "_rev")})
        rev = next_revision(old_rev, body)
        values = dict(
            type=doc["pvt_type"],
            rev=rev,
            created=doc["pvt_created"],
            modified=now,
            deleted=bool(doc["pvt_deleted"]),
            body=body.decode(),
        )
        if old_rev is None:
            try:
                async with self.conn.begin_nested():
                    await self.conn.execute(insert(docs).values(account_id=account_id, id=doc_id, **values))
            except IntegrityError as exc:
                raise Conflict(doc_id) from exc
        else:
            result = await self.conn.execute(
                update(docs)
                .where(docs.c.account_id == account_id, docs.c.id == doc_id, docs.c.rev == old_rev)
                .values(**values)
            )
            if result.rowcount != 1:
                raise Conflict(doc_id)
        if keys is not None:
            await self.set_keys(account_id, doc_id, keys)
        doc["_rev"] = rev
        return doc

    async def set_keys(self, account_id: str, doc_id: str, keys: Iterable[Key]) -> None:
        """Make `keys` exactly the unique keys held by the document."""
        wanted = set(keys)
        held = {
            (r.kind, r.key)
            for r in await self.conn.execute(
                select(doc_keys.c.kind, doc_keys.c.key).where(
                    doc_keys.c.account_id == account_id, doc_keys.c.doc_id == doc_id
                )
            )
        }
        gone = held - wanted
        if gone:
            await self.conn.execute(
                delete(doc_keys).where(
                    doc_keys.c.account_id == account_id,
                    doc_keys.c.doc_id == doc_id,
                    or_(*[and_(doc_keys.c.kind == k, doc_keys.c.key == v) for k, v in gone]),
                )
            )
        for kind, key in sorted(wanted - held):
            try:
                async with self.conn.begin_nested():
                    await self.conn.execute(
                        insert(doc_keys).values(kind=kind, key=key, account_id=account_id, doc_id=doc_id)
                    )
            except IntegrityError as exc:
                raise UniqueViolation(kind, key, await self.lookup(kind, key)) from exc

    async def lookup(self, kind: str, key: str) -> tuple[str, str] | None:
        row = (
            await self.conn.execute(
                select(doc_keys.c.account_id, doc_keys.c.doc_id).where(doc_keys.c.kind == kind, doc_keys.c.key == key)
            )
        ).first()
        return (row.account_id, row.doc_id) if row else None

    async def keys(
        self, account_id: str, kind: str, *, after: str | None = None, limit: int | None = None
    ) -> builtins.list[tuple[str, str]]:
        """(key, doc_id) of one kind held in an account, in key order; a page of them with `after` and `limit`."""
        query = (
            select(doc_keys.c.key, doc_keys.c.doc_id)
            .where(doc_keys.c.account_id == account_id, doc_keys.c.kind == kind)
            .order_by(doc_keys.c.key)
        )
        if after is not None:
            query = query.where(doc_keys.c.key > after)
        if limit is not None:
            query = query.limit(limit)
        return [(r.key, r.doc_id) for r in await self.conn.execute(query)]

    async def count_keys(self, account_id: str, kind: str) -> int:
        query = select(func.count()).where(doc_keys.c.account_id == account_id, doc_keys.c.kind == kind)
        return (await self.conn.execute(query)).scalar_one()

    async def keys_with_prefix(
        self, kind: str, prefix: str, *, offset: int = 0, limit: int | None = None
    ) -> builtins.list[str]:
        """Keys of one kind that start with `prefix`, in key order (number searches walk the pool this way)."""
        query = (
            select(doc_keys.c.key)
            .where(doc_keys.c.kind == kind, doc_keys.c.key.startswith(prefix, autoescape=True))
            .order_by(doc_keys.c.key)
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        return [r.key for r in await self.conn.execute(query)]

    async def count_keys_below(self, kind: str, path: str) -> int:
        """How many keys of one kind the descendants of the account at `path` hold (cascade quantities)."""
        query = (
            select(func.count())
            .select_from(doc_keys.join(accounts, doc_keys.c.account_id == accounts.c.account_id))
            .where(doc_keys.c.kind == kind, accounts.c.path.startswith(path + "/", autoescape=True))
        )
        return (await self.conn.execute(query)).scalar_one()

    async def touch(self, account_id: str, doc_id: str, doc_type: str) -> None:
        """Give a marker document a new revision, creating it if need be: caches in every process that hold what
        the marker stands for compare its revision. Concurrent writers wait for each other instead of conflicting."""
        values = {"rev": f"1-{new_id()}", "modified": gregorian_now()}
        where = and_(docs.c.account_id == account_id, docs.c.id == doc_id)
        if (await self.conn.execute(update(docs).where(where).values(**values))).rowcount == 1:
            return
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(
                    insert(docs).values(
                        account_id=account_id,
                        id=doc_id,
                        type=doc_type,
                        created=values["modified"],
                        deleted=False,
                        body="{}",
                        **values,
                    )
                )
        except IntegrityError:  # another writer created it first
            await self.conn.execute(update(docs).where(where).values(**values))

    async def soft_delete(self, doc: Doc) -> Doc:
        """Mark deleted and release its unique keys, so the names can be reused."""
        doc["pvt_deleted"] = True
        return await self.save(doc, keys=())

    async def purge(self, account_id: str, doc_id: str) -> None:
        await self.delete_attachment(account_id, doc_id)
        await self.conn.execute(
            delete(doc_keys).where(doc_keys.c.account_id == account_id, doc_keys.c.doc_id == doc_id)
        )
        await self.conn.execute(delete(docs).where(docs.c.account_id == account_id, docs.c.id == doc_id))

    # Attachments --------------------------------------------------------------------------------------------------

    async def put_attachment(self, account_id: str, doc_id: str, name: str, content_type: str, content: bytes) -> None:
        """Store (or replace) one named binary of a document."""
        await self.delete_attachment(account_id, doc_id, name)
        await self.conn.execute(
            insert(attachments).values(
                account_id=account_id,
                doc_id=doc_id,
                name=name,
                content_type=content_type,
                length=len(content),
                content=content,
            )
        )

    async def get_attachment(self, account_id: str, doc_id: str, name: str) -> Attachment | None:
        row = (
            await self.conn.execute(
                select(attachments.c.content_type, attachments.c.content).where(
                    attachments.c.account_id == account_id, attachments.c.doc_id == doc_id, attachments.c.name == name
                )
            )
        ).first()
        return Attachment(name, row.content_type, bytes(row.content)) if row else None

    async def delete_attachment(self, account_id: str, doc_id: str, name: str | None = None) -> None:
        """Remove one binary of a document, or all of them when `name` is None."""
        query = delete(attachments).where(attachments.c.account_id == account_id, attachments.c.doc_id == doc_id)
        if name is not None:
            query = query.where(attachments.c.name == name)
        await self.conn.execute(query)

    # The account tree -----------------------------------------------------------------------------------------

    async def account_row(self, account_id: str):
        return (await self.conn.execute(select(accounts).where(accounts.c.account_id == account_id))).first()

    async def put_account_row(self, account_id: str, **values) -> None:
        if await self.account_row(account_id) is None:
            await self.conn.execute(insert(accounts).values(account_id=account_id, **values))
        else:
            await self.conn.execute(update(accounts).where(accounts.c.account_id == account_id).values(**values))

    async def account_rows_under(self, path: str) -> builtins.list:
        """Every account whose path starts with `path/` (the descendants of the account at `path`)."""
        prefix = path + "/"
        rows = await self.conn.execute(
            select(accounts).where(accounts.c.path.startswith(prefix, autoescape=True)).order_by(accounts.c.path)
        )
        return list(rows)

    async def child_rows(self, parent_id: str | None) -> builtins.list:
        cond = accounts.c.parent_id.is_(None) if parent_id is None else accounts.c.parent_id == parent_id
        return list(await self.conn.execute(select(accounts).where(cond).order_by(accounts.c.name)))

    async def delete_account_rows(self, account_id: str) -> None:
        """Everything the account holds, its books too (as KAZOO drops an account's databases); its reseller's
        entries stay in the reseller's books. Its carrier calls in progress end and their counters expire on their
        own."""
        for table in ACCOUNT_TABLES:
            await self.conn.execute(delete(table).where(table.c.account_id == account_id))


class Store:
    """Entry point: reads on pooled connections, writes in transactions (serialised on SQLite)."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        self._points = point_reader(engine)  # the hot path's reads by primary key, without SQLAlchemy

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        async with self.engine.connect() as conn:
            yield Tx(conn)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """One transaction: everything in it is stored, or nothing is."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield Tx(conn)
            return
        async with self._write_lock, self.engine.connect() as conn:
            conn = await conn.execution_options(writer=True)
            async with conn.begin():
                yield Tx(conn)
        if self._points:  # the point reader may hold rows older than this commit
            self._points.recheck()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def quick_write(self, queries: list[Statement], then: Then[T], *, changes: Sequence[Point] = ()) -> T:
        """A short transaction of the call path (`quick_writes`), on the point reader's connection when it can
        run there, else on a pooled one; `changes` names the point reads whose rows it may change (a balance), so
        the point reader forgets them. On SQLite it holds this process's write turn like any writer."""
        if self._points is not None:
            if self._write_lock is None:
                answer = await self._points.write(queries, then, changes)
            else:
                async with self._write_lock:
                    answer = await self._points.write(queries, then, changes)
            if answer is not UNAVAILABLE:
                return answer
        async with self.write() as tx:
            return await on_pooled(tx.conn, queries, then)

    async def get(self, account_id: str, doc_id: str) -> Doc:
        doc = await self.find(account_id, doc_id)
        if doc is None:
            raise NotFound(doc_id)
        return doc

    async def find(self, account_id: str, doc_id: str) -> Doc | None:
        row = await self.find_row(account_id, doc_id)
        return load_row(row) if row else None

    async def find_row(self, account_id: str, doc_id: str):
        """A live document's stored row (id, rev, body), for readers that cache what they decode by revision."""
        row = await self._points.doc(account_id, doc_id) if self._points else UNAVAILABLE
        if row is UNAVAILABLE:
            async with self.read() as tx:
                row = await tx.row(account_id, doc_id)
        return row if row and not row.deleted else None

    async def lookup(self, kind: str, key: str) -> tuple[str, str] | None:
        row = await self._points.key(kind, key) if self._points else UNAVAILABLE
        if row is UNAVAILABLE:
            async with self.read() as tx:
                return await tx.lookup(kind, key)
        return (row.account_id, row.doc_id) if row else None

    async def account_row(self, account_id: str):
        row = await self._points.account(account_id) if self._points else UNAVAILABLE
        if row is UNAVAILABLE:
            async with self.read() as tx:
                return await tx.account_row(account_id)
        return row

    async def point(self, sql: str, params: tuple) -> tuple | None:
        """One row by primary key of any table (SQL with `?` placeholders), through the point reader when it can."""
        row = await self._points.one(sql, params) if self._points else UNAVAILABLE
        if row is UNAVAILABLE:
            async with self.read() as tx:
                found = (await tx.conn.exec_driver_sql(driver_sql(self.dialect, sql), params)).first()
            return tuple(found) if found else None
        return row

    async def dispose(self) -> None:
        if self._points:
            await self._points.close()
        await self.engine.dispose()
