"""The account tree: who is whose ancestor, cached briefly because every API request and call asks."""

from __future__ import annotations

import time
from dataclasses import dataclass

from cloudpbx.store import Store, Tx


@dataclass(frozen=True)
class AccountNode:
    id: str
    parent_id: str | None
    tree: tuple[str, ...]  # ancestors, root first
    name: str
    realm: str
    enabled: bool
    superduper: bool
    reseller: bool

    @classmethod
    def from_row(cls, row) -> AccountNode:
        ids = tuple(row.path.split("/"))
        return cls(
            row.account_id, row.parent_id, ids[:-1], row.name, row.realm, row.enabled, row.superduper, row.reseller
        )

    @property
    def path(self) -> str:
        return "/".join(self.tree + (self.id,))

    def is_within(self, ancestor_id: str) -> bool:
        """True for the account itself and its descendants."""
        return ancestor_id == self.id or ancestor_id in self.tree


class AccountDirectory:
    """Reads account nodes through a short-lived cache; writers call `forget` after changing the tree."""

    TTL_S = 2.0

    def __init__(self, store: Store):
        self.store = store
        self._cache: dict[str, tuple[float, AccountNode | None]] = {}

    async def get(self, account_id: str) -> AccountNode | None:
        hit = self._cache.get(account_id)
        now = time.monotonic()
        if hit and hit[0] > now:
            return hit[1]
        row = await self.store.account_row(account_id)
        node = AccountNode.from_row(row) if row else None
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[account_id] = (now + self.TTL_S, node)
        return node

    async def fresh(self, account_id: str) -> AccountNode | None:
        """The node as stored now, past the cache (for answers that must see a change made a moment ago)."""
        row = await self.store.account_row(account_id)
        return AccountNode.from_row(row) if row else None

    async def descendants(self, account: AccountNode) -> list[AccountNode]:
        async with self.store.read() as tx:
            return await descendants(tx, account)

    async def children(self, account_id: str) -> list[AccountNode]:
        async with self.store.read() as tx:
            return await children(tx, account_id)

    async def ancestors(self, account: AccountNode) -> list[AccountNode]:
        """Root first."""
        async with self.store.read() as tx:
            return await ancestors(tx, account)

    async def reseller_id(self, account: AccountNode) -> str:
        async with self.store.read() as tx:
            return await reseller_id(tx, account)

    def forget(self, *account_ids: str) -> None:
        if not account_ids:
            self._cache.clear()
        for account_id in account_ids:
            self._cache.pop(account_id, None)


async def node(tx: Tx, account_id: str) -> AccountNode | None:
    row = await tx.account_row(account_id)
    return AccountNode.from_row(row) if row else None


async def descendants(tx: Tx, account: AccountNode) -> list[AccountNode]:
    return [AccountNode.from_row(r) for r in await tx.account_rows_under(account.path)]


async def children(tx: Tx, account_id: str) -> list[AccountNode]:
    return [AccountNode.from_row(r) for r in await tx.child_rows(account_id)]


async def ancestors(tx: Tx, account: AccountNode) -> list[AccountNode]:
    nodes = []
    for ancestor_id in account.tree:
        found = await node(tx, ancestor_id)
        if found:
            nodes.append(found)
    return nodes


async def reseller_id(tx: Tx, account: AccountNode) -> str:
    """The closest reseller above the account, else the master (root) account."""
    for ancestor in reversed(await ancestors(tx, account)):
        if ancestor.reseller:
            return ancestor.id
    return account.tree[0] if account.tree else account.id
