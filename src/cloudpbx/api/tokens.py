"""Signed JWT auth tokens: issue, verify, revoke one, or flush them all by rotating the key."""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt

from cloudpbx.accounts.auth_keys import AuthKeys

ISSUER = "cloudpbx"


class Tokens:
    """The signing key and the revoked token ids are re-read every few seconds so other nodes' changes apply."""

    REFRESH_S = 5.0

    def __init__(self, keys: AuthKeys, expiry_s: int):
        self.keys = keys
        self.expiry_s = expiry_s
        self._key = ""
        self._revoked: set[str] = set()
        self._loaded_at = 0.0
        self._verified: dict[str, dict[str, Any]] = {}  # token -> claims: checking a signature costs ~100 us

    async def _refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < self.REFRESH_S:
            return
        key, self._revoked = await self.keys.load()
        if key != self._key:
            self._verified.clear()
        self._key = key
        self._loaded_at = time.monotonic()

    async def issue(self, account_id: str, owner_id: str | None, method: str, **extra: Any) -> str:
        await self._refresh()
        now = int(time.time())
        claims = {
            "account_id": account_id,
            "method": method,
            "iat": now,
            "exp": now + self.expiry_s,
            "iss": ISSUER,
            "jti": secrets.token_hex(16),
            **extra,
        }
        if owner_id:
            claims["owner_id"] = owner_id
        return jwt.encode(claims, self._key, algorithm="HS256")

    async def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a valid, unexpired, unrevoked token; None otherwise."""
        if time.monotonic() - self._loaded_at >= self.REFRESH_S:  # checked here too: most calls need no refresh
            await self._refresh()
        claims = self._verified.get(token)
        if claims is None:
            try:
                claims = jwt.decode(
                    token,
                    self._key,
                    algorithms=["HS256"],
                    issuer=ISSUER,
                    options={"require": ["exp", "account_id", "jti"]},
                )
            except jwt.PyJWTError:
                return None
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[token] = claims
        if claims["exp"] <= time.time() or claims["jti"] in self._revoked:
            return None
        return dict(claims)

    async def revoke(self, claims: dict[str, Any]) -> None:
        await self.keys.revoke(claims["jti"], claims["exp"])
        await self._refresh(force=True)

    async def flush(self) -> None:
        """Invalidate every token issued so far."""
        await self.keys.flush()
        await self._refresh(force=True)
