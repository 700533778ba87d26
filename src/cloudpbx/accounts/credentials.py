"""User credentials: KAZOO's md5/sha1 login hashes, stored only after a further salted scrypt."""

from __future__ import annotations

import asyncio
import hashlib

SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def login_hashes(username: str, password: str) -> dict[str, str]:
    """What a client sends as `credentials`: md5 and sha1 hex of `lower(username):password`."""
    text = f"{username.lower()}:{password}".encode()
    return {"md5": hashlib.md5(text).hexdigest(), "sha": hashlib.sha1(text).hexdigest()}


def _seal(credentials: str, account_id: str) -> str:
    salt = f"cloudpbx:{account_id}".encode()
    return hashlib.scrypt(credentials.lower().encode(), salt=salt, maxmem=64 * 1024 * 1024, **SCRYPT).hex()


async def seal(credentials: str, account_id: str) -> str:
    """The stored form of a login hash: deterministic per account so it can be looked up, costly to reverse."""
    return await asyncio.to_thread(_seal, credentials, account_id)


async def apply_password(user: dict, account_id: str, password: str) -> None:
    """Store the sealed login hashes of `password` on the user document (which has its username set)."""
    hashes = login_hashes(user["username"], password)
    user["pvt_md5_auth"] = await seal(hashes["md5"], account_id)
    user["pvt_sha1_auth"] = await seal(hashes["sha"], account_id)
