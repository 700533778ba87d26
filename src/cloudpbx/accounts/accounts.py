"""Accounts: creation under a parent, realm and name rules, delete, move, API keys and resellers."""

from __future__ import annotations

import secrets

from cloudpbx.accounts import patterns, tree
from cloudpbx.accounts.callflows import NO_MATCH
from cloudpbx.accounts.documents import (
    Kind,
    UniqueField,
    checked,
    client_fields,
    merge_patch,
    private,
    public,
    save_checked,
)
from cloudpbx.accounts.kinds import CALLFLOW
from cloudpbx.accounts.tree import AccountDirectory, AccountNode
from cloudpbx.errors import Forbidden, HasDescendants, Missing
from cloudpbx.numbers.registry import release_numbers
from cloudpbx.store import Doc, Store, keys, new_id

CLIENT_DROPPED = ("wnm_allow_additions", "superduper_admin", "billing_mode", "is_reseller", "reseller_id", "created")


def _keys(account_id: str, doc: Doc) -> list[keys.Key]:
    name = keys.account_name(doc["name"])
    return [keys.realm(doc["realm"]), keys.api_key(doc["pvt_api_key"])] + ([name] if name[1] else [])


ACCOUNT = Kind(
    name="accounts",
    type="account",
    keys=_keys,
    unique={
        keys.REALM: UniqueField("realm", "Account realm already in use"),
        keys.ACCOUNT_NAME: UniqueField("name", "Account name already in use"),
    },
)


def leak(doc: Doc, node: AccountNode, reseller_id: str) -> Doc:
    """The account as Crossbar shows it: public fields plus the few private values clients read."""
    out = public(doc)
    out.update(
        enabled=doc.get("pvt_enabled", True),
        superduper_admin=doc.get("pvt_superduper_admin", False),
        wnm_allow_additions=doc.get("pvt_wnm_allow_additions", False),
        billing_mode=doc.get("pvt_billing_mode", "manual"),
        created=doc.get("pvt_created"),
        is_reseller=node.reseller,
        reseller_id=reseller_id,
    )
    return out


def metadata(view: Doc) -> Doc:
    """Envelope `metadata` that Monster UI merges into the account."""
    keys = (
        "billing_mode",
        "enabled",
        "superduper_admin",
        "wnm_allow_additions",
        "created",
        "is_reseller",
        "reseller_id",
    )
    return {k: view[k] for k in keys if k in view}


def offnet_callflow(account_id: str) -> Doc:
    """The `no_match` callflow every new account gets, sending numbers it does not route to the global carriers
    (KAZOO operators create it by hand for each account; here a new account can call out as soon as a carrier
    exists). The account may replace or delete it; clients hide it with `filter_not_numbers=no_match`."""
    doc = checked(
        CALLFLOW, {"name": "Offnet (no match)", "numbers": [NO_MATCH], "flow": {"module": "offnet", "data": {}}}
    )
    doc.update(_id=new_id(), pvt_type=CALLFLOW.type, pvt_account_id=account_id, pvt_vsn="1")
    return doc


class Accounts:
    def __init__(self, store: Store, directory: AccountDirectory, realm_suffix: str):
        self.store = store
        self.directory = directory
        self.realm_suffix = realm_suffix

    async def get(self, account_id: str) -> Doc:
        doc = await self.store.find(account_id, account_id)
        if doc is None or doc.get("pvt_type") != "account":
            raise Missing(account_id)
        return doc

    async def chain(self, account_id: str) -> list[Doc]:
        """The account's document, then its ancestors' nearest first: the documents settings are inherited
        through."""
        row = await self.store.account_row(account_id)
        ids = list(reversed(row.path.split("/"))) if row else [account_id]
        docs = [await self.store.find(ident, ident) for ident in ids]
        return [doc for doc in docs if doc]

    async def view(self, account_id: str) -> Doc:
        doc = await self.get(account_id)
        async with self.store.read() as tx:
            node = await tree.node(tx, account_id)
            if node is None:  # deleted since it was read
                raise Missing(account_id)
            return leak(doc, node, await tree.reseller_id(tx, node))

    def _prepare(self, data: dict, may_enable: bool) -> Doc:
        fields = {k: v for k, v in client_fields(data).items() if k not in CLIENT_DROPPED}
        if isinstance(fields.get("realm"), str):
            fields["realm"] = fields["realm"].replace(" ", "")
        if not may_enable:
            fields.pop("enabled", None)
        doc = checked(ACCOUNT, fields)
        patterns.check_document(doc)
        return doc

    async def create(self, parent_id: str | None, data: dict, *, superduper: bool = False) -> Doc:
        """A new account below `parent_id` (None only for the master account)."""
        doc = self._prepare(data, may_enable=True)
        doc.setdefault("realm", f"{secrets.token_hex(3)}.{self.realm_suffix}")
        doc.setdefault("timezone", "America/Los_Angeles")
        account_id = new_id()
        async with self.store.write() as tx:
            parent = await tree.node(tx, parent_id) if parent_id else None
            if parent_id and parent is None:
                raise Missing(parent_id)
            ancestors = list(parent.tree) + [parent.id] if parent else []
            doc.update(
                _id=account_id,
                pvt_type="account",
                pvt_account_id=account_id,
                pvt_vsn="1",
                pvt_tree=ancestors,
                pvt_api_key=secrets.token_hex(32),
                pvt_enabled=doc.get("enabled", True) and (parent.enabled if parent else True),
                pvt_superduper_admin=superduper,
            )
            doc["enabled"] = doc["pvt_enabled"]
            await save_checked(tx, ACCOUNT, account_id, doc, None)
            await tx.put_account_row(
                account_id,
                parent_id=parent_id,
                path="/".join(ancestors + [account_id]),
                name=doc["name"],
                realm=doc["realm"].lower(),
                enabled=doc["pvt_enabled"],
                superduper=superduper,
                reseller=False,
            )
            await save_checked(tx, CALLFLOW, account_id, offnet_callflow(account_id), None)
        return doc

    async def update(self, account_id: str, data: dict, *, patch: bool, may_enable: bool) -> Doc:
        async with self.store.write() as tx:
            old = await tx.find(account_id, account_id)
            if old is None:
                raise Missing(account_id)
            changes = client_fields(data)
            fields = merge_patch(public(old), changes) if patch else changes
            for key in ("id", "enabled"):
                fields.pop(key, None)
            if may_enable and "enabled" in changes:
                fields["enabled"] = changes["enabled"]
            doc = self._prepare(fields, may_enable)
            doc.setdefault("realm", old["realm"])
            doc.update(private(old))
            if may_enable and "enabled" in changes and isinstance(changes["enabled"], bool):
                doc["pvt_enabled"] = changes["enabled"]
            doc["enabled"] = doc.get("pvt_enabled", True)
            await save_checked(tx, ACCOUNT, account_id, doc, old)
            await tx.put_account_row(
                account_id, name=doc["name"], realm=doc["realm"].lower(), enabled=doc["pvt_enabled"]
            )
        self.directory.forget(account_id)
        return doc

    async def delete(self, account_id: str) -> Doc:
        """Delete an account for good, once it has no sub-accounts; its numbers go back to the pool."""
        async with self.store.write() as tx:
            node = await tree.node(tx, account_id)
            if node is None:
                raise Missing(account_id)
            if not node.tree:
                raise Forbidden({"message": "the master account cannot be deleted"})
            if await tree.children(tx, account_id):
                raise HasDescendants({"message": "account has descendants"})
            doc = await tx.get(account_id, account_id)
            await release_numbers(tx, account_id)
            await tx.delete_account_rows(account_id)
        self.directory.forget(account_id)
        return doc

    async def move(self, account_id: str, to_id: str) -> Doc:
        """Re-parent an account; every descendant's tree is rewritten in the same transaction."""
        async with self.store.write() as tx:
            node = await tree.node(tx, account_id)
            dest = await tree.node(tx, to_id)
            if node is None:
                raise Missing(account_id)
            if dest is None:
                raise Missing(to_id)
            if not node.tree:
                raise Forbidden({"message": "the master account cannot be moved"})
            if dest.is_within(account_id):
                raise Forbidden({"message": "cannot move an account into its own subtree"})
            new_prefix = list(dest.tree) + [dest.id]
            old_prefix_len = len(node.tree)
            moved = [node] + await tree.descendants(tx, node)
            for each in moved:
                new_tree = new_prefix + list(each.tree[old_prefix_len:])
                doc = await tx.get(each.id, each.id)
                doc["pvt_previous_tree"] = doc.get("pvt_tree", [])
                doc["pvt_tree"] = new_tree
                await tx.save(doc)
                await tx.put_account_row(
                    each.id,
                    path="/".join(new_tree + [each.id]),
                    parent_id=dest.id if each.id == account_id else each.parent_id,
                )
            result = await tx.get(account_id, account_id)
        self.directory.forget()
        return result

    async def regenerate_api_key(self, account_id: str) -> str:
        async with self.store.write() as tx:
            doc = await tx.get(account_id, account_id)
            doc["pvt_api_key"] = secrets.token_hex(32)
            await tx.save(doc, _keys(account_id, doc))
            return doc["pvt_api_key"]

    async def set_reseller(self, account_id: str, reseller: bool) -> Doc:
        async with self.store.write() as tx:
            node = await tree.node(tx, account_id)
            if node is None:
                raise Missing(account_id)
            if not node.tree:
                raise Forbidden({"message": "the master account cannot be a reseller"})
            if reseller and any(d.reseller for d in await tree.descendants(tx, node)):
                raise HasDescendants({"message": "a descendant is already a reseller"})
            doc = await tx.get(account_id, account_id)
            doc["pvt_reseller"] = reseller
            await tx.save(doc)
            await tx.put_account_row(account_id, reseller=reseller)
        self.directory.forget(account_id)
        return doc

    async def allow_number_additions(self, account_id: str, allowed: bool) -> Doc:
        """Whether the account may add numbers that are not in the pool (`pvt_wnm_allow_additions`)."""
        async with self.store.write() as tx:
            doc = await tx.find(account_id, account_id)
            if doc is None or doc.get("pvt_type") != "account":
                raise Missing(account_id)
            doc["pvt_wnm_allow_additions"] = allowed
            return await tx.save(doc)

    async def find_by_api_key(self, api_key: str) -> str | None:
        hit = await self.store.lookup(*keys.api_key(api_key))
        return hit[0] if hit else None

    async def find_by_realm(self, realm: str) -> str | None:
        hit = await self.store.lookup(*keys.realm(realm))
        return hit[0] if hit else None

    async def find_by_name(self, name: str) -> str | None:
        hit = await self.store.lookup(*keys.account_name(name))
        return hit[0] if hit else None

    async def master_id(self) -> str | None:
        async with self.store.read() as tx:
            roots = await tx.child_rows(None)
        return roots[0].account_id if roots else None
