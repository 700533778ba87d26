"""Account-level overrides of system config categories (KAZOO's account configs, `configs_{category}` documents).

What a category means for an account is its settings merged, the nearest first: the account's own, then (with
`hierarchy`) each ancestor's up to its reseller, or else just the reseller's; then the system config's `default`
section; then the defaults of the `account_config.{category}` schema. An account stores only what differs from what
it would inherit, so a value equal to the inherited one is not kept, and nothing left means no document.
"""

from __future__ import annotations

import copy
from typing import Any

from cloudpbx import schemas
from cloudpbx.accounts import tree
from cloudpbx.accounts.documents import client_fields
from cloudpbx.accounts.system_configs import SystemConfigs
from cloudpbx.accounts.tree import AccountNode
from cloudpbx.errors import Conflicting, Invalid, Missing
from cloudpbx.store import Conflict, Doc, Store, Tx, is_name
from cloudpbx.store.ids import NAME_CHARS, NAME_MAX

TYPE = "account_config"
PREFIX = "configs_"
# A category is a system config category name; with the prefix it must still be a stored id (the id grammar).
CATEGORY = f"^[{NAME_CHARS}]{{1,{NAME_MAX - len(PREFIX)}}}$"


def doc_id(category: str) -> str:
    return f"{PREFIX}{category}"


def checked_category(category: str) -> str:
    """The category, if its document id fits the id grammar (the router checks it too; the store would refuse)."""
    if not is_name(doc_id(category)):
        raise Missing(category)
    return category


def schema_name(category: str) -> str | None:
    """The schema of what an account may set in the category; None when accounts may not override it."""
    name = f"account_config.{category}"
    return name if name in schemas.names() else None


def deep_merge(base: Any, top: Any) -> Any:
    """`top` over `base`, objects merged key by key."""
    if not isinstance(base, dict) or not isinstance(top, dict):
        return copy.deepcopy(top)
    out = copy.deepcopy(base)
    for key, value in top.items():
        out[key] = deep_merge(base.get(key), value)
    return out


def difference(data: dict, parent: dict) -> dict:
    """What `data` sets that `parent` does not already hold."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(parent.get(key), dict):
            sub = difference(value, parent[key])
            if sub:
                out[key] = sub
        elif key not in parent or parent[key] != value:
            out[key] = value
    return out


def settings_of(doc: Doc | None) -> dict:
    return {k: v for k, v in (doc or {}).items() if not k.startswith(("_", "pvt_")) and k != "id"}


class AccountConfigs:
    def __init__(self, store: Store, system: SystemConfigs):
        self.store = store
        self.system = system

    async def _layers(self, tx: Tx, node: AccountNode, category: str, hierarchy: bool) -> list[dict]:
        """Stored settings of the accounts above `node` it inherits from, nearest first (itself excluded)."""
        reseller = await tree.reseller_id(tx, node)
        if reseller == node.id:
            return []
        above = list(reversed(node.tree))
        ids = above[: above.index(reseller) + 1] if hierarchy and reseller in above else [reseller]
        return [settings_of(await tx.find(account_id, doc_id(category))) for account_id in ids]

    async def _base(self, category: str) -> dict:
        """The system's `default` section over the schema defaults."""
        doc = await self.system.get(category)
        section = doc.get("default", {}) if doc and isinstance(doc.get("default"), dict) else {}
        name = schema_name(category)
        defaults = schemas.fill_defaults({}, schemas.load(name)) if name else {}
        return deep_merge(defaults, section)

    async def _inherited(self, tx: Tx, node: AccountNode, category: str, hierarchy: bool) -> dict:
        merged = await self._base(category)
        for layer in reversed(await self._layers(tx, node, category, hierarchy)):
            merged = deep_merge(merged, layer)
        return merged

    async def own(self, node: AccountNode, category: str) -> Doc | None:
        async with self.store.read() as tx:
            doc = await tx.find(node.id, doc_id(category))
        return doc if doc and doc.get("pvt_type") == TYPE else None

    async def merged(self, node: AccountNode, category: str, hierarchy: bool = False) -> dict:
        """The category as the account sees it."""
        async with self.store.read() as tx:
            inherited = await self._inherited(tx, node, category, hierarchy)
            own = await tx.find(node.id, doc_id(category))
        return deep_merge(inherited, settings_of(own))

    async def inherited(self, node: AccountNode, category: str, hierarchy: bool = False) -> dict:
        """The category as the account would see it without settings of its own."""
        async with self.store.read() as tx:
            return await self._inherited(tx, node, category, hierarchy)

    async def save(
        self,
        node: AccountNode,
        category: str,
        data: Any,
        *,
        patch: bool = False,
        hierarchy: bool = False,
        whole: bool = False,
    ) -> Doc | None:
        """Keep what `data` changes from the inherited settings (PATCH: from the current ones); validated whole.
        With `whole` the account keeps all it sets, even values equal to inherited ones (the security settings).

        Returns the stored document, or None when nothing differs any more (and the document is gone)."""
        name = schema_name(category)
        if name is None:
            raise Invalid.field("id", "enum", f"accounts cannot override {category}", value=category)
        data = client_fields(data)
        async with self.store.write() as tx:
            old = await tx.find(node.id, doc_id(category))
            inherited = await self._inherited(tx, node, category, hierarchy)
            parent = deep_merge(inherited, settings_of(old)) if patch else inherited
            errors = schemas.validate(name, deep_merge(parent, data))[1]
            if errors:
                raise Invalid(errors)
            if whole:
                kept = deep_merge(settings_of(old), data) if patch else data
            else:
                kept = deep_merge(settings_of(old), difference(data, parent)) if patch else difference(data, parent)
                kept = difference(kept, inherited)
            try:
                if not kept:
                    if old is not None:
                        await tx.purge(node.id, doc_id(category))
                    return None
                doc = {**kept, "_id": doc_id(category), "pvt_type": TYPE, "pvt_account_id": node.id}
                if old is not None:
                    doc.update(_rev=old["_rev"], pvt_created=old["pvt_created"])
                return await tx.save(doc)
            except Conflict as exc:
                raise Conflicting() from exc

    async def delete(self, node: AccountNode, category: str) -> Doc | None:
        """Drop the account's own settings; returns what they were (None if it had none)."""
        async with self.store.write() as tx:
            old = await tx.find(node.id, doc_id(category))
            if old is not None:
                await tx.purge(node.id, doc_id(category))
        return old
