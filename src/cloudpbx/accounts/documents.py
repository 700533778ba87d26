"""Create, replace, patch and delete account documents: schema, defaults, private fields and unique keys.

Each document type is a `Kind`: its schema plus hooks for what is particular to it (unique keys,
hashing, references to other documents). Every write is one transaction.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cloudpbx import schemas
from cloudpbx.errors import Conflicting, Invalid, Missing
from cloudpbx.store import Conflict, Doc, NotFound, Store, Tx, UniqueViolation, load_row, new_id

Key = tuple[str, str]
# prepare(tx, account_id, new_doc, old_doc_or_None) -> None; may set pvt_ fields, raise Invalid
Prepare = Callable[[Tx, str, Doc, Doc | None], Awaitable[None]]


@dataclass(frozen=True)
class UniqueField:
    """How a unique-key clash is reported: the field path and message of the validation error."""

    path: str
    message: str


@dataclass
class Kind:
    name: str  # the API noun, also the schema name
    type: str  # pvt_type
    summary: tuple[str, ...] = ()  # listing fields; empty means the whole public document
    computed: Callable[[Doc], Doc] | None = None  # listing fields derived from the document
    keys: Callable[[str, Doc], list[Key]] = lambda account_id, doc: []
    unique: dict[str, UniqueField] = field(default_factory=dict)
    prepare: Prepare | None = None
    fixed_id: str | None = None  # singletons such as `limits`
    on_delete: Callable[[Tx, str, Doc], Awaitable[None]] | None = None  # release what the document held


def enabled(doc: Doc) -> bool:
    """Accounts, users and devices are enabled unless they say `enabled: false`."""
    return doc.get("enabled") is not False


def public(doc: Doc) -> Doc:
    """What clients see: no `_` or `pvt_` keys, plus `id` (a `_read_only` object passes through)."""
    out = {k: v for k, v in doc.items() if not k.startswith(("pvt_", "_")) or k == "_read_only"}
    if "_id" in doc:
        out["id"] = doc["_id"]
    return out


def private(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if k.startswith("pvt_") or k in ("_id", "_rev")}


def client_fields(data: Any) -> Doc:
    if not isinstance(data, dict):
        raise Invalid.field("data", "type", "Value did not match type(s): object", target="object")
    return {k: v for k, v in data.items() if not (k.startswith("_") or k.startswith("pvt_")) and k != "id"}


def merge_patch(base: Any, patch: Any) -> Any:
    """JSON merge patch: objects merge recursively and `null` removes a key."""
    if not isinstance(patch, dict) or not isinstance(base, dict):
        return copy.deepcopy(patch)
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def checked(kind: Kind, data: Doc) -> Doc:
    filled, errors = schemas.validate(kind.name, data)
    if errors:
        raise Invalid(errors)
    return filled


async def _check_keys(tx: Tx, kind: Kind, account_id: str, doc: Doc, keys: list[Key]) -> None:
    """Report every clash up front; the unique index still guards against races at save time."""
    errors: dict = {}
    for key_kind, key in keys:
        holder = await tx.lookup(key_kind, key)
        if holder and holder != (account_id, doc["_id"]):
            errors.update(_unique_error(kind, key_kind, key))
    if errors:
        raise Invalid(errors)


def _unique_error(kind: Kind, key_kind: str, key: str) -> dict:
    where = kind.unique.get(key_kind, UniqueField(key_kind, f"{key_kind} already in use"))
    return {where.path: {"unique": {"message": where.message, "cause": key.split(":", 1)[-1]}}}


async def save_checked(tx: Tx, kind: Kind, account_id: str, doc: Doc, old: Doc | None) -> Doc:
    """Run the kind's hook, check unique keys and store `doc` (new when `old` is None).

    A concurrent writer (PostgreSQL runs them side by side) surfaces as a store Conflict, also from the hook's own
    writes; when that writer took one of our unique keys the client gets that validation error, else a 409.
    """
    try:
        if kind.prepare:
            await kind.prepare(tx, account_id, doc, old)
        keys = kind.keys(account_id, doc)
        await _check_keys(tx, kind, account_id, doc, keys)
        return await tx.save(doc, keys, expect_rev=old["_rev"] if old else None)
    except UniqueViolation as exc:
        raise Invalid(_unique_error(kind, exc.kind, exc.key)) from exc
    except Conflict as exc:
        await _check_keys(tx, kind, account_id, doc, kind.keys(account_id, doc))
        raise Conflicting() from exc


class Documents:
    """The document operations the API (and later the SIP side) call for account-owned documents."""

    VIEWS = 10_000  # client views kept for reuse

    def __init__(self, store: Store):
        self.store = store
        self._views: dict[tuple[str, str], tuple[str, str | None, Doc]] = {}  # (account, id) -> (rev, type, view)

    async def get(self, kind: Kind, account_id: str, doc_id: str) -> Doc:
        try:
            doc = await self.store.get(account_id, doc_id)
        except NotFound as exc:
            raise Missing(doc_id) from exc
        if doc.get("pvt_type") != kind.type:
            raise Missing(doc_id)
        return doc

    async def find(self, kind: Kind, account_id: str, doc_id: str) -> Doc | None:
        """The document if it exists and is of this kind, else None."""
        doc = await self.store.find(account_id, doc_id)
        return doc if doc is not None and doc.get("pvt_type") == kind.type else None

    async def get_many(self, account_id: str, doc_ids: Iterable[str]) -> dict[str, Doc]:
        """Documents of any kind by id, those that exist."""
        async with self.store.read() as tx:
            return await tx.get_many(account_id, doc_ids)

    async def view(self, kind: Kind, account_id: str, doc_id: str) -> tuple[Doc, str]:
        """A document as clients see it, and its revision.

        Readers of one revision share one view, made once: a GET of an unchanged document decodes nothing.
        Callers must not change the view.
        """
        row = await self.store.find_row(account_id, doc_id)
        if row is None:
            raise Missing(doc_id)
        key = (account_id, doc_id)
        hit = self._views.get(key)
        if hit is None or hit[0] != row.rev:
            doc = load_row(row)
            hit = (row.rev, doc.get("pvt_type"), public(doc))
            if len(self._views) >= self.VIEWS:
                self._views.clear()
            self._views[key] = hit
        if hit[1] != kind.type:
            raise Missing(doc_id)
        return hit[2], hit[0]

    async def create(self, kind: Kind, account_id: str, data: Any, doc_id: str | None = None) -> Doc:
        doc = checked(kind, client_fields(data))
        doc.update(_id=doc_id or kind.fixed_id or new_id(), pvt_type=kind.type, pvt_account_id=account_id, pvt_vsn="1")
        async with self.store.write() as tx:
            if kind.fixed_id and await tx.find(account_id, kind.fixed_id):
                raise Conflicting({"message": f"{kind.name} already exists"})
            return await save_checked(tx, kind, account_id, doc, None)

    async def replace(self, kind: Kind, account_id: str, doc_id: str, data: Any, rev: str | None = None) -> Doc:
        return await self._update(kind, account_id, doc_id, lambda old: client_fields(data), rev)

    async def patch(self, kind: Kind, account_id: str, doc_id: str, data: Any, rev: str | None = None) -> Doc:
        changes = client_fields(data)
        return await self._update(kind, account_id, doc_id, lambda old: merge_patch(public(old), changes), rev)

    async def _update(self, kind, account_id, doc_id, new_public, rev) -> Doc:
        async with self.store.write() as tx:
            old = await self._load(tx, kind, account_id, doc_id)
            if rev and rev != old["_rev"]:
                raise Conflicting()
            fields = new_public(old)
            fields.pop("id", None)
            doc = checked(kind, fields)
            doc.update(private(old))
            return await save_checked(tx, kind, account_id, doc, old)

    async def delete(self, kind: Kind, account_id: str, doc_id: str, rev: str | None = None) -> Doc:
        async with self.store.write() as tx:
            doc = await self._load(tx, kind, account_id, doc_id)
            if rev and rev != doc["_rev"]:
                raise Conflicting()
            if kind.on_delete:
                await kind.on_delete(tx, account_id, doc)
            try:
                return await tx.soft_delete(doc)
            except Conflict as exc:  # changed since we loaded it (PostgreSQL runs writers side by side)
                raise Conflicting() from exc

    async def list(self, kind: Kind, account_id: str, start: str | None = None, limit: int | None = None) -> list[Doc]:
        async with self.store.read() as tx:
            return await tx.list(account_id, kind.type, start=start, limit=limit)

    @staticmethod
    async def _load(tx: Tx, kind: Kind, account_id: str, doc_id: str) -> Doc:
        doc = await tx.find(account_id, doc_id)
        if doc is None or doc.get("pvt_type") != kind.type:
            raise Missing(doc_id)
        return doc


def row(kind: Kind, doc: Doc) -> Doc:
    """A listing row: the kind's summary fields (or the public document) plus computed ones."""
    view = public(doc)
    if kind.summary:
        view = {k: view[k] for k in kind.summary if k in view}
    if kind.computed:
        view.update(kind.computed(doc))
    return view
