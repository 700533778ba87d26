"""The API's token signing key and revoked token ids, one document in the system partition shared by every
process: a revocation or a flush made through one is seen by all at their next read."""

from __future__ import annotations

import secrets
import time

from cloudpbx.store import SYSTEM, Doc, Store, gregorian_now

KEY_DOC = "crossbar_auth"


def _fresh() -> Doc:
    return {
        "_id": KEY_DOC,
        "pvt_type": "auth_keys",
        "pvt_account_id": SYSTEM,
        "pvt_signing_key": secrets.token_hex(32),
        "pvt_revoked": {},
    }


class AuthKeys:
    def __init__(self, store: Store):
        self.store = store

    async def load(self) -> tuple[str, set[str]]:
        """The signing key and the ids of revoked tokens not yet expired; the first caller creates the key."""
        doc = await self.store.find(SYSTEM, KEY_DOC)  # a read: no write lock on the request path
        if doc is None:
            async with self.store.write() as tx:
                doc = await tx.find(SYSTEM, KEY_DOC) or await tx.save(_fresh())
        now = int(time.time())
        return doc["pvt_signing_key"], {jti for jti, exp in doc.get("pvt_revoked", {}).items() if exp > now}

    async def revoke(self, jti: str, expires: int) -> None:
        """Refuse one token until it expires (expired entries are dropped as others are added)."""
        async with self.store.write() as tx:
            doc = await tx.get(SYSTEM, KEY_DOC)
            now = int(time.time())
            revoked = {held: exp for held, exp in doc.get("pvt_revoked", {}).items() if exp > now}
            revoked[jti] = expires
            doc["pvt_revoked"] = revoked
            await tx.save(doc)

    async def flush(self) -> None:
        """A new signing key: every token issued so far stops verifying."""
        async with self.store.write() as tx:
            doc = await tx.find(SYSTEM, KEY_DOC) or {"_id": KEY_DOC, "pvt_type": "auth_keys", "pvt_account_id": SYSTEM}
            doc.update(pvt_signing_key=secrets.token_hex(32), pvt_revoked={}, pvt_flushed=gregorian_now())
            await tx.save(doc)
