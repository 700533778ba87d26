"""Who a token's owner is (enabled? admin?), cached briefly because every authenticated request asks."""

from __future__ import annotations

import time

from cloudpbx.accounts.documents import Documents, enabled
from cloudpbx.accounts.kinds import USER


class Owners:
    """`priv_level` of enabled users, None for missing or disabled ones.

    Entries live TTL_S seconds, so a user disabled on another node loses access within that time;
    this node's writes call `forget` so its own changes apply at once.
    """

    TTL_S = 2.0

    def __init__(self, documents: Documents):
        self.documents = documents
        self._cache: dict[tuple[str, str], tuple[float, str | None]] = {}

    async def priv_level(self, account_id: str, owner_id: str) -> str | None:
        now = time.monotonic()
        hit = self._cache.get((account_id, owner_id))
        if hit and hit[0] > now:
            return hit[1]
        user = await self.documents.find(USER, account_id, owner_id)
        priv = user.get("priv_level", "user") if user is not None and enabled(user) else None
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[(account_id, owner_id)] = (now + self.TTL_S, priv)
        return priv

    def forget(self) -> None:
        self._cache.clear()
