"""First start: the master (superduper) account and its admin user, created once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cloudpbx.accounts.kinds import USER
from cloudpbx.platform import Platform


@dataclass
class Created:
    account_id: str
    account_name: str
    realm: str
    username: str
    password: str
    api_key: str


async def create_account_with_admin(
    platform: Platform, parent_id: str | None, name: str, realm: str | None, username: str, password: str
) -> Created:
    """An account plus an admin user who can log in to it (the master account when `parent_id` is None)."""
    data = {"name": name} | ({"realm": realm} if realm else {})
    account = await platform.accounts.create(parent_id, data, superduper=parent_id is None)
    await platform.documents.create(
        USER,
        account["_id"],
        {
            "first_name": "Account",
            "last_name": "Admin",
            "username": username,
            "password": password,
            "priv_level": "admin",
        },
    )
    return Created(account["_id"], account["name"], account["realm"], username, password, account["pvt_api_key"])


async def ensure_master(platform: Platform, password: str | None = None) -> Created | None:
    """Create the master account on first start; None when one exists already."""
    if await platform.accounts.master_id() is not None:
        return None
    return await create_account_with_admin(
        platform, None, "Master Account", None, "admin", password or secrets.token_urlsafe(12)
    )
