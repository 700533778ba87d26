"""System configuration documents (`crossbar`, `number_manager`, ...), the last step of every inheritance chain."""

from __future__ import annotations

import time
from typing import Any

from cloudpbx.errors import Conflicting, Invalid, Missing
from cloudpbx.numbers import classifiers
from cloudpbx.store import SYSTEM, Conflict, Doc, Store, is_name, load_row
from cloudpbx.store.ids import NAME_CHARS, NAME_MAX

TYPE = "system_config"


def check_name(category: str) -> None:
    """Categories are document ids and go back in `Location`: they must fit the id grammar."""
    if not is_name(category):
        raise Invalid.field(
            "id",
            "pattern",
            f"Names are 1 to {NAME_MAX} of the characters {NAME_CHARS}",
            target=f"^[{NAME_CHARS}]{{1,{NAME_MAX}}}$",
            value=category,
        )


def setting(doc: Doc | None, key: str, default: Any = None) -> Any:
    """A dotted key of a config document, under its `default` section when it has one."""
    node: Any = (doc or {}).get("default", doc or {})
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


class SystemConfigs:
    TTL_S = 5.0
    KEPT = 1024  # categories cached at most

    def __init__(self, store: Store):
        self.store = store
        self._cache: dict[str, tuple[float, Doc | None]] = {}
        self._current: dict[str, tuple[str, Doc | None]] = {}  # category → (revision, document)

    async def get(self, category: str) -> Doc | None:
        hit = self._cache.get(category)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        doc = await self.store.find(SYSTEM, category)
        if doc is not None and doc.get("pvt_type") != TYPE:
            doc = None
        if len(self._cache) >= self.KEPT:  # account admins name categories too (account configs)
            self._cache.clear()
        self._cache[category] = (time.monotonic() + self.TTL_S, doc)
        return doc

    async def value(self, category: str, key: str, default: Any = None) -> Any:
        return setting(await self.get(category), key, default)

    async def current(self, category: str) -> Doc | None:
        """The category as stored now, for settings a change must reach at once in every process sharing the
        database: one point read, decoded once per revision (readers share the document and must not change it)."""
        row = await self.store.find_row(SYSTEM, category)
        if row is None:
            return None
        hit = self._current.get(category)
        if hit is None or hit[0] != row.rev:
            if len(self._current) >= self.KEPT:
                self._current.clear()
            doc = load_row(row)
            hit = self._current[category] = (row.rev, doc if doc.get("pvt_type") == TYPE else None)
        return hit[1]

    async def put(self, category: str, body: Doc, *, exists: bool | None = None) -> Doc:
        """Create or replace a category; `exists` True means it must be there already, False that it must not."""
        check_name(category)
        errors = classifiers.config_errors(body) if category == "number_manager" else {}
        if errors:
            raise Invalid(errors)
        async with self.store.write() as tx:
            old = await tx.find(SYSTEM, category)
            if old is not None and old.get("pvt_type") != TYPE:
                raise Conflicting({"message": f"{category} names another kind of system document"})
            if exists is True and old is None:
                raise Missing(category)
            if exists is False and old is not None:
                raise Conflicting({"message": f"system config {category} already exists"})
            doc = {k: v for k, v in body.items() if not k.startswith(("_", "pvt_")) and k != "id"}
            doc.update(_id=category, pvt_type=TYPE, pvt_account_id=SYSTEM)
            if old is not None:
                doc["_rev"] = old["_rev"]
                doc["pvt_created"] = old["pvt_created"]
            try:
                saved = await tx.save(doc)
            except Conflict as exc:
                raise Conflicting() from exc
        self._cache.pop(category, None)
        return saved

    async def delete(self, category: str) -> Doc:
        async with self.store.write() as tx:
            doc = await tx.find(SYSTEM, category)
            if doc is None or doc.get("pvt_type") != TYPE:
                raise Missing(category)
            await tx.purge(SYSTEM, category)
        self._cache.pop(category, None)
        return doc

    async def list(self) -> list[str]:
        async with self.store.read() as tx:
            return [doc["_id"] for doc in await tx.list(SYSTEM, TYPE)]
